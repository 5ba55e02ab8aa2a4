"""End to end on the demo: a marketing report becomes a task, a planned visit, a violation, a closed task,
a higher score and a stronger hotspot; once through the Python API and once through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridmgmt.cli import app
from gridmgmt.ops.district import load_district
from gridmgmt.ops.events import add_events
from gridmgmt.ops.loop import district_tasks
from gridmgmt.ops.patrol import plan_patrol
from gridmgmt.risk.district_risk import risk_hotspots, score_risk
from gridmgmt.store import open_store

DISTRICT = Path(__file__).resolve().parents[1] / "data" / "demo" / "district.toml"
REPORT_TIME = "2026-11-30T16:00"
PLAN_DAY = "2026-12-01"
NEXT_DAY = "2026-12-02"

pytestmark = pytest.mark.slow


def _quiet_retailer(district) -> str:
    """A grocery near the bureau office, open all day, with no violation in the last year and no open task."""
    r = district.retailers
    depot = district.depots.set_index("depot_id").loc["D1"]
    near = np.hypot((r["lon"] - depot["lon"]) * 99_600, (r["lat"] - depot["lat"]) * 111_000) < 1500
    open_all_day = (r["open_time"] <= "08:30") & (r["close_time"].isin(["21:00", "22:00", "23:00", "24:00"]))
    events = district.events
    recent = events.loc[pd.to_datetime(events["time"]) >= pd.Timestamp("2025-12-01")]
    busy = set(
        recent.loc[recent["type"].isin(["violation", "tip_off", "complaint", "marketing_report"]), "retailer_id"]
    )
    pool = r.loc[near & open_all_day & (r["business_type"] == "grocery") & ~r["retailer_id"].isin(busy)]
    return str(pool.sort_values("retailer_id")["retailer_id"].iloc[0])


def _violation_found(retailer: str, when: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "event_id": "",
                "retailer_id": retailer,
                "time": when,
                "type": "inspection",
                "department": "monopoly",
                "outcome": "violation",
                "severity": "serious",
                "note": "联合检查发现假烟 counterfeit found",
                "corrects": "",
            }
        ]
    )


def test_marketing_report_to_violation_through_the_api(tmp_path) -> None:
    """Report -> task -> planned visit before the deadline -> violation -> task closed, score up, hotspot up."""
    store = tmp_path / "store.sqlite"
    open_store(store, create=True).close()  # as `store init` would; the first add loads the district
    district = load_district(DISTRICT)
    retailer = _quiet_retailer(district)
    report = pd.DataFrame(
        [
            {
                "event_id": "",
                "retailer_id": retailer,
                "time": REPORT_TIME,
                "type": "marketing_report",
                "department": "marketing",
                "note": "订货量异常 order spike",
                "corrects": "",
            }
        ]
    )
    add_events(DISTRICT, store, report.to_dict("records"), file="report")

    tasks = district_tasks(DISTRICT, store, as_of=PLAN_DAY)
    task = tasks.loc[tasks["retailer_id"] == retailer].iloc[-1]
    assert task["status"] == "open" and task["type"] == "marketing_report"
    deadline = task["deadline"]
    assert deadline > pd.Timestamp(PLAN_DAY)

    district = load_district(DISTRICT, store=store)
    before = score_risk(district, PLAN_DAY).set_index("retailer_id")
    plan, _ = plan_patrol(
        district,
        PLAN_DAY,
        tmp_path / "patrol",
        risk=before.reset_index(),
        store=store,
        time_limit_s=None,
        solution_limit=1,
    )
    stop = plan.stops.loc[plan.stops["retailer_id"] == retailer]
    assert len(stop) == 1, "the reported retailer is visited on the next day's plan"
    assert "marketing_report" in stop["purpose"].iloc[0]
    assert pd.Timestamp(PLAN_DAY) <= deadline

    add_events(
        DISTRICT,
        store,
        _violation_found(retailer, f"{PLAN_DAY}T{stop['arrival'].iloc[0]}").to_dict("records"),
        file="outcome",
        derive_violations=True,
    )
    tasks = district_tasks(DISTRICT, store, as_of=NEXT_DAY)
    assert tasks.loc[tasks["task_id"] == task["task_id"], "status"].iloc[0] == "closed"

    district = load_district(DISTRICT, store=store)
    after = score_risk(district, NEXT_DAY).set_index("retailer_id")
    assert after.loc[retailer, "score"] > before.loc[retailer, "score"] + 5
    assert "违规" in after.loc[retailer, "reason_1_zh"]

    # the same day's hotspots with and without the recorded violation, at one fixed scale
    without = risk_hotspots(load_district(DISTRICT), NEXT_DAY)
    scale = {"hex_size_m": without.scale_info["hex_size_m"], "band_m": without.scale_info["band_m"]}
    without = risk_hotspots(load_district(DISTRICT), NEXT_DAY, **scale)
    with_it = risk_hotspots(district, NEXT_DAY, **scale)
    point = district.retailers.set_index("retailer_id").loc[retailer]
    cell = without.cells.contains(shapely.Point(point["lon"], point["lat"])).to_numpy()
    assert cell.sum() == 1
    assert with_it.cells.loc[cell, "count"].iloc[0] == without.cells.loc[cell, "count"].iloc[0] + 1
    # exactly one more violation in the whole map: the recorded one, counted once
    assert with_it.cells["count"].sum() == without.cells["count"].sum() + 1
    # Gi* z is standardised by the whole map's mean and variance, so one more point in an already
    # hot cell need not raise it; the cell stays as hot as it was
    hot_rank = {"hot_99": 3, "hot_95": 2, "hot_90": 1}
    before_class, after_class = (
        without.cells.loc[cell, "hotspot_class"].iloc[0],
        with_it.cells.loc[cell, "hotspot_class"].iloc[0],
    )
    assert hot_rank.get(after_class, 0) >= hot_rank.get(before_class, 0)


def test_the_same_flow_through_the_cli(tmp_path) -> None:
    """The loop driven by commands: events add, tasks list, patrol plan, events add (outcome), risk score."""
    runner = CliRunner()
    store = str(tmp_path / "store.sqlite")
    open_store(store, create=True).close()  # as `store init` would; the first add loads the district
    common = ["--district", str(DISTRICT), "--store", store]
    retailer = _quiet_retailer(load_district(DISTRICT))

    result = runner.invoke(
        app,
        [
            "events",
            "add",
            "--type",
            "marketing_report",
            "--retailer",
            retailer,
            "--time",
            REPORT_TIME,
            "--note",
            "订货量异常",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["tasks", "list", "--date", PLAN_DAY, "--out", str(tmp_path / "tasks.csv"), *common])
    assert result.exit_code == 0, result.output
    tasks = pd.read_csv(tmp_path / "tasks.csv", dtype=str)
    assert retailer in set(tasks["retailer_id"])

    result = runner.invoke(
        app, ["patrol", "plan", "--date", PLAN_DAY, "--solution-limit", "1", "--out", str(tmp_path / "patrol"), *common]
    )
    assert result.exit_code == 0, result.output
    stops = pd.read_csv(tmp_path / "patrol" / "stops.csv", dtype=str)
    assert retailer in set(stops["retailer_id"])
    arrival = stops.loc[stops["retailer_id"] == retailer, "arrival"].iloc[0]

    result = runner.invoke(
        app,
        [
            "events",
            "add",
            "--type",
            "inspection",
            "--outcome",
            "violation",
            "--severity",
            "serious",
            "--retailer",
            retailer,
            "--time",
            f"{PLAN_DAY}T{arrival}",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "violation at" in result.output
    result = runner.invoke(
        app, ["tasks", "list", "--date", NEXT_DAY, "--all", "--out", str(tmp_path / "tasks2.csv"), *common]
    )
    tasks = pd.read_csv(tmp_path / "tasks2.csv", dtype=str)
    assert tasks.loc[tasks["retailer_id"] == retailer, "status"].iloc[-1] == "closed"

    scores = {}
    for day in (PLAN_DAY, NEXT_DAY):
        result = runner.invoke(app, ["risk", "score", "--date", day, "--out", str(tmp_path / day), *common])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(tmp_path / day / "risk.csv", dtype={"retailer_id": str}).set_index("retailer_id")
        scores[day] = table.loc[retailer, "score"]
    assert scores[NEXT_DAY] > scores[PLAN_DAY] + 5
