"""A bureau's own district from a real clipped OSM extract and a bare retailer list, end to end.

The extract is a real ``osmium extract --strategy simple`` cut of Monaco (ways reference nodes
outside the file) and the retailers are its real shops (tests/data/osm/README.md). Every
command runs as a new user would type it, with no history, orders or schools.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridmgmt.cli import app

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data" / "osm"
EXTRACT = DATA / "monaco_district_clipped.osm.pbf"
SHOPS = DATA / "monaco_district_shops.csv"
DAY = "2026-12-01"  # a Tuesday

runner = CliRunner()


def run(*args: str) -> str:
    """Run one command; it must succeed without a traceback. Returns its output."""
    result = runner.invoke(app, ["-q", *args])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, f"gridmgmt {' '.join(args)}:\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory):
    """The user's cache folder ($XDG_CACHE_HOME) while the district is made and used: it must stay empty."""
    folder = tmp_path_factory.mktemp("xdg_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="module")
def district(tmp_path_factory, user_cache: Path) -> Path:
    """`gridmgmt init` on the extract and the shop list: a district folder with derived inputs."""
    folder = tmp_path_factory.mktemp("own") / "monaco"
    output = run("init", str(folder), "--retailers", str(SHOPS), "--network", str(EXTRACT), "--pairs", "4")
    toml = folder / "district.toml"
    # it says what to run next: the README's walk, no --grids and no --date needed
    for command in ("validate", "grids build", "grids map", "risk map", "patrol plan"):
        assert f"gridmgmt {command} --district {toml}\n" in output
    return toml


@pytest.fixture(scope="module")
def grids(district: Path) -> Path:
    run("grids", "build", "--district", str(district))  # into the district's out/grids, as the README says
    return district.parent / "out" / "grids"


def test_validate_says_usable(district: Path) -> None:
    """Only retailers, network and the derived inputs: validate finds them usable."""
    assert "inputs are usable" in run("validate", "--district", str(district))


def test_extract_cache_in_the_district_folder(district: Path, grids: Path, user_cache: Path) -> None:
    """init, validate and grids build cache the prepared extract in <district>/cache/, never the user's cache."""
    run("validate", "--district", str(district))
    assert list((district.parent / "cache").glob("*.streets.osm"))
    assert [p for p in user_cache.rglob("*") if p.is_file()] == []


def test_grids_on_real_streets_balanced_and_in_one_piece(grids: Path) -> None:
    """On the real extract: internal boundaries on streets, balanced workload, every grid one piece."""
    metrics = json.loads((grids / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["grids"] == 4
    assert metrics["boundary_on_street"] >= 0.85
    assert metrics["max_min_plan"] <= 1.05
    assert metrics["contiguous"] is True
    for key in ("polsby_popper_mean", "polsby_popper_min", "elapsed_s"):
        assert metrics[key] > 0


def test_maps_and_plan_without_history(district: Path, grids: Path) -> None:
    """The README's walk as written: grid map, risk map and today's plan on the current grids, no history.

    No --grids (the district's last build is used) and no --date (today: the first day to plan of a
    district without history); everything goes into the district's out/; the scores say why they are static.
    """
    out = district.parent / "out"
    run("grids", "map", "--district", str(district))
    run("risk", "map", "--district", str(district))
    risk = pd.read_csv(out / "risk" / "risk.csv", dtype=str).fillna("")
    no_history = risk[["reason_1_en", "reason_2_en", "reason_3_en"]] == "no history yet (static evidence only)"
    assert no_history.any(axis=1).all()
    output = run("patrol", "plan", "--district", str(district), "--solution-limit", "50")
    assert f"{date.today().isoformat()}: " in output  # the day planned
    stops = pd.read_csv(out / "patrol" / "stops.csv", dtype=str)
    assert len(stops) > 0
    assert stops["cross_grid_reason"].fillna("").eq("").mean() >= 0.9  # each placeholder pair works its own grid
    for page in ("grid_map.html", "risk_map.html"):
        assert "fitBounds" in (out / page).read_text(encoding="utf-8")  # opens on the data
    assert (out / "store.sqlite").exists()  # results are kept in the district's own store


def test_plan_a_day_before_init(district: Path, grids: Path, tmp_path: Path) -> None:
    """A date before the district was made (the README's old example) plans too: nothing dates the pairs yet."""
    run("patrol", "plan", "--district", str(district), "--date", DAY, "--out", str(tmp_path), "--solution-limit", "5")
    assert len(pd.read_csv(tmp_path / "stops.csv")) > 0


def test_more_grids_than_pairs_is_said(district: Path, tmp_path: Path) -> None:
    """--grids 6 with 4 pairs: the build says which grids have nobody, and metrics.json lists them."""
    output = run("grids", "build", "--district", str(district), "--grids", "6", "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert len(metrics["grids_without_pair"]) == 2 and metrics["pairs_without_grid"] == []
    assert "2 of 6 grids have no full staff pair" in " ".join(output.split())
