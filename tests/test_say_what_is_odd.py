"""The command line says what is odd: grids and pairs that do not match, a day before the pairs, no grids yet.

Also: the district's current grids are used without ``--grids``, ``--out`` always names a folder,
numbers print as numbers and library INFO logs stay out of the default output. A tiny hand-made
district (three shops, no road network) keeps these fast: every check here happens before routing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from gridmgmt._errors import Problem
from gridmgmt.cli import app
from gridmgmt.cli.common import log_level, out_file
from gridmgmt.grids.plan import GridPlan, write_grid_plan
from gridmgmt.ops.district import load_district
from gridmgmt.ops.grids import check_pairs, current_grids, pair_gaps
from gridmgmt.patrol.plan import NoSquadsError, plan_day
from gridmgmt.store import open_store

runner = CliRunner()

RETAILERS = [
    "retailer_id,name,lon,lat,grid_id",
    "R1,一号店,106.7100,26.5848,{g1}",
    "R2,二号店,106.7120,26.5860,{g1}",
    "R3,三号店,106.7050,26.5800,{g2}",
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_district(folder: Path, *, with_grids: bool) -> Path:
    """Three shops and two pairs; ``with_grids``: retailers and staff carry grid ids (as the demo's)."""
    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(geometry=[box(106.65, 26.54, 106.75, 26.64)], crs="EPSG:4326").to_file(
        folder / "boundary.geojson", driver="GeoJSON"
    )
    g1, g2 = ("1", "2") if with_grids else ("", "")
    _write(folder / "retailers.csv", [line.format(g1=g1, g2=g2) for line in RETAILERS])
    _write(folder / "depots.csv", ["depot_id,name,lon,lat", "D1,所,106.70,26.58"])
    _write(
        folder / "staff.csv",
        [
            "staff_id,name,department,grid_id,depot,travel_mode",
            f"M01,甲,marketing,{g1},D1,ebike",
            f"Z01,乙,monopoly,{g1},D1,ebike",
            f"M02,丙,marketing,{g2},D1,ebike",
            f"Z02,丁,monopoly,{g2},D1,ebike",
        ],
    )
    files = ['retailers = "retailers.csv"', 'boundary = "boundary.geojson"', 'depots = "depots.csv"']
    files += ['staff = "staff.csv"', 'network = ""']
    return _write(folder / "district.toml", ['name = "tiny"', "[files]", *files])


def two_grids(*, pairs: bool = True) -> GridPlan:
    """Two grids over the tiny district; with ``pairs``, each with one of its pairs."""
    grids = gpd.GeoDataFrame(
        {"grid_id": [1, 2]},
        geometry=[box(106.70, 26.58, 106.75, 26.64), box(106.65, 26.54, 106.70, 26.58)],
        crs="EPSG:4326",
    )
    if pairs:
        grids["customer_manager"], grids["monopoly_officer"] = ["M01", "M02"], ["Z01", "Z02"]
    assignment = pd.DataFrame({"retailer_id": ["R1", "R2", "R3"], "grid_id": [1, 1, 2]})
    return GridPlan(grids=grids, assignment=assignment)


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# ----------------------------------------------------------------------------- grids and pairs


def staff_of(pairs: int) -> pd.DataFrame:
    rows = []
    for i in range(1, pairs + 1):
        rows += [(f"M{i:02d}", "marketing"), (f"Z{i:02d}", "monopoly")]
    return pd.DataFrame(rows, columns=["staff_id", "department"]).assign(name="x", grid_id=np.nan, depot="D1")


def grid_table(members: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grid_id": range(1, len(members) + 1),
            "customer_manager": [m for m, _ in members],
            "monopoly_officer": [z for _, z in members],
        }
    )


def test_six_grids_for_four_pairs_name_the_grids_without_a_pair() -> None:
    """`grids build --grids 6` with 4 pairs: grids 5 and 6 have nobody, and the warning says so."""
    members = [(f"M{i:02d}", f"Z{i:02d}") for i in range(1, 5)] + [("", ""), ("", "")]
    gaps = pair_gaps(grid_table(members), staff_of(4))
    assert gaps == {"grids_without_pair": [5, 6], "pairs_without_grid": []}
    plan = GridPlan(grids=grid_table(members), assignment=pd.DataFrame(columns=["retailer_id", "grid_id"]))
    lines = check_pairs(plan, staff_of(4))
    assert plan.metrics["grids_without_pair"] == [5, 6]  # into metrics.json with the plan
    assert len(lines) == 1 and "grids 5, 6" in lines[0] and "--grids 4" in lines[0]


def test_three_grids_for_four_pairs_name_the_pair_without_a_grid() -> None:
    members = [(f"M{i:02d}", f"Z{i:02d}") for i in (1, 2, 4)]
    gaps = pair_gaps(grid_table(members), staff_of(4))
    assert gaps == {"grids_without_pair": [], "pairs_without_grid": ["M03+Z03"]}
    lines = check_pairs(GridPlan(grids=grid_table(members), assignment=pd.DataFrame()), staff_of(4))
    assert len(lines) == 1 and "M03+Z03" in lines[0] and "--grids 4" in lines[0]


def test_matched_grids_and_pairs_say_nothing() -> None:
    members = [(f"M{i:02d}", f"Z{i:02d}") for i in (1, 2)]
    assert check_pairs(GridPlan(grids=grid_table(members), assignment=pd.DataFrame()), staff_of(2)) == []


# ----------------------------------------------------------------------------- current grids


def test_current_grids_are_the_newer_of_the_last_build_and_the_stores_grids(tmp_path: Path) -> None:
    toml = tiny_district(tmp_path / "d", with_grids=False)
    store = tmp_path / "d" / "out" / "store.sqlite"
    assert current_grids(toml, store) is None
    assert not store.exists()  # looking does not create a store

    built = write_grid_plan(two_grids(), tmp_path / "d" / "out" / "grids")["gpkg"]
    assert current_grids(toml, store).grids["customer_manager"].tolist() == ["M01", "M02"]

    published = two_grids()
    published.grids["customer_manager"] = ["M02", "M01"]
    with open_store(store, create=True) as shared:
        shared.write_run("grids", {"grids": published.grids, "assignment": published.assignment})
    os.utime(built, (1_000_000_000, 1_000_000_000))  # the build is older than the store's grids
    assert current_grids(toml, store).grids["customer_manager"].tolist() == ["M02", "M01"]
    os.utime(built, None)  # built again after the publish
    assert current_grids(toml, store).grids["customer_manager"].tolist() == ["M01", "M02"]


def test_commands_that_need_grids_say_to_build_them(tmp_path: Path) -> None:
    """A new district (placeholder pairs, no grid ids) has no grids yet: one line saying what to run."""
    toml = str(tiny_district(tmp_path / "d", with_grids=False))
    open_store(tmp_path / "d" / "out" / "store.sqlite", create=True).close()  # as `gridmgmt init` does
    for args in (["patrol", "plan", "--district", toml], ["grids", "map", "--district", toml]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert "no grids yet" in result.output and "gridmgmt grids build --district" in result.output


def test_plan_day_without_grids_says_to_build_grids(tmp_path: Path) -> None:
    """The library's own message, for callers that do not go through the command line."""
    district = load_district(tiny_district(tmp_path / "d", with_grids=False))
    with pytest.raises(NoSquadsError, match="gridmgmt grids build"):
        plan_day(district, "2026-12-01")


# ----------------------------------------------------------------------------- a day before the pairs


def test_a_day_before_the_pairs_says_from_when_they_are_valid(tmp_path: Path) -> None:
    toml = str(tiny_district(tmp_path / "d", with_grids=True))
    store = str(tmp_path / "store.sqlite")
    assert invoke("store", "init", "--district", toml, "--store", store, "--valid-from", "2026-12-05").exit_code == 0
    result = invoke("patrol", "plan", "--district", toml, "--store", store, "--date", "2026-12-01")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "valid from 2026-12-05" in text and "--date 2026-12-05" in text and "store init --valid-from" in text


# ----------------------------------------------------------------------------- --out, numbers, logs


def test_out_is_a_folder_and_a_file_path_still_works(tmp_path: Path) -> None:
    assert out_file(None, tmp_path, "risk_map.html") == tmp_path / "risk_map.html"
    assert out_file(tmp_path / "maps", tmp_path, "risk_map.html") == tmp_path / "maps" / "risk_map.html"
    assert out_file(tmp_path / "old.html", tmp_path, "risk_map.html") == tmp_path / "old.html"  # older form
    folder = tmp_path / "a.csv"
    folder.mkdir()  # a folder that happens to end like a file stays a folder
    assert out_file(folder, tmp_path, "tasks.csv") == folder / "tasks.csv"


def test_numpy_values_print_as_plain_numbers() -> None:
    assert str(Problem("f", "outside", value=np.float64(124.95))) == "f: outside (value: 124.95)"
    assert Problem("f", "m", value=np.int64(3)).value == 3
    assert str(Problem("f", "m", value="x")) == "f: m (value: 'x')"


def test_library_info_logs_only_with_verbose(tmp_path: Path) -> None:
    """A new store runs its migrations: silent by default, one line with -v, Alembic's own lines with -vv."""
    assert log_level(0, False) == logging.WARNING and log_level(1, False) == logging.INFO
    assert log_level(2, False) == logging.DEBUG and log_level(0, True) == logging.ERROR
    toml = str(tiny_district(tmp_path / "d", with_grids=True))
    outputs = {}
    for n, flags in enumerate(((), ("-v",), ("-vv",))):
        store = str(tmp_path / f"store{n}.sqlite")  # a new store each time: its migrations run
        result = invoke(*flags, "store", "init", "--district", toml, "--store", store)
        assert result.exit_code == 0
        outputs[flags] = " ".join(result.output.split())
    assert "INFO" not in outputs[()] and "schema" not in outputs[()]
    assert "schema created" in outputs[("-v",)] and "Running upgrade" not in outputs[("-v",)]
    assert "Running upgrade" in outputs[("-vv",)]
    assert "--verbose" in invoke("--help").output
