"""The shared event log as an append-only table: add, import (idempotent), read by time window.

Every write is one transaction: all rows or none. Ids given by the caller are kept (a file's
``corrects`` refer to them); blank ids get a UUIDv7 (48-bit millisecond time + 74 random bits)
behind the prefix ``G-``, so two clerks on two machines never make the same id. There is no
update or delete here, and the database refuses both (a trigger on each backend). An import
skips every row the log already holds: rows with ids by id (same content: skipped; other
content: an error), rows without ids by a content key, so the same file imported twice adds
nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time as _time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc

from gridmgmt._errors import InputError, Problem
from gridmgmt.store.engine import read_connection, translate_errors
from gridmgmt.store.schema import events, retailers
from gridmgmt.store.validate import EVENT_COLUMNS, check_columns, correction_problem, is_missing

log = logging.getLogger(__name__)

_INTERNAL = ("seq", "content_hash", "import_key", "source", "recorded_at", "recorded_by", "extra")
SMALL_APPEND = 50  # appends of up to this many rows take the plain-Python path (append_records)
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


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the events it added (with their ids) and how many rows the log already held."""

    added: pd.DataFrame
    skipped: int

    def summary(self, source: str = "") -> str:
        """One line for the user, e.g. ``added 0 events from f.csv (12 already in the log)``."""
        text = f"added {len(self.added)} events" + (f" from {source}" if source else "")
        return text + (f" ({self.skipped} already in the log)" if self.skipped else "")


def append_events(
    engine: sa.Engine,
    frame: pd.DataFrame,
    *,
    label: str,
    source: str = "",
    recorded_by: str = "",
    check_retailers: bool = True,
) -> pd.DataFrame:
    """Append events in one transaction; every row is new (a given id already in the log is an error).

    Parameters
    ----------
    frame
        Events with the contract columns (see :data:`EVENT_COLUMNS`; ``time`` as datetime or
        ``YYYY-MM-DDTHH:MM`` text); blank ``event_id`` cells get new ids; extra columns are kept.
    label
        How errors name the store.
    source
        Where the rows come from ('command line', a file name), stored with each event and
        used to name it in errors.
    check_retailers
        When the store holds retailers (after ``store init``), an event of an unknown retailer is an error.

    Returns
    -------
    pandas.DataFrame
        The events as stored (with ids), in ``frame``'s order.

    Raises
    ------
    InputError
        Naming the row and field of every problem; nothing was added.
    StoreError
        When the store cannot be written (read-only, locked, no permission); nothing was added.
    """
    if 0 < len(frame) <= SMALL_APPEND:
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        added = append_records(
            engine, records, label=label, source=source, recorded_by=recorded_by, check_retailers=check_retailers
        )
        return pd.DataFrame(added, columns=list(EVENT_COLUMNS)).astype({"time": "datetime64[ns]"})
    return _write(engine, frame, label=label, source=source, recorded_by=recorded_by, check=check_retailers).added


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
        problems += _correction_problems(conn, rows, rows, file=file)
        if check_retailers:
            problems += _check_retailers(conn, [(row["row"], row["retailer_id"]) for row in rows], file=file)
    if problems:
        raise InputError(problems)
    with translate_errors(label), engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            given = [i for i in ids if i]
            stored = _lookup(conn, events.c.event_id, given) if given else {}
            for row in rows:
                if row["event_id"] in stored:
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
            inserts = [
                {
                    **{k: (v or None) for k, v in row.items() if k not in ("row", "time")},
                    **{c: row[c] for c in ("outcome", "severity", "violation_kind", "note")},
                    "time": row["time"],
                    "source": source,
                    "recorded_at": now,
                    "recorded_by": recorded_by,
                }
                for row in rows
            ]
            conn.execute(events.insert(), inserts)
    return [{c: row[c] for c in EVENT_COLUMNS} for row in rows]


def _prepare_records(records: Sequence[dict], *, file: str) -> tuple[list[dict], list[Problem]]:
    """Events as :func:`prepare_rows` makes them (checked values, extras, content hash) and their problems."""
    checked, problems = check_columns({c: [r.get(c) for r in records] for c in EVENT_COLUMNS}, file=file)
    rows = []
    for i, record in enumerate(records):
        out: dict = {"row": i + 2, **{c: checked[c][i] for c in EVENT_COLUMNS}}
        kept = {
            k: (v if isinstance(v, (bool, int, float)) else str(v))
            for k, v in record.items()
            if k not in EVENT_COLUMNS and k not in _INTERNAL and not is_missing(v) and v != ""
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


def import_events(
    engine: sa.Engine,
    frame: pd.DataFrame,
    *,
    label: str,
    source: str = "",
    recorded_by: str = "",
    check_retailers: bool = True,
) -> ImportResult:
    """Import events all or nothing, skipping those already in the log (see the module docstring).

    Parameters and errors as :func:`append_events`; an id already in the log with other content
    is an error naming the row.
    """
    return _write(
        engine, frame, label=label, source=source, recorded_by=recorded_by, check=check_retailers, importing=True
    )


def _write(
    engine: sa.Engine,
    frame: pd.DataFrame,
    *,
    label: str,
    source: str,
    recorded_by: str,
    check: bool,
    importing: bool = False,
) -> ImportResult:
    file = source or "events"
    rows = prepare_rows(frame, file=file, importing=importing)
    with translate_errors(label):
        for attempt in range(3):
            try:
                with engine.connect() as conn:
                    conn = conn.execution_options(write=True)
                    with conn.begin():
                        return write_rows(
                            conn,
                            rows,
                            file=file,
                            source=source,
                            recorded_by=recorded_by,
                            check=check,
                            importing=importing,
                        )
            except exc.IntegrityError:
                # a concurrent import stored some of these rows first (PostgreSQL): look again
                if attempt == 2:
                    raise
                log.info("%s: concurrent import of the same events, retrying", label)
    raise AssertionError("unreachable")


def prepare_rows(frame: pd.DataFrame, *, file: str, importing: bool = False) -> pd.DataFrame:
    """Normalise events for the store: text columns, parsed times, content hash, import key, extras.

    Raises
    ------
    InputError
        For missing columns, empty required values, unparseable times or unknown types/departments.
    """
    missing = [c for c in ("retailer_id", "time", "type", "department") if c not in frame.columns]
    if missing:
        raise InputError(
            Problem(file=file, message=f"missing columns: {', '.join(missing)}", hint="see `gridmgmt events --help`")
        )
    if frame.empty:
        raise InputError(Problem(file=file, message="no events to add", hint="the table has a header but no rows"))
    columns = {c: frame[c].tolist() for c in EVENT_COLUMNS if c in frame.columns}
    checked, problems = check_columns(columns, file=file)
    out = pd.DataFrame({c: checked[c] for c in EVENT_COLUMNS if c != "time"}, index=pd.RangeIndex(len(frame)))
    out.insert(2, "time", pd.to_datetime(pd.Series(checked["time"], dtype=object)))
    rows = np.arange(len(out)) + 2  # spreadsheet rows: the header is row 1
    for row in rows[(out["event_id"] != "").to_numpy() & out["event_id"].duplicated(keep="first").to_numpy()]:
        problems.append(Problem(file=file, row=int(row), field="event_id", message="duplicate event_id in this table"))
    if problems:
        raise InputError(problems)
    extra_columns = [c for c in frame.columns if c not in EVENT_COLUMNS and c not in _INTERNAL]
    out["extra"] = _extras(frame.reset_index(drop=True), extra_columns)
    content = out["retailer_id"].str.cat(
        [
            out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
            *(out[c] for c in ("type", "department", "outcome", "severity", "violation_kind", "note", "corrects")),
            out["extra"].fillna(""),
        ],
        sep="\x1f",
    )
    out["content_hash"] = [hashlib.sha256(text.encode()).hexdigest()[:40] for text in content]
    # rows without an id are known again by content; the n-th identical row of a file is its own event
    occurrence = out.groupby("content_hash").cumcount()
    keyed = (out["event_id"] == "") & importing
    out["import_key"] = None
    out.loc[keyed, "import_key"] = "h:" + out.loc[keyed, "content_hash"] + ":" + occurrence[keyed].astype(str)
    out["row"] = rows
    return out


def _extras(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The extra columns of each row as a JSON object (None when all are empty)."""
    if not columns:
        return pd.Series([None] * len(frame), dtype=object)
    values = frame[columns].astype(object).where(frame[columns].notna(), "")
    texts = []
    for record in values.to_dict("records"):
        kept = {k: (v if isinstance(v, (bool, int, float)) else str(v)) for k, v in record.items() if v != ""}
        texts.append(json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else None)
    return pd.Series(texts, dtype=object)


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _lookup(conn: sa.Connection, column: sa.Column, keys: Iterable[str], *extra: sa.Column) -> dict[str, tuple]:
    """``{key: (extra columns...)}`` of the log's rows whose ``column`` is one of ``keys``."""
    found: dict[str, tuple] = {}
    unique = sorted(set(keys))
    for chunk in _chunks(unique):
        for row in conn.execute(sa.select(column, *extra).where(column.in_(chunk))):
            found[row[0]] = tuple(row[1:])
    return found


def write_rows(
    conn: sa.Connection,
    rows: pd.DataFrame,
    *,
    file: str,
    source: str = "",
    recorded_by: str = "",
    check: bool = True,
    importing: bool = True,
) -> ImportResult:
    """Store rows from :func:`prepare_rows` inside the caller's write transaction (see :func:`import_events`)."""
    problems: list[Problem] = []
    skip = np.zeros(len(rows), dtype=bool)
    has_id = (rows["event_id"] != "").to_numpy()
    empty_log = conn.execute(sa.select(events.c.seq).limit(1)).first() is None
    if has_id.any() and not empty_log:
        stored = _lookup(conn, events.c.event_id, rows.loc[has_id, "event_id"], events.c.content_hash)
        for pos in np.flatnonzero(has_id):
            event_id = rows["event_id"].iat[pos]
            if event_id not in stored:
                continue
            if importing and stored[event_id][0] == rows["content_hash"].iat[pos]:
                skip[pos] = True
            else:
                problems.append(
                    Problem(
                        file=file,
                        row=int(rows["row"].iat[pos]),
                        field="event_id",
                        value=event_id,
                        message="event_id already in the log" + (" with other content" if importing else ""),
                        hint="the log is append-only: give the new event its own id (or leave event_id empty)",
                    )
                )
    keyed = rows["import_key"].notna().to_numpy()
    if keyed.any() and not empty_log:
        stored_keys = _lookup(conn, events.c.import_key, rows.loc[keyed, "import_key"])
        skip |= rows["import_key"].isin(stored_keys.keys()).to_numpy()
    fixes = rows.loc[rows["corrects"] != ""]
    if len(fixes):
        wanted = rows.loc[rows["event_id"].isin(set(fixes["corrects"]))]
        problems += _correction_problems(conn, fixes.to_dict("records"), wanted.to_dict("records"), file=file)
    if check:
        kept = rows.loc[~skip]
        problems += _check_retailers(conn, zip(kept["row"], kept["retailer_id"], strict=True), file=file)
    if problems:
        raise InputError(problems)
    new = rows.loc[~skip].copy()
    blank = new["event_id"] == ""
    new.loc[blank, "event_id"] = [new_event_id() for _ in range(int(blank.sum()))]
    if len(new):
        now = datetime.now().replace(microsecond=0)
        records = new.drop(columns=["row", "time"]).astype(object)
        records = records.where(records.notna() & (records != ""), None)  # NULL, never NaN or ''
        for column in ("outcome", "severity", "violation_kind", "note"):
            records[column] = new[column].astype(object)  # '' stays '' in these NOT NULL columns
        records["time"] = list(new["time"].dt.to_pydatetime())
        records = records.assign(source=source, recorded_at=now, recorded_by=recorded_by)
        conn.execute(events.insert(), records.to_dict("records"))
    added = new[list(EVENT_COLUMNS)].reset_index(drop=True)
    return ImportResult(added=added, skipped=int(skip.sum()))


def _correction_problems(
    conn: sa.Connection, fixes: Sequence[dict], batch: Iterable[dict], *, file: str
) -> list[Problem]:
    """What is wrong with the corrections among ``fixes``; their targets are in ``batch`` or the log."""
    fixes = [row for row in fixes if row["corrects"]]
    if not fixes:
        return []
    wanted = {row["corrects"] for row in fixes}
    targets = {row["event_id"]: row for row in batch if row["event_id"] in wanted}
    fields = ("time", "retailer_id", "department")
    found = _lookup(conn, events.c.event_id, wanted - targets.keys(), *(events.c[c] for c in fields))
    targets.update({k: dict(zip(fields, v, strict=True)) for k, v in found.items()})
    problems = [correction_problem(row, targets.get(row["corrects"]), file=file, row=int(row["row"])) for row in fixes]
    return [p for p in problems if p is not None]


def _check_retailers(conn: sa.Connection, rows: Iterable[tuple[int, str]], *, file: str) -> list[Problem]:
    """Events must name a retailer the store knows, once the store holds retailers; ``rows``: (row, retailer_id)."""
    rows = list(rows)
    known = _lookup(conn, retailers.c.retailer_id, [r for _, r in rows])
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


def events_between(
    engine: sa.Engine,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    *,
    types: Sequence[str] | None = None,
    retailer_ids: Sequence[str] | None = None,
    label: str = "store",
) -> pd.DataFrame:
    """Events with ``start <= time < end`` (either bound optional), oldest first, through the indexes.

    Returns
    -------
    pandas.DataFrame
        :data:`EVENT_COLUMNS` (``time`` as ``datetime64``, text columns '' when empty),
        ``corrected_by`` (the newest event correcting it, '' when none) and any extra columns
        the events were recorded with.
    """
    with read_connection(engine, label) as conn:
        sqlite = conn.dialect.name == "sqlite"
        # SQLite keeps times as ISO text: compare and fetch text, and let pandas parse the column at once
        time_col = sa.type_coerce(events.c.time, sa.String) if sqlite else events.c.time

        def bound(value: str | pd.Timestamp) -> object:
            stamp = pd.Timestamp(value)
            return stamp.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else stamp.to_pydatetime()

        columns = [time_col.label("time") if c == "time" else events.c[c] for c in EVENT_COLUMNS]
        stmt = sa.select(*columns, events.c.extra).order_by(events.c.time, events.c.seq)
        if start is not None:
            stmt = stmt.where(time_col >= bound(start))
        if end is not None:
            stmt = stmt.where(time_col < bound(end))
        if types is not None:
            stmt = stmt.where(events.c.type.in_(list(types)))
        if retailer_ids is not None:
            stmt = stmt.where(events.c.retailer_id.in_(list(retailer_ids)))
        # the driver's cursor directly: millions of rows without a Python object per row on our side
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if compiled.positional:
            params = tuple(params[name] for name in compiled.positiontup or ())
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(str(compiled), params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=[*EVENT_COLUMNS, "extra"])
        finally:
            cursor.close()
        # a correction is no earlier than the event it corrects: those of the window's events are in it or later
        fixes = sa.select(events.c.corrects, events.c.event_id).where(events.c.corrects.is_not(None))
        if start is not None:
            fixes = fixes.where(time_col >= bound(start))
        corrected_by = dict(conn.execute(fixes.order_by(events.c.time, events.c.seq)).all())  # the newest wins
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601") if len(frame) else pd.to_datetime(frame["time"])
    frame["corrects"] = frame["corrects"].fillna("")
    frame.insert(
        len(EVENT_COLUMNS), "corrected_by", frame["event_id"].map(corrected_by).fillna("") if corrected_by else ""
    )
    extras = frame.pop("extra")
    if extras.notna().any():
        parsed = pd.DataFrame([json.loads(x) if x else {} for x in extras], index=frame.index)
        frame = frame.join(parsed.fillna(""))
    return frame


def count_events(engine: sa.Engine, *, label: str = "store") -> int:
    """Number of events in the log."""
    with read_connection(engine, label) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())
