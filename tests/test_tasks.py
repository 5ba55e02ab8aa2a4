"""The joint-work loop: append-only shared log, tasks with deadlines, closing by inspection."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridmgmt.config import Settings, load_settings
from gridmgmt.inputs.events import effective_events
from gridmgmt.loop.task_rules import OWNER_COLUMNS, add_working_days, working_days_between
from gridmgmt.loop.tasks import task_table, update_tasks
from gridmgmt.ops.tasks import task_rows
from gridmgmt.store import open_store
from gridmgmt.store.engine import write_transaction
from gridmgmt.store.schema import retailers
from gridmgmt.vocab import TASK_TYPES

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


# ---------------------------------------------------------------- one set of rules, two paths


def test_working_days_agree_with_numpy() -> None:
    """The plain-datetime working-day offsets and counts are numpy's busday_offset (roll forward) and busday_count."""
    days = [date(2026, 11, 2) + timedelta(days=k) for k in range(21)]  # three weeks, every weekday
    for start in days:
        for n in range(12):
            want = np.busday_offset(np.datetime64(start, "D"), n, roll="forward").astype(date)
            assert add_working_days(start, n) == want
        for end in days:
            assert working_days_between(start, end) == np.busday_count(start, end)


def _merge_asof_tasks(events: pd.DataFrame, as_of: pd.Timestamp, settings: Settings) -> pd.DataFrame:
    """An independent, vectorised reading of the rules (the former task_table): the oracle for the row rules."""
    known = effective_events(events.loc[pd.to_datetime(events["time"]) < as_of])
    known = known.assign(time=pd.to_datetime(known["time"]))
    tasks = known.loc[known["type"].isin(TASK_TYPES), ["event_id", "retailer_id", "type", "time"]]
    tasks = tasks.rename(columns={"event_id": "task_id", "time": "opened"}).sort_values("opened", kind="stable")
    closing = known.loc[known["type"] == "inspection", ["event_id", "retailer_id", "time"]]
    closing = closing.rename(columns={"event_id": "closed_by", "time": "closed_at"}).sort_values("closed_at")
    merged = pd.merge_asof(
        tasks, closing, left_on="opened", right_on="closed_at", by="retailer_id", direction="forward",
        allow_exact_matches=False,
    )  # fmt: skip
    days = merged["type"].map(lambda t: getattr(settings.deadlines_working_days, t)).to_numpy(dtype=int)
    opened_day = merged["opened"].dt.normalize().to_numpy(dtype="datetime64[D]")
    merged["deadline"] = pd.to_datetime(np.busday_offset(opened_day, days, roll="forward"))
    closed = merged["closed_at"].notna()
    late = closed & (merged["closed_at"].dt.normalize() > merged["deadline"])
    merged["status"] = np.select(
        [closed & ~late, late, merged["deadline"] < as_of], ["closed", "closed_late", "overdue"], default="open"
    )
    return merged[["task_id", "deadline", "status", "closed_by"]].fillna({"closed_by": ""})


def test_task_rules_agree_with_a_vectorised_reading_on_the_demo(demo_district) -> None:
    """On the demo's whole log (with corrections), the row rules give the tasks a merge_asof reading gives."""
    events = demo_district.events
    fixes = events.loc[events["type"] == "visit"].iloc[:3]
    targets = events.loc[events["type"].isin(["tip_off", "inspection"])].iloc[:3]
    fixes = fixes.assign(
        event_id=[f"FIX{k}" for k in range(3)], corrects=targets["event_id"].to_numpy(), time=targets["time"].to_numpy()
    )  # visits correcting a tip-off or an inspection: the corrected ones no longer open or close a task
    log = pd.concat([events, fixes], ignore_index=True)
    as_of = pd.Timestamp("2026-12-01")
    got = task_table(log, as_of=as_of, settings=demo_district.settings)
    want = _merge_asof_tasks(log, as_of, demo_district.settings)
    assert len(got) > 2000 and set(got["status"]) == {"open", "overdue", "closed", "closed_late"}
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert not set(targets["event_id"]) & (set(got["task_id"]) | set(got["closed_by"]))


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> tuple[Path, Path]:
    """district.toml (tip-offs due in 1 working day) and a store: R1, R2 in grid 1 (pair m1, s1), R3 in no grid."""
    folder = tmp_path_factory.mktemp("tasks")
    toml = folder / "district.toml"
    toml.write_text('name = "t"\n[deadlines_working_days]\ntip_off = 1\n', encoding="utf-8")
    store = folder / "store.sqlite"
    with open_store(store, create=True) as shared:
        with write_transaction(shared.engine, shared.label) as conn:
            conn.execute(retailers.insert(), [{"retailer_id": r} for r in ("R1", "R2", "R3")])
        shared.publish_assignment(pd.DataFrame({"retailer_id": ["R1", "R2"], "grid_id": ["1", "1"]}), "2026-01-01")
        pair = pd.DataFrame({"grid_id": ["1"], "customer_manager": ["m1"], "monopoly_officer": ["s1"]})
        shared.publish_pairs(pair, "2026-01-01")
        log = [
            ("T0", "R1", "2025-06-02T10:00", "tip_off", ""),  # older than the window: not listed
            ("T1", "R1", "2026-11-02T10:00", "tip_off", ""),
            ("I1", "R1", "2026-11-04T09:00", "inspection", ""),  # closes T1 late (due 11-03)
            ("T2", "R2", "2026-11-05T10:00", "complaint", ""),
            ("I2", "R2", "2026-11-05T10:00", "inspection", ""),  # same minute: does not close T2
            ("T3", "R3", "2026-11-06T10:00", "marketing_report", ""),
            ("T4", "R2", "2026-11-06T11:00", "tip_off", ""),
            ("V4", "R2", "2026-11-06T12:00", "visit", "T4"),  # a visit corrects the tip-off: no task
            ("I3", "R3", "2026-11-09T08:00", "inspection", ""),  # closes T3
            ("T5", "R1", "2026-11-30T10:00", "tip_off", ""),  # as of 12-01: open (due 12-01)
            ("T6", "R2", "2026-12-01T10:00", "tip_off", ""),  # on the as_of day: not yet known
        ]
        shared.add_records(
            [
                {"event_id": i, "retailer_id": r, "time": t, "type": k, "department": "public", "corrects": c}
                for i, r, t, k, c in log
            ]
        )
    return toml, store


def test_tasks_list_rows_equal_the_task_table(small_store) -> None:
    """The plain rows of `tasks list` (store, no pandas) are the task table of the same events and owners."""
    toml, store = small_store
    as_of = "2026-12-01"
    rows = task_rows(toml, store, as_of=date(2026, 12, 1))
    with open_store(store) as shared:
        events = shared.events_between("2025-12-01", as_of)
        owners = shared.assignment_on(as_of).merge(shared.pairs_on(as_of), on="grid_id", how="left")
    table = task_table(events, as_of=as_of, settings=load_settings(toml), owners=owners)
    assert [(r["task_id"], r["status"], r["closed_by"]) for r in rows] == [
        ("T1", "closed_late", "I1"),
        ("T2", "overdue", ""),
        ("T3", "closed", "I3"),
        ("T5", "open", ""),
    ]
    assert [(r["grid_id"], r["customer_manager"], r["monopoly_officer"]) for r in rows] == [
        ("1", "m1", "s1"), ("1", "m1", "s1"), ("", "", ""), ("1", "m1", "s1"),
    ]  # fmt: skip
    frame = pd.DataFrame(rows).astype({"deadline": "datetime64[s]", "response_working_days": float})
    pd.testing.assert_frame_equal(frame, table.fillna({c: "" for c in OWNER_COLUMNS}), check_dtype=False)
