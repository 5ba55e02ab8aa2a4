"""Never an abort (issue 20): a real extract's day planned 30 times, and a native abort of a search contained.

The district is made as a new user makes one, from the real clipped Monaco extract and its real
shops (tests/data/osm/README.md): ``init`` with 4 pairs, two of them walking (so a day has two
route searches: walk, then e-bike), then ``grids build``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridmgmt.cli import app
from gridmgmt.grids.plan import load_grids
from gridmgmt.ops.district import load_district
from gridmgmt.patrol._ortools import FAULT_ABORT_ENV
from gridmgmt.patrol.plan import check_plan, plan_day
from gridmgmt.store import open_store

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data" / "osm"
EXTRACT = DATA / "monaco_district_clipped.osm.pbf"
SHOPS = DATA / "monaco_district_shops.csv"
#: The pairs made by ``init`` start on the day of init: plan the day after.
DAY = (date.today() + timedelta(days=1)).isoformat()

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, f"gridmgmt {' '.join(args)}:\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    """A district from the extract: 4 pairs (2 walking, 2 on e-bikes) and its grids in out/grids."""
    folder = tmp_path_factory.mktemp("never_abort") / "monaco"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))
        run("init", str(folder), "--retailers", str(SHOPS), "--network", str(EXTRACT), "--pairs", "4")
        staff = pd.read_csv(folder / "staff.csv", encoding="utf-8-sig")
        staff["travel_mode"] = ["walk", "walk", "ebike", "ebike"] * 2
        staff.to_csv(folder / "staff.csv", index=False)
        run("grids", "build", "--district", str(folder / "district.toml"))
    return folder / "district.toml"


def test_thirty_day_plans_without_an_abort(district: Path) -> None:
    """30 plans of the day (seeds, solution limits, a few short time limits): no search dies, every plan is valid."""
    d = load_district(district)
    grids = load_grids(district.parent / "out" / "grids" / "grids.gpkg")
    outcomes = []
    for k in range(30):
        limits = {"solution_limit": (4, 8, 16, 32)[k % 4], "time_limit_s": None} if k < 25 else {"time_limit_s": 1.0}
        plan = plan_day(d, DAY, grids=grids, seed=k, geometry=False, **limits)
        outcomes.append((k, tuple(plan.stops["retailer_id"]), [str(f) for f in plan.failures], check_plan(plan)))
    assert [o for o in outcomes if o[2] or o[3] or not o[1]] == []
    assert len({o[1] for o in outcomes}) > 1  # the limits really changed the routes


def test_abort_in_a_search_is_one_line_and_the_other_squads_are_written(
    district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search of G01's travel mode aborts (SIGABRT, as on OR-Tools' failed check): one error line naming
    its squads and a log file; the other mode's routes are written and the lost visits say why."""
    monkeypatch.setenv(FAULT_ABORT_ENV, "G01")
    out = tmp_path / "patrol"
    grids = district.parent / "out" / "grids" / "grids.gpkg"
    args = ["patrol", "plan", "--district", str(district), "--grids", str(grids), "--date", DAY]
    args += ["--solution-limit", "8", "--out", str(out), "--store", str(tmp_path / "store.sqlite")]
    open_store(tmp_path / "store.sqlite", create=True).close()  # as `store init` would
    result = runner.invoke(app, ["-q", *args])

    text = " ".join(result.output.split())  # the console wraps the line at its width
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and text.count("error:") == 1
    line = re.search(
        r"error: patrol plan failed: SolverCrashError: the OR-Tools search process of ([G0-9, ]+) was killed by "
        r"SIGABRT \(signal 6\): these squads have no routes today \(see unplanned.csv\); the other squads were "
        r"planned \(details in (\S+\.log)\)",
        text,
    )
    assert line, text
    crashed = set(line[1].split(", "))
    assert "G01" in crashed
    assert f"{FAULT_ABORT_ENV}=G01: aborting" in Path(line[2]).read_text(encoding="utf-8")

    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    walk_or_ebike = summary.set_index("squad_id")["travel_mode"]
    assert crashed == set(walk_or_ebike.index[walk_or_ebike == walk_or_ebike["G01"]])
    stops = pd.read_csv(out / "stops.csv", encoding="utf-8-sig")
    assert set(stops["squad_id"]) == set(summary["squad_id"]) - crashed
    unplanned = pd.read_csv(out / "unplanned.csv", encoding="utf-8-sig")
    assert unplanned["reason"].str.startswith("not planned: the OR-Tools search process of").any()
