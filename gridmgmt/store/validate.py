"""One validator for events: what ``events add``, ``events import`` and the service may append.

Every path into the log passes here before the database sees a row, so SQLite and PostgreSQL
take the same input and every refusal is the same one line (file, row, field, value, fix):

- required: ``retailer_id``, ``time``, ``type``, ``department``;
- ``type``, ``department``, ``outcome``, ``severity``, ``violation_kind``: words of
  :mod:`gridmgmt.vocab` (letters' case and the Chinese labels and aliases accepted);
- lengths: at most the store's column width (:data:`MAX_CHARS`; a note at most
  :data:`NOTE_MAX_CHARS`);
- characters: no control character in ids and words, none but tab and line breaks in a note;
- ``time``: ``YYYY-MM-DD[THH:MM[:SS[.f]]]`` local time. The log keeps the district's local time
  without a zone, so a time with a zone (``+08:00``, ``Z``, a zone-aware timestamp) is refused:
  rows from two zones would otherwise be stored as if one;
- a correction names an earlier other event of the same retailer and department (who may
  correct which event: :mod:`gridmgmt.permissions`).

Pure Python on lists of values (each distinct value checked once): small commands load it without pandas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridmgmt._errors import Problem
from gridmgmt.store.schema import events as events_table
from gridmgmt.vocab import (
    DEPARTMENT_ALIASES,
    DEPARTMENTS,
    EVENT_TYPE_ALIASES,
    EVENT_TYPES,
    OUTCOMES,
    SEVERITIES,
    VIOLATION_KINDS,
)

EVENT_COLUMNS = (
    "event_id",
    "retailer_id",
    "time",
    "type",
    "department",
    "outcome",
    "severity",
    "violation_kind",
    "note",
    "corrects",
)
REQUIRED = ("retailer_id", "time", "type", "department")
#: the longest note kept (characters)
NOTE_MAX_CHARS = 2000
#: the longest value of each text column: the store's column widths
MAX_CHARS: dict[str, int] = {
    **{c: t.length for c in EVENT_COLUMNS if isinstance(t := events_table.c[c].type, sa.String) and t.length},
    "note": NOTE_MAX_CHARS,
}
#: the words each worded column takes, and other spellings of them
WORDS: dict[str, tuple[tuple[str, ...], Mapping[str, str]]] = {
    "type": (EVENT_TYPES, EVENT_TYPE_ALIASES),
    "department": (DEPARTMENTS, DEPARTMENT_ALIASES),
    "outcome": (OUTCOMES, {}),
    "severity": (SEVERITIES, {}),
    "violation_kind": (VIOLATION_KINDS, {}),
}
_HINTS = {"retailer_id": "name the retailer's licence number", "time": "write YYYY-MM-DDTHH:MM, e.g. 2024-03-18T09:30"}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Check = tuple[Any, str, str] | None  # None: fine; else (value shown, message, hint)


def is_missing(value: object) -> bool:
    """None, NaN, NaT and pandas' NA (values not equal to themselves)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas' NA: its comparisons are NA
        return True


def text_of(value: object) -> str:
    """A cell as stripped text ('' when missing)."""
    return "" if is_missing(value) else str(value).strip()


def check_text(field: str, text: str) -> tuple[str, Check]:
    """A text cell of ``field``: the value to store and what is wrong with it."""
    if text == "":
        return text, ((None, "empty", _HINTS.get(field, "")) if field in REQUIRED else None)
    if field in WORDS:
        words, aliases = WORDS[field]
        word = aliases.get(text, text.lower())
        if word not in words:
            return text, (text, "unknown value", "use one of: " + ", ".join(words))
        text = word
    bad = (_NOTE_CONTROL if field == "note" else _CONTROL).search(text)
    if bad:
        return text, (text[:80], f"contains the control character {bad.group()!r}", "remove it")
    limit = MAX_CHARS.get(field)
    if limit is not None and len(text) > limit:
        return text, (text[:40] + "...", f"{len(text)} characters, more than {limit}", f"shorten it to {limit}")
    return text, None


def check_time(value: object) -> tuple[datetime | None, Check]:
    """A time cell: local time without a zone (text as :data:`_TIME`, or a datetime without tzinfo)."""
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None, (None, "empty", _HINTS["time"])
    if isinstance(value, datetime):
        stamp = value
    else:
        text = str(value).strip()
        shape = _TIME.fullmatch(text)
        if shape is None:
            return None, (text, "not a time", _HINTS["time"])
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            return None, (text, "not a time", _HINTS["time"])
    if stamp.tzinfo is not None:
        shown = value if isinstance(value, str) else stamp.isoformat()
        hint = "the log keeps the district's local time: write it without the zone, e.g. 2024-03-18T09:30"
        return None, (shown, "has a time zone", hint)
    if hasattr(stamp, "to_pydatetime"):  # a pandas Timestamp
        stamp = stamp.to_pydatetime()
    return stamp, None


def check_columns(
    columns: Mapping[str, Sequence[Any]], *, file: str, first_row: int = 2
) -> tuple[dict[str, list[Any]], list[Problem]]:
    """Check and normalise the event columns of a table (``first_row``: the row number of its first row).

    Returns the columns of :data:`EVENT_COLUMNS` (text, ``time`` as datetime or None) and every
    problem, by row and field. A missing column is empty.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    out: dict[str, list[Any]] = {}
    problems: list[tuple[int, int, Problem]] = []
    for position, field in enumerate(EVENT_COLUMNS):
        raw = columns.get(field)
        if raw is None:
            raw = [None] * n
        checked: dict[Any, tuple[Any, Check]] = {}
        values = []
        for row, value in enumerate(raw):
            key = value if isinstance(value, (str, datetime)) or value is None else repr(value)
            if key not in checked:
                checked[key] = check_time(value) if field == "time" else check_text(field, text_of(value))
            stored, wrong = checked[key]
            values.append(stored)
            if wrong is not None:
                shown, message, hint = wrong
                problem = Problem(file=file, row=row + first_row, field=field, value=shown, message=message, hint=hint)
                problems.append((row, position, problem))
        out[field] = values
    return out, [p for _, _, p in sorted(problems, key=lambda item: item[:2])]


def correction_problem(
    correction: Mapping[str, Any], target: Mapping[str, Any] | None, *, file: str, row: int
) -> Problem | None:
    """What is wrong with ``correction`` (checked columns) correcting ``target`` (None: not in the log)."""
    message, hint = "", "name the event_id of an earlier event of the same retailer"
    if correction["corrects"] == correction["event_id"]:
        message = "an event cannot correct itself"
    elif target is None:
        message = "corrects an event that does not exist"
    elif target["retailer_id"] != correction["retailer_id"]:
        message = f"corrects an event of another retailer ({target['retailer_id']})"
        hint = f"a correction names the retailer of the event it corrects: write {target['retailer_id']}"
    elif target["time"] is not None and correction["time"] is not None and target["time"] > correction["time"]:
        message = f"corrects a later event (at {target['time']:%Y-%m-%dT%H:%M})"
        hint = "a correction is recorded after the event it corrects; check the time or the event_id"
    elif target["department"] != correction["department"]:
        message = f"corrects a {target['department']} event as {correction['department']}"
        hint = f"a correction belongs to the corrected event's department: write {target['department']}"
    else:
        return None
    return Problem(file=file, row=row, field="corrects", value=correction["corrects"], message=message, hint=hint)
