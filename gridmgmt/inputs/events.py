"""The shared event log both departments write: load and validate.

The log is append-only: a correction is a new event whose ``corrects`` names the event it
corrects (which must exist and be no later). Columns: ``event_id``, ``retailer_id``,
``time`` (``YYYY-MM-DDTHH:MM``), ``type`` (see :data:`gridmgmt.vocab.EVENT_TYPES`),
``department`` (:data:`gridmgmt.vocab.DEPARTMENTS`), ``outcome``, ``severity``, ``note``,
``corrects`` and optionally ``violation_kind``; extra columns are kept.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.inputs.checks import TableCheck
from gridmgmt.io import read_table
from gridmgmt.vocab import (
    DEPARTMENT_ALIASES,
    DEPARTMENTS,
    EVENT_TYPE_ALIASES,
    EVENT_TYPES,
    OUTCOMES,
    SEVERITIES,
    VIOLATION_KINDS,
)

log = logging.getLogger(__name__)

REQUIRED = ("event_id", "retailer_id", "time", "type", "department")
OPTIONAL = {"outcome": "", "severity": "", "note": "", "corrects": ""}

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("事件编号", "编号"),
    "retailer_id": ("许可证号", "专卖许可证号", "license_no", "licence_no"),
    "time": ("时间", "日期时间", "datetime", "timestamp"),
    "type": ("类型", "事件类型", "event_type"),
    "department": ("部门", "dept"),
    "outcome": ("结果",),
    "severity": ("严重程度",),
    "note": ("备注", "说明", "notes"),
    "corrects": ("更正", "corrects_event_id"),
    "violation_kind": ("违法类型", "违规类型"),
}


def load_events(path: str | os.PathLike, *, retailer_ids: set[str] | None = None) -> pd.DataFrame:
    """Read and validate the event log.

    Parameters
    ----------
    path
        CSV (.csv, .csv.gz), GeoJSON, GeoPackage or Parquet file.
    retailer_ids
        Known retailer ids; when given, an event of another retailer is an error.

    Returns
    -------
    pandas.DataFrame
        One row per event in file order; ``time`` is ``datetime64`` (local time, no zone),
        the other contract columns text ('' when empty); extra columns kept.

    Raises
    ------
    InputError
        Listing every error found.
    """
    frame = read_table(path)
    events, problems = check_events(frame, file=str(path), retailer_ids=retailer_ids)
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
    for p in problems:
        (log.warning if p.severity == "warning" else log.info)("%s", p)
    return events


def check_events(
    frame: pd.DataFrame,
    *,
    file: str = "events",
    retailer_ids: set[str] | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate a raw event table (as read by :func:`gridmgmt.io.read_table`), collecting every problem.

    Checks: required columns, empty ids, duplicate ``event_id``, times, ``type`` and
    ``department`` categories, ``outcome``/``severity``/``violation_kind`` values, unknown
    retailers (when ``retailer_ids`` is given) and that ``corrects`` names an existing, no
    later, other event. Events appended to the shared log are checked by the store
    (:mod:`gridmgmt.store.validate`, :mod:`gridmgmt.store.eventlog`).

    Returns
    -------
    (DataFrame, list of Problem)
        The converted table (bad cells NaT or '') and every problem.
    """
    check = TableCheck(frame, file)
    check.rename_aliases(COLUMN_ALIASES)
    missing = check.require_columns(REQUIRED, aliases=COLUMN_ALIASES)
    if missing:
        return check.frame, check.problems
    check.add_missing(OPTIONAL)
    check.trim("event_id", "retailer_id", "type", "department", "outcome", "severity", "corrects", "violation_kind")
    if len(check.frame) == 0:
        check.frame["time"] = pd.to_datetime(check.frame["time"])
        return check.frame, check.problems  # an empty log is valid: a new district has no history yet
    check.required_values("event_id", hint="every event needs its own id")
    check.required_values("retailer_id", hint="name the retailer's licence number")
    check.unique("event_id", what="event_id")
    check.to_datetime("time")
    check.categories("type", EVENT_TYPES, aliases=EVENT_TYPE_ALIASES)
    check.categories("department", DEPARTMENTS, aliases=DEPARTMENT_ALIASES)
    check.categories("outcome", OUTCOMES, required=False)
    check.categories("severity", SEVERITIES, required=False)
    if "violation_kind" in check.frame.columns:
        check.categories("violation_kind", VIOLATION_KINDS, required=False)
    events = check.frame
    inspection_verdict = (events["type"] != "inspection") & (events["type"] != "") & (events["outcome"] != "")
    check.add_rows(
        inspection_verdict & (events["type"].isin(("tip_off", "complaint"))),
        "outcome",
        "tip-offs and complaints have no outcome",
        severity="warning",
        hint="record the result as a later inspection event",
    )
    no_severity = (events["type"] == "violation") & (events["severity"] == "") & check.ok_rows("severity")
    check.add_rows(
        no_severity,
        "severity",
        "violation without severity",
        severity="warning",
        hint="write minor, serious or criminal",
    )
    if retailer_ids is not None:
        check.known_ids("retailer_id", set(retailer_ids), what="retailer_id", table="retailer")
    _check_corrections(check)
    return check.frame, check.problems


def _check_corrections(check: TableCheck) -> None:
    events = check.frame
    has = (events["corrects"] != "").to_numpy(dtype=bool)
    if not has.any():
        return
    # corrections are few: look their targets up in a dict rather than isin over the whole log
    first_time: dict[str, pd.Timestamp] = {}
    for event_id, time in zip(events["event_id"].tolist(), events["time"].tolist(), strict=True):
        if event_id and event_id not in first_time:
            first_time[event_id] = time
    n = len(events)
    missing = np.zeros(n, dtype=bool)
    own = np.zeros(n, dtype=bool)
    later = np.zeros(n, dtype=bool)
    messages = pd.Series("", index=events.index, dtype=object)
    for pos in np.flatnonzero(has):
        target = events["corrects"].iloc[pos]
        if target not in first_time:
            missing[pos] = True
        elif target == events["event_id"].iloc[pos]:
            own[pos] = True
        else:
            when, mine = first_time[target], events["time"].iloc[pos]
            if pd.notna(when) and pd.notna(mine) and when > mine:
                later[pos] = True
                messages.iloc[pos] = f"corrects a later event (at {when:%Y-%m-%dT%H:%M})"
    check.add_rows(
        missing,
        "corrects",
        "corrects an event that does not exist",
        hint="name the event_id of an earlier event in this log",
    )
    check.add_rows(own, "corrects", "an event cannot correct itself", hint="name the event_id of an earlier event")
    check.add_rows(
        later,
        "corrects",
        "corrects a later event",
        messages=messages,
        hint="a correction is recorded after the event it corrects; check the time or the event_id",
    )


def effective_events(events: pd.DataFrame) -> pd.DataFrame:
    """The log as it now reads: every event that a later event corrects is replaced by its correction.

    The log itself stays append-only; this view drops the corrected originals, so a correction
    (e.g. a violation's severity changed) counts once, with its corrected values.
    """
    if "corrects" not in events or events.empty:
        return events
    corrected = set(events["corrects"].fillna("").astype(str)) - {""}
    return events.loc[~events["event_id"].isin(corrected)] if corrected else events
