"""Responsibility and blind spots, and the managers' overview page."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from gridmgmt.config import Settings
from gridmgmt.loop.overview import overview_html
from gridmgmt.loop.responsibility import responsibility_report
from gridmgmt.loop.tasks import task_table

RETAILERS = pd.DataFrame(
    {
        "retailer_id": ["R1", "R2", "R3"],
        "name": ["甲", "乙", "<script>alert(1)</script>"],
        "address": ["", "", ""],
        "subdistrict": ["", "", ""],
        "customer_class": ["A", "A", "D"],
        "licence_date": ["2020-01-01"] * 3,
    }
)
STAFF = pd.DataFrame(
    {
        "staff_id": ["M1", "Z1", "M2"],
        "name": ["经理一", "专员一", "经理二"],
        "department": ["marketing", "monopoly", "marketing"],
        "grid_id": [1, 1, 2],
    }
)
EVENTS = pd.DataFrame(
    {
        "event_id": ["E1", "E2", "E3"],
        "retailer_id": ["R1", "R2", "R2"],
        "time": pd.to_datetime(["2026-11-20T10:00", "2026-09-01T10:00", "2026-11-25T10:00"]),
        "type": ["inspection", "inspection", "tip_off"],
        "department": ["monopoly", "monopoly", "public"],
        "outcome": ["ok", "ok", ""],
        "note": ["", "", "<img src=x onerror=alert(1)>"],
        "corrects": ["", "", ""],
    }
)


def _report():
    assignment = pd.DataFrame({"retailer_id": ["R1", "R2"], "grid_id": [1, 2]})
    tasks = task_table(EVENTS, as_of="2026-12-01", settings=Settings())
    return responsibility_report(
        RETAILERS, EVENTS, STAFF, assignment, tasks, as_of="2026-12-01", settings=Settings()
    ), tasks


def test_blind_spots_are_named() -> None:
    """A grid without an officer, a retailer in no grid, overdue inspections and tasks are all listed."""
    report, _ = _report()
    assert list(report.grids_without_pair["grid_id"]) == [2]
    assert report.grids_without_pair["missing"].iloc[0] == "monopoly_officer"
    assert list(report.retailers_outside_grids["retailer_id"]) == ["R3"]
    overdue = set(report.overdue_inspections["retailer_id"])
    assert "R2" in overdue and "R1" not in overdue  # R2 last inspected 91 days ago, R1 11 days ago
    assert list(report.overdue_tasks["task_id"]) == ["E3"]
    per_grid = report.per_grid.set_index("grid_id")
    assert per_grid.loc[2, "overdue_tasks"] == 1 and per_grid.loc[1, "overdue_tasks"] == 0
    officer = report.per_person.set_index("staff_id").loc["Z1"]
    assert officer["retailers"] == 1


def test_overview_is_offline_and_escaped() -> None:
    """The overview has no external reference and shows hostile text as text."""
    report, tasks = _report()
    page = overview_html(
        as_of="2026-12-01",
        lang="en",
        district_name="<b>x</b>",
        tasks=tasks,
        events=EVENTS,
        responsibility_totals=report.totals,
        links={"risk_map": "risk_map.html"},
    )
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert not re.search(r"(src|href)=\"https?:", page)
    assert "<script" not in page
    assert "Overdue tasks" in page and "E3" in page
    assert 'href="risk_map.html"' in page


@pytest.mark.browser
def test_overview_renders_in_chromium(tmp_path, chromium) -> None:
    """The overview opens in headless Chromium without errors or requests, with its charts."""
    report, tasks = _report()
    page = tmp_path / "overview.html"
    page.write_text(
        overview_html(as_of="2026-12-01", lang="zh", tasks=tasks, events=EVENTS, responsibility_totals=report.totals),
        encoding="utf-8",
    )
    facts = chromium.open(page, wait_for="h1", counts={"kpis": ".kpi", "charts": "svg"})
    assert facts.console_errors == [] and facts.page_errors == [] and facts.external_requests == []
    assert facts.counts["kpis"] >= 5 and facts.counts["charts"] >= 1
