"""A bureau's own district from a real clipped OSM extract and a bare retailer list, end to end.

The extract is a real ``osmium extract --strategy simple`` cut of Monaco (ways reference nodes
outside the file) and the retailers are its real shops (tests/data/osm/README.md). Every
command runs as a new user would type it, with no history, orders or schools.
"""

from __future__ import annotations

import json
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
def district(tmp_path_factory) -> Path:
    """`gridmgmt init` on the extract and the shop list: a district folder with derived inputs."""
    folder = tmp_path_factory.mktemp("own") / "monaco"
    output = run("init", str(folder), "--retailers", str(SHOPS), "--network", str(EXTRACT), "--pairs", "4")
    assert "gridmgmt grids build" in output  # it says what to run next
    return folder / "district.toml"


@pytest.fixture(scope="module")
def grids(district: Path) -> Path:
    out = district.parent / "out" / "grids"
    run("grids", "build", "--district", str(district), "--out", str(out))
    return out


def test_validate_says_usable(district: Path) -> None:
    """Only retailers, network and the derived inputs: validate finds them usable."""
    assert "inputs are usable" in run("validate", "--district", str(district))


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
    """Grid map, risk map and a day's plan run with no history, into the district's out/ by default.

    The grid map needs no --district (the plan records it); the scores say why they are static.
    """
    out = district.parent / "out"
    run("grids", "map", "--grids", str(grids))
    run("risk", "map", "--district", str(district), "--date", DAY, "--grids", str(grids))
    risk = pd.read_csv(out / "risk.csv", dtype=str).fillna("")
    no_history = risk[["reason_1_en", "reason_2_en", "reason_3_en"]] == "no history yet (static evidence only)"
    assert no_history.any(axis=1).all()
    run("patrol", "plan", "--district", str(district), "--date", DAY, "--grids", str(grids), "--solution-limit", "50")
    stops = pd.read_csv(out / "patrol" / "stops.csv", dtype=str)
    assert len(stops) > 0
    assert stops["cross_grid_reason"].fillna("").eq("").mean() >= 0.9  # each placeholder pair works its own grid
    for page in ("grid_map.html", "risk_map.html"):
        assert "fitBounds" in (out / page).read_text(encoding="utf-8")  # opens on the data
    assert (out / "store.sqlite").exists()  # results are kept in the district's own store
