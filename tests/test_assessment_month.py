"""The monthly assessment read during its month: cycles due later this month are not overdue yet."""

from __future__ import annotations

import pandas as pd

from gridmgmt.config import Settings
from gridmgmt.service.assessment import assessment, read_until

RETAILERS = pd.DataFrame({"retailer_id": ["R1", "R2"], "customer_class": ["B", "B"], "licence_date": "2020-01-01"})
OWNERS = pd.DataFrame(
    {"retailer_id": ["R1", "R2"], "grid_id": ["1", "1"], "customer_manager": "M1", "monopoly_officer": "Z1"}
)
# R1 visited and inspected on 20 November and again on 1 December; R2 on 20 November only (a 30-day cycle)
EVENTS = pd.DataFrame(
    {
        "event_id": ["E1", "E2", "E3", "E4", "E5", "E6"],
        "retailer_id": ["R1", "R1", "R2", "R2", "R1", "R1"],
        "time": pd.to_datetime(["2026-11-20 10:00"] * 4 + ["2026-12-01 10:00"] * 2),
        "type": ["visit", "inspection"] * 3,
        "corrects": "",
    }
)
TASKS = pd.DataFrame(
    {
        "task_id": ["T1", "T2"],
        "grid_id": ["1", "1"],
        "type": ["tip_off", "tip_off"],
        "status": ["open", "open"],
        "opened": pd.to_datetime(["2026-11-28", "2026-11-30"]),
        "deadline": pd.to_datetime(["2026-12-01", "2026-12-03"]),  # neither is late on 1 December
        "response_working_days": [float("nan")] * 2,
    }
)


def _table(month: str, today: str | None) -> pd.DataFrame:
    return assessment(
        month, retailers=RETAILERS, events=EVENTS, tasks=TASKS, owners=OWNERS, settings=Settings(), today=today
    )


def test_current_month_counts_up_to_today() -> None:
    """On 1 December both shops' visits are in their cycle (coverage 1.0, where reading it at the month's end gave
    0.0) and no December task is late yet; read after December, R2's visit is overdue and the open tasks count as
    late."""
    now = _table("2026-12", "2026-12-01").iloc[0]
    assert now["visit_coverage"] == 1.0 and now["inspection_coverage"] == 1.0
    assert now["tasks_due"] == 0 and pd.isna(now["tasks_on_time"])
    assert now["visits"] == 1  # today's work counts
    later = _table("2026-12", "2027-01-05").iloc[0]
    assert later["visit_coverage"] == 0.0  # R1 due 31 December, R2 due 20 December: both overdue at the month's end
    assert later["tasks_due"] == 2 and later["tasks_on_time"] == 0.0


def test_read_until_is_the_months_end_or_the_end_of_today() -> None:
    assert read_until("2026-12", "2026-12-01") == pd.Timestamp("2026-12-02")
    assert read_until("2026-11", "2026-12-01") == pd.Timestamp("2026-12-01")
    assert read_until("2026-12", None) == pd.Timestamp("2027-01-01")
    assert read_until("2027-02", "2026-12-01") == pd.Timestamp("2027-02-01")  # a month ahead: from its start
