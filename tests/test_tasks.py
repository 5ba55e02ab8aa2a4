"""The joint-work loop: append-only shared log, tasks with deadlines, closing by inspection."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from gridmgmt.config import Settings
from gridmgmt.loop.tasks import task_table, update_tasks

PRIOR = pd.DataFrame(
    {
        "event_id": ["E1", "E2"],
        "retailer_id": ["R1", "R2"],
        "time": pd.to_datetime(["2026-11-02T10:00", "2026-11-03T10:00"]),
        "type": ["tip_off", "inspection"],
        "department": ["public", "monopoly"],
        "outcome": ["", "ok"],
        "severity": ["", ""],
        "note": ["", ""],
        "corrects": ["", ""],
    }
)


def _new(**overrides) -> pd.DataFrame:
    row = {
        "event_id": "",
        "retailer_id": "R1",
        "time": "2026-11-04T09:30",
        "type": "inspection",
        "department": "monopoly",
        "outcome": "violation",
        "severity": "serious",
        "note": "",
        "corrects": "",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def test_tip_off_task_closes_with_the_next_inspection() -> None:
    """A tip-off opens a task due in 2 working days; the next inspection of that retailer closes it."""
    events = pd.concat([PRIOR, _new(event_id="N1").assign(time=lambda e: pd.to_datetime(e["time"]))])
    before = task_table(PRIOR, as_of="2026-11-06", settings=Settings()).set_index("task_id")
    assert before.loc["E1", "status"] == "overdue"
    assert before.loc["E1", "deadline"] == pd.Timestamp("2026-11-04")
    after = task_table(events, as_of="2026-11-06", settings=Settings()).set_index("task_id")
    assert after.loc["E1", "status"] == "closed"
    assert after.loc["E1", "response_working_days"] == 2


def test_deadlines_skip_weekends() -> None:
    """A tip-off on a Friday is due two working days later, on Tuesday."""
    friday = PRIOR.assign(time=pd.to_datetime(["2026-11-06T10:00", "2026-11-01T10:00"]))
    tasks = task_table(friday, as_of="2026-11-09", settings=Settings()).set_index("task_id")
    assert tasks.loc["E1", "deadline"] == pd.Timestamp("2026-11-10")
    assert tasks.loc["E1", "status"] == "open"


def _random_log(seed: int, n: int) -> pd.DataFrame:
    """A log of tip-offs, complaints, reports, inspections and visits over 6 retailers and 3 weeks, in time order."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2026-11-02T08:00") + pd.to_timedelta(np.sort(rng.integers(0, 21 * 24 * 60, n)), unit="min")
    types = rng.choice(
        ["tip_off", "complaint", "marketing_report", "inspection", "visit"], n, p=[0.2, 0.1, 0.2, 0.3, 0.2]
    )
    return pd.DataFrame(
        {
            "event_id": [f"E{k:04d}" for k in range(n)],
            "retailer_id": [f"R{r}" for r in rng.integers(0, 6, n)],
            "time": times,
            "type": types,
            "department": "monopoly",
            "outcome": np.where(types == "inspection", "ok", ""),
            "severity": "",
            "note": "",
            "corrects": "",
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_updated_task_table_equals_the_rebuilt_one(seed: int) -> None:
    """Updating the task table batch by batch gives what task_table gives over the whole log."""
    log = _random_log(seed, 120)
    owners = pd.DataFrame({"retailer_id": [f"R{r}" for r in range(6)], "grid_id": ["1", "1", "2", "2", "3", "3"]})
    as_of = "2026-11-20"
    cuts = [0, 1, 7, 30, 31, 60, 95, 120]
    table = task_table(log.iloc[:0], as_of=as_of, settings=Settings(), owners=owners)
    for start, end in itertools.pairwise(cuts):
        latest = log["time"].iloc[start - 1] if start else pd.Timestamp.min
        table = update_tasks(table, log.iloc[start:end], latest=latest, as_of=as_of, settings=Settings(), owners=owners)
        assert table is not None
        want = task_table(log.iloc[:end], as_of=as_of, settings=Settings(), owners=owners)
        got = table.sort_values("task_id").reset_index(drop=True)
        want = want.sort_values("task_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert "closed" in set(table["status"]) and len(set(table["status"])) >= 3  # closing and deadlines exercised


def test_task_update_refuses_corrections_and_back_dated_events() -> None:
    """A correction or an event older than the table's newest asks the caller to rebuild (None)."""
    log = _random_log(1, 40)
    table = task_table(log.iloc[:30], as_of="2026-11-20", settings=Settings())
    latest = log["time"].iloc[29]
    fix = log.iloc[[30]].assign(corrects="E0001")
    assert update_tasks(table, fix, latest=latest, as_of="2026-11-20", settings=Settings()) is None
    old = log.iloc[[30]].assign(time=latest - pd.Timedelta(minutes=1))
    assert update_tasks(table, old, latest=latest, as_of="2026-11-20", settings=Settings()) is None
