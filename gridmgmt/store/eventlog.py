"""The shared event log as an append-only table: append and read plain rows, no data frames.

Every write is one transaction: all rows or none. Ids given by the caller are kept (a file's
``corrects`` refer to them); blank ids get a UUIDv7 (48-bit millisecond time + 74 random bits)
behind the prefix ``G-``, so two clerks on two machines never make the same id. There is no
update or delete here, and the database refuses both (a trigger on each backend).

This module imports neither pandas nor numpy: the small commands (``events add``, ``events
list``) and the web service's single events use it directly. Tables of events (import, reads
of millions of rows as data frames) are :mod:`gridmgmt.store.eventframes`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time as _time
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from gridmgmt._errors import InputError, Problem, StoreError
from gridmgmt.store.engine import read_connection, translate_errors
from gridmgmt.store.schema import events, retailers
from gridmgmt.store.validate import EVENT_COLUMNS, check_columns, correction_problem, is_missing

#: The log's own columns, never taken from an event's extra fields.
INTERNAL_COLUMNS = ("seq", "content_hash", "import_key", "source", "recorded_at", "recorded_by", "extra")
_CHUNK = 900  # ids per IN (...) look-up, below every backend's parameter limit


def new_event_id(prefix: str = "G") -> str:
    """A new event id: ``<prefix>-`` and a UUIDv7 (RFC 9562), time-ordered and unique across machines."""
    ms = _time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, of which 74 are used
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    h = f"{value:032x}"
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class EventIdConflict(InputError):
    """An event id already in the log with other content: the sender reused an id for another event."""


#: what must match for an event sent again to be the stored one (the time is the first receipt's)
SAME_EVENT_COLUMNS = (*(c for c in EVENT_COLUMNS if c not in ("event_id", "time")), "extra", "recorded_by")


def append_records(
    engine: sa.Engine,
    records: Sequence[dict],
    *,
    label: str,
    source: str = "",
    recorded_by: str = "",
    check_retailers: bool = True,
) -> list[dict]:
    """Append a few events given as dicts, in one transaction: :func:`append_events` in plain Python.

    The same checks and the same stored rows as :func:`append_events`, without the fixed cost of
    building data frames (milliseconds instead of tens of them), for clerks and the web service
    recording one event at a time. Returns the stored events as dicts of :data:`EVENT_COLUMNS`.
    """
    return _append(engine, records, label, source, recorded_by, check_retailers, once=False)[0]


def append_once(
    engine: sa.Engine,
    records: Sequence[dict],
    *,
    label: str,
    source: str = "",
    recorded_by: str = "",
    check_retailers: bool = True,
) -> tuple[list[dict], bool]:
    """:func:`append_records` for events whose ids the sender made (a phone's queue): each id is stored once.

    An event whose id is in the log with the same content (:data:`SAME_EVENT_COLUMNS`, the
    recorder included; the time stays the first receipt's) is not stored again: its stored row is
    returned. Checked and written in one transaction; a concurrent send of the same ids that
    commits first is found on a second try.

    Returns
    -------
    The events as stored, and whether any of them was stored now.

    Raises
    ------
    EventIdConflict
        An id is in the log with other content; nothing is stored.
    """
    try:
        return _append(engine, records, label, source, recorded_by, check_retailers, once=True)
    except StoreError as error:
        if not isinstance(error.__cause__, sa.exc.IntegrityError):
            raise
        # a concurrent send of the same ids committed first: now they are found
        return _append(engine, records, label, source, recorded_by, check_retailers, once=True)


def _append(
    engine: sa.Engine,
    records: Sequence[dict],
    label: str,
    source: str,
    recorded_by: str,
    check_retailers: bool,
    *,
    once: bool,
) -> tuple[list[dict], bool]:
    """Check and append ``records``; with ``once``, ids stored with the same content are left as stored."""
    file = source or "events"
    if records:
        missing = [c for c in ("retailer_id", "time", "type", "department") if c not in records[0]]
        if missing:
            raise InputError(
                Problem(
                    file=file, message=f"missing columns: {', '.join(missing)}", hint="see `gridmgmt events --help`"
                )
            )
    rows, problems = _prepare_records(records, file=file)
    if not records:
        problems.append(Problem(file=file, message="no events to add", hint="the table has a header but no rows"))
    ids = [row["event_id"] for row in rows]
    for row in rows:
        if row["event_id"] and ids.index(row["event_id"]) < row["row"] - 2:
            problems.append(
                Problem(file=file, row=row["row"], field="event_id", message="duplicate event_id in this table")
            )
    if problems:
        raise InputError(problems)
    # checked before the write lock, as they cannot turn false meanwhile: the log only grows, retailers stay
    with read_connection(engine, label) as conn:
        problems += check_corrections(conn, rows, rows, file=file)
        if check_retailers:
            problems += unknown_retailers(conn, [(row["row"], row["retailer_id"]) for row in rows], file=file)
    if problems:
        raise InputError(problems)
    with translate_errors(label), engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            given = [i for i in ids if i]
            stored = _stored_events(conn, given) if given else {}
            if once:
                sent_again = [(row, stored[row["event_id"]]) for row in rows if row["event_id"] in stored]
                conflicts = [p for row, old in sent_again if (p := _conflict(row, old, recorded_by, file=file))]
                if conflicts:
                    raise EventIdConflict(conflicts)
            for row in rows:
                if row["event_id"] in stored and not once:
                    problems.append(
                        Problem(
                            file=file,
                            row=row["row"],
                            field="event_id",
                            value=row["event_id"],
                            message="event_id already in the log",
                            hint="the log is append-only: give the new event its own id (or leave event_id empty)",
                        )
                    )
            if problems:
                raise InputError(problems)
            now = datetime.now().replace(microsecond=0)
            for row in rows:
                row["event_id"] = row["event_id"] or new_event_id()
            fresh = [row for row in rows if row["event_id"] not in stored]
            inserts = [
                {
                    **{k: (v or None) for k, v in row.items() if k not in ("row", "time")},
                    **{c: row[c] for c in ("outcome", "severity", "violation_kind", "note")},
                    "time": row["time"],
                    "source": source,
                    "recorded_at": now,
                    "recorded_by": recorded_by,
                }
                for row in fresh
            ]
            if inserts:
                conn.execute(events.insert(), inserts)
    out = [stored.get(row["event_id"]) or row for row in rows]
    return [{c: row[c] for c in EVENT_COLUMNS} for row in out], bool(fresh)


def _stored_events(conn: sa.Connection, ids: Sequence[str]) -> dict[str, dict]:
    """``{event_id: stored row}`` (:data:`EVENT_COLUMNS` and :data:`SAME_EVENT_COLUMNS`, text '' when empty)."""
    columns = dict.fromkeys((*EVENT_COLUMNS, *SAME_EVENT_COLUMNS))
    found = lookup(conn, events.c.event_id, ids, *(events.c[c] for c in columns))
    return {
        key: {c: ("" if v is None else v) for c, v in zip(columns, values, strict=True)}
        for key, values in found.items()
    }


def _conflict(row: dict, stored: dict, recorded_by: str, *, file: str) -> Problem | None:
    """What differs between an event sent again and the stored one of its id (None: it is the same event)."""
    sent = {**row, "recorded_by": recorded_by}
    differ = [c for c in SAME_EVENT_COLUMNS if (sent[c] or "") != (stored[c] or "")]
    if not differ:
        return None
    return Problem(
        file=file,
        row=row["row"],
        field="event_id",
        value=row["event_id"],
        message=f"event_id already in the log with another {', '.join(differ)}",
        hint="an id names one event: send the same event again, or a new event with a new id",
    )


def _prepare_records(records: Sequence[dict], *, file: str) -> tuple[list[dict], list[Problem]]:
    """Events as :func:`prepare_rows` makes them (checked values, extras, content hash) and their problems."""
    checked, problems = check_columns({c: [r.get(c) for r in records] for c in EVENT_COLUMNS}, file=file)
    rows = []
    for i, record in enumerate(records):
        out: dict = {"row": i + 2, **{c: checked[c][i] for c in EVENT_COLUMNS}}
        kept = {
            k: (v if isinstance(v, (bool, int, float)) else str(v))
            for k, v in record.items()
            if k not in EVENT_COLUMNS and k not in INTERNAL_COLUMNS and not is_missing(v) and v != ""
        }
        out["extra"] = json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else None
        if out["time"] is not None:
            out["content_hash"] = _content_hash(out)
        out["import_key"] = None
        rows.append(out)
    return rows, problems


def _content_hash(row: dict) -> str:
    """The hash that knows a row again by its content (retailer, time, words, note, extras)."""
    text = "\x1f".join(
        [
            row["retailer_id"],
            row["time"].strftime("%Y-%m-%dT%H:%M:%S"),
            *(row[c] for c in ("type", "department", "outcome", "severity", "violation_kind", "note", "corrects")),
            row["extra"] or "",
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def lookup(conn: sa.Connection, column: sa.Column, keys: Iterable[str], *extra: sa.Column) -> dict[str, tuple]:
    """``{key: (extra columns...)}`` of the log's rows whose ``column`` is one of ``keys``."""
    found: dict[str, tuple] = {}
    unique = sorted(set(keys))
    for chunk in _chunks(unique):
        for row in conn.execute(sa.select(column, *extra).where(column.in_(chunk))):
            found[row[0]] = tuple(row[1:])
    return found


def check_corrections(conn: sa.Connection, fixes: Sequence[dict], batch: Iterable[dict], *, file: str) -> list[Problem]:
    """What is wrong with the corrections among ``fixes``; their targets are in ``batch`` or the log."""
    fixes = [row for row in fixes if row["corrects"]]
    if not fixes:
        return []
    wanted = {row["corrects"] for row in fixes}
    targets = {row["event_id"]: row for row in batch if row["event_id"] in wanted}
    fields = ("time", "retailer_id", "department")
    found = lookup(conn, events.c.event_id, wanted - targets.keys(), *(events.c[c] for c in fields))
    targets.update({k: dict(zip(fields, v, strict=True)) for k, v in found.items()})
    problems = [correction_problem(row, targets.get(row["corrects"]), file=file, row=int(row["row"])) for row in fixes]
    return [p for p in problems if p is not None]


def unknown_retailers(conn: sa.Connection, rows: Iterable[tuple[int, str]], *, file: str) -> list[Problem]:
    """Events must name a retailer the store knows, once the store holds retailers; ``rows``: (row, retailer_id)."""
    rows = list(rows)
    known = lookup(conn, retailers.c.retailer_id, [r for _, r in rows])
    unknown = [(row, value) for row, value in rows if value not in known]
    if not unknown or conn.execute(sa.select(retailers.c.retailer_id).limit(1)).first() is None:
        return []
    return [
        Problem(
            file=file,
            row=int(row),
            field="retailer_id",
            value=value,
            message="unknown retailer",
            hint="use a licence number of the district's retailers",
        )
        for row, value in unknown
    ]


def count_events(engine: sa.Engine, *, label: str = "store") -> int:
    """Number of events in the log."""
    with read_connection(engine, label) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def rows_after(engine: sa.Engine, label: str, last_seq: int, also: Sequence[int] = ()) -> list[tuple]:
    """The log's rows with ``seq`` above ``last_seq`` or in ``also``, by seq: seq, :data:`EVENT_COLUMNS`, extra."""
    seq = events.c.seq
    wanted = seq > last_seq
    if also:
        wanted = sa.or_(wanted, seq.in_(sorted(also)))
    columns = [seq, *(events.c[c] for c in EVENT_COLUMNS), events.c.extra]
    with read_connection(engine, label) as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).where(wanted).order_by(seq)).all()]


def time_column(dialect: str) -> sa.ColumnElement:
    """The events' time as the database compares it: the stored ISO text on SQLite, a timestamp elsewhere."""
    return sa.type_coerce(events.c.time, sa.String) if dialect == "sqlite" else events.c.time


def time_bound(dialect: str, value: datetime) -> object:
    """``value`` as :func:`time_column` compares it."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else value


def event_filters(
    dialect: str,
    start: datetime | None,
    end: datetime | None,
    *,
    types: Sequence[str] | None = None,
    retailer_ids: Sequence[str] | None = None,
) -> list[sa.ColumnElement]:
    """The WHERE terms of a read of the log: ``start <= time < end`` (either optional), types, retailers."""
    when = time_column(dialect)
    terms = []
    if start is not None:
        terms.append(when >= time_bound(dialect, start))
    if end is not None:
        terms.append(when < time_bound(dialect, end))
    if types is not None:
        terms.append(events.c.type.in_(list(types)))
    if retailer_ids is not None:
        terms.append(events.c.retailer_id.in_(list(retailer_ids)))
    return terms


def corrected_between(
    engine: sa.Engine, start: datetime | None, end: datetime | None, *, label: str = "store"
) -> set[str]:
    """Ids of the events that events with ``start <= time < end`` correct."""
    with read_connection(engine, label) as conn:
        terms = event_filters(conn.dialect.name, start, end)
        stmt = sa.select(events.c.corrects).where(events.c.corrects.is_not(None), events.c.corrects != "", *terms)
        return set(conn.execute(stmt).scalars())


def corrected_by(conn: sa.Connection, start: datetime | None) -> dict[str, str]:
    """``{event_id: the newest event correcting it}`` for the events from ``start`` on (None: all).

    A correction is no earlier than the event it corrects, so those of a window's events are in it or later.
    """
    fixes = sa.select(events.c.corrects, events.c.event_id).where(events.c.corrects.is_not(None))
    if start is not None:
        fixes = fixes.where(time_column(conn.dialect.name) >= time_bound(conn.dialect.name, start))
    return dict(conn.execute(fixes.order_by(events.c.time, events.c.seq)).all())  # the newest wins


def event_rows(
    engine: sa.Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    types: Sequence[str] | None = None,
    retailer_ids: Sequence[str] | None = None,
    label: str = "store",
) -> list[dict]:
    """Events with ``start <= time < end``, oldest first, as dicts: the rows of
    :func:`gridmgmt.store.eventframes.events_between` without a data frame.

    Each has :data:`EVENT_COLUMNS` (``time`` a datetime, text '' when empty), ``corrected_by``
    ('' when none) and the extra fields it was recorded with.
    """
    with read_connection(engine, label) as conn:
        terms = event_filters(conn.dialect.name, start, end, types=types, retailer_ids=retailer_ids)
        stmt = sa.select(*(events.c[c] for c in EVENT_COLUMNS), events.c.extra).where(*terms)
        found = conn.execute(stmt.order_by(events.c.time, events.c.seq)).mappings().all()
        fixes = corrected_by(conn, start)
    rows = []
    for found_row in found:
        row = {c: ("" if found_row[c] is None else found_row[c]) for c in EVENT_COLUMNS}
        row["corrected_by"] = fixes.get(row["event_id"], "")
        rows.append({**row, **(json.loads(found_row["extra"]) if found_row["extra"] else {})})
    return rows
