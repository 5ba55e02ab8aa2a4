"""Joint-visit tasks as data frames, for the overview, the assessment and the service.

The rules (what opens a task, its deadline, what closes it, corrections) are
:mod:`gridmgmt.loop.task_rules`' over plain rows; this module builds and updates the task table
from them, so ``tasks list`` (plain rows) and these frames give the same tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from gridmgmt.config import Settings
from gridmgmt.loop import task_rules
from gridmgmt.loop.task_rules import (
    TASK_COLUMNS,
    TASK_EVENT_TYPES,
    Task,
    closed_status,
    derive_tasks,
    working_days_between,
)
from gridmgmt.vocab import TASK_TYPES

_EVENT_FIELDS = ("event_id", "retailer_id", "type", "note", "corrects")


def deadlines(times: pd.Series, types: pd.Series, settings: Settings) -> pd.Series:
    """Deadline date of each task: the day it opened plus the working days for its type."""
    days = [task_rules.deadline(t, kind, settings) for t, kind in zip(pd.to_datetime(times), types, strict=True)]
    return pd.Series(pd.to_datetime(days).astype("datetime64[s]"), index=times.index)


def task_events(events: pd.DataFrame, *, as_of: pd.Timestamp) -> tuple[list[dict], set[str]]:
    """The events before ``as_of`` that open or close a task, as the rows :func:`derive_tasks` reads,
    and the ids the other events before ``as_of`` correct (the rest of the log changes no task)."""
    times = pd.to_datetime(events["time"])
    before = times < as_of
    corrects = events.loc[before, "corrects"].fillna("") if "corrects" in events.columns else pd.Series([], dtype=str)
    matters = before & events["type"].isin(TASK_EVENT_TYPES)
    fields = [f for f in _EVENT_FIELDS if f in events.columns]
    columns = [events.loc[matters, f].tolist() for f in fields] + [list(times[matters].dt.to_pydatetime())]
    rows = [dict(zip([*fields, "time"], values, strict=True)) for values in zip(*columns, strict=True)]
    return rows, set(corrects) - {""}


def tasks_frame(tasks: Sequence[Task], events: pd.DataFrame, time_dtype: object) -> pd.DataFrame:
    """``tasks`` as the task table's columns, text typed as the ``events`` columns they come from."""
    frame = pd.DataFrame.from_records([tuple(vars(t).values()) for t in tasks], columns=list(TASK_COLUMNS))
    text = {
        "task_id": "event_id",
        "retailer_id": "retailer_id",
        "type": "type",
        "closed_by": "event_id",
        "note": "note",
    }
    return frame.astype(
        {
            **{column: events[source].dtype for column, source in text.items()},
            "status": "str",
            "opened": time_dtype,
            "deadline": "datetime64[s]",
            "closed_at": time_dtype,
            "response_working_days": float,
        }
    )


def task_table(
    events: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp,
    settings: Settings,
    owners: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every task known before ``as_of`` with its status (:func:`gridmgmt.loop.task_rules.derive_tasks`).

    Parameters
    ----------
    events
        The shared event log.
    as_of
        Only events before this day (00:00) count; a task still open past its deadline on this
        day is ``overdue``.
    settings
        Deadlines in working days.
    owners
        Optional table retailer_id -> grid_id, customer_manager, monopoly_officer.

    Returns
    -------
    DataFrame: task_id, retailer_id, type, opened, deadline, status, closed_by, closed_at,
    response_working_days, note, plus the owner columns when given.
    """
    day = pd.Timestamp(as_of).normalize()
    rows, corrected = task_events(events, as_of=day)
    found = derive_tasks(rows, as_of=day.date(), settings=settings, corrected=corrected)
    tasks = tasks_frame(found, events, pd.to_datetime(events["time"]).dtype)
    if owners is not None:
        tasks = tasks.merge(owners, on="retailer_id", how="left")
    return tasks


def update_tasks(
    table: pd.DataFrame,
    new_events: pd.DataFrame,
    *,
    latest: pd.Timestamp,
    as_of: str | pd.Timestamp,
    settings: Settings,
    owners: pd.DataFrame | None = None,
) -> pd.DataFrame | None:
    """``table`` (from :func:`task_table`) brought up to date with events appended to the log since.

    Equal to ``task_table`` over the whole log, but only touches the new events' tasks, so a
    service can keep the table current after every recorded event. Returns None when an
    incremental update cannot be exact and the caller must rebuild: a new event corrects
    another, or is older than ``latest`` (the newest event time ``table`` was built from).
    """
    as_of = pd.Timestamp(as_of).normalize()
    if new_events.empty:
        return table
    times = pd.to_datetime(new_events["time"])
    if (new_events["corrects"].fillna("") != "").any() or times.min() < latest:
        return None
    fresh = new_events.assign(time=times).loc[times < as_of]
    opened = fresh.loc[fresh["type"].isin(TASK_TYPES)]
    waiting = set(table.loc[table["closed_by"] == "", "retailer_id"]) | set(opened["retailer_id"])
    inspections = fresh.loc[(fresh["type"] == "inspection") & fresh["retailer_id"].isin(waiting)]
    if opened.empty and inspections.empty:
        return table  # nothing to do: the same object, so what callers derived from it stays valid
    table = table.copy()  # callers may still hold the old table
    if len(opened):
        added = task_table(opened, as_of=as_of, settings=settings, owners=owners)
        table = pd.concat([table, added], ignore_index=True) if len(table) else added
    for inspection in inspections.itertuples(index=False):
        closes = (
            (table["retailer_id"] == inspection.retailer_id)
            & (table["closed_by"] == "")
            & (table["opened"] < inspection.time)
        )
        if not closes.any():
            continue
        day = inspection.time.date()
        table.loc[closes, "closed_by"] = inspection.event_id
        table.loc[closes, "closed_at"] = inspection.time
        table.loc[closes, "status"] = [closed_status(day, due.date()) for due in table.loc[closes, "deadline"]]
        table.loc[closes, "response_working_days"] = [
            float(working_days_between(o.date(), day)) for o in table.loc[closes, "opened"]
        ]
    return table


def owners_table(assignment: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    """retailer_id -> grid_id, customer_manager, monopoly_officer (staff names; '' where the post is empty)."""
    staffed = staff.dropna(subset=["grid_id"]).assign(grid_id=lambda s: s["grid_id"].astype(int))
    pairs = staffed.pivot_table(index="grid_id", columns="department", values="name", aggfunc="first")
    pairs = pairs.reindex(columns=["marketing", "monopoly"]).rename(
        columns={"marketing": "customer_manager", "monopoly": "monopoly_officer"}
    )
    out = (
        assignment[["retailer_id", "grid_id"]]
        .dropna()
        .astype({"grid_id": int})
        .merge(pairs.reset_index(), on="grid_id", how="left")
    )
    return out.fillna({"customer_manager": "", "monopoly_officer": ""})


def open_tasks(events: pd.DataFrame, *, before: str | pd.Timestamp, settings: Settings) -> pd.DataFrame:
    """Tasks still open (or overdue) before ``before``: event_id, retailer_id, type, time, note, opened, deadline."""
    tasks = task_table(events, as_of=before, settings=settings)
    tasks = tasks.loc[tasks["status"].isin(("open", "overdue"))]
    return tasks.rename(columns={"task_id": "event_id"}).assign(time=lambda t: t["opened"]).reset_index(drop=True)
