"""Joint-visit tasks: opened by tip-offs, complaints and marketing reports, closed by inspections.

Tasks are not stored state: they are derived from the append-only event log, so both
departments always see the same list. A task

- opens with a ``tip_off``, ``complaint`` or ``marketing_report`` event of a retailer;
- is due ``[deadlines_working_days]`` working days (Mon-Fri) after the day it opened;
- closes with the first ``inspection`` of that retailer after it opened (any outcome);
- is owned by the retailer's grid pair (customer manager and monopoly officer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmgmt.config import Settings
from gridmgmt.inputs.events import effective_events
from gridmgmt.vocab import TASK_TYPES


def deadlines(times: pd.Series, types: pd.Series, settings: Settings) -> pd.Series:
    """Deadline date of each task: the day it opened plus the working days for its type."""
    days = types.map(lambda t: getattr(settings.deadlines_working_days, t)).astype(int).to_numpy()
    start = pd.to_datetime(times).dt.normalize().to_numpy(dtype="datetime64[D]")
    return pd.Series(pd.to_datetime(np.busday_offset(start, days, roll="forward")), index=times.index)


def task_table(
    events: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp,
    settings: Settings,
    owners: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every task known before ``as_of`` with its status.

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
    as_of = pd.Timestamp(as_of).normalize()
    times = pd.to_datetime(events["time"])
    known = effective_events(events.loc[times < as_of]).assign(time=lambda e: pd.to_datetime(e["time"]))
    tasks = known.loc[known["type"].isin(TASK_TYPES), ["event_id", "retailer_id", "type", "time", "note"]]
    tasks = tasks.rename(columns={"event_id": "task_id", "time": "opened"}).sort_values("opened", kind="stable")
    inspections = known.loc[known["type"] == "inspection", ["event_id", "retailer_id", "time"]]
    inspections = inspections.rename(columns={"event_id": "closed_by", "time": "closed_at"}).sort_values("closed_at")
    merged = pd.merge_asof(
        tasks,
        inspections,
        left_on="opened",
        right_on="closed_at",
        by="retailer_id",
        direction="forward",
        allow_exact_matches=False,
    )
    merged["deadline"] = deadlines(merged["opened"], merged["type"], settings).to_numpy()
    closed = merged["closed_at"].notna()
    late_close = closed & (merged["closed_at"].dt.normalize() > merged["deadline"])
    merged["status"] = np.select(
        [closed & ~late_close, late_close, merged["deadline"] < as_of],
        ["closed", "closed_late", "overdue"],
        default="open",
    )
    response = np.full(len(merged), np.nan)
    if closed.any():
        response[closed.to_numpy()] = np.busday_count(
            merged.loc[closed, "opened"].dt.normalize().to_numpy(dtype="datetime64[D]"),
            merged.loc[closed, "closed_at"].dt.normalize().to_numpy(dtype="datetime64[D]"),
        )
    merged["response_working_days"] = response
    merged["closed_by"] = merged["closed_by"].fillna("")
    if owners is not None:
        merged = merged.merge(owners, on="retailer_id", how="left")
    columns = [
        "task_id",
        "retailer_id",
        "type",
        "opened",
        "deadline",
        "status",
        "closed_by",
        "closed_at",
        "response_working_days",
        "note",
    ]
    return merged[columns + [c for c in merged.columns if c not in columns]].reset_index(drop=True)


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
        day = inspection.time.normalize()
        deadline = table.loc[closes, "deadline"]
        table.loc[closes, "closed_by"] = inspection.event_id
        table.loc[closes, "closed_at"] = inspection.time
        table.loc[closes, "status"] = np.where(day > deadline, "closed_late", "closed")
        table.loc[closes, "response_working_days"] = np.busday_count(
            table.loc[closes, "opened"].dt.normalize().to_numpy(dtype="datetime64[D]"),
            np.datetime64(day.date(), "D"),
        ).astype(float)
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
