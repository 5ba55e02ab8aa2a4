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
from gridmgmt.config import DEPARTMENTS, EVENT_TYPES
from gridmgmt.store.engine import read_connection, translate_errors
from gridmgmt.store.schema import events, retailers

log = logging.getLogger(__name__)

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
_TEXT = ("event_id", "retailer_id", "type", "department", "outcome", "severity", "violation_kind", "note", "corrects")
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
    rows = [_prepare_record(record, file=file, row=i + 2) for i, record in enumerate(records)]
    problems = [p for row in rows for p in row.pop("problems")]
    if not records:
        problems.append(Problem(file=file, message="no events to add", hint="the table has a header but no rows"))
    else:
        missing = [c for c in ("retailer_id", "time", "type", "department") if c not in records[0]]
        if missing:
            raise InputError(
                Problem(
                    file=file, message=f"missing columns: {', '.join(missing)}", hint="see `gridmgmt events --help`"
                )
            )
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
        if any(row["corrects"] for row in rows):
            problems += _check_corrections(conn, pd.DataFrame(rows), file=file)
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


def _prepare_record(record: dict, *, file: str, row: int) -> dict:
    """One event as :func:`prepare_rows` makes it (text, parsed time, extras, content hash) plus its problems."""
    out: dict = {"row": row}
    for column in _TEXT:
        value = record.get(column)
        out[column] = "" if _missing(value) else str(value).strip()
    raw = record.get("time")
    if _missing(raw):
        stamp = pd.NaT
    elif isinstance(raw, (datetime, np.datetime64)):
        stamp = pd.Timestamp(raw)
    else:  # text: parsed exactly as prepare_rows parses a column
        stamp = pd.to_datetime(pd.Series([str(raw).strip()]), errors="coerce", format="mixed").iat[0]
    if stamp is not pd.NaT and stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    problems = []
    for column, hint in (("retailer_id", "name the retailer's licence number"), ("type", ""), ("department", "")):
        if out[column] == "":
            problems.append(Problem(file=file, row=row, field=column, message="empty", hint=hint))
    if stamp is pd.NaT:
        problems.append(Problem(file=file, row=row, field="time", message="not a time", value=raw, hint=""))
    for column, allowed in (("type", EVENT_TYPES), ("department", DEPARTMENTS)):
        if out[column] not in allowed and out[column] != "":
            problems.append(
                Problem(
                    file=file,
                    row=row,
                    field=column,
                    message="unknown value",
                    value=out[column],
                    hint=", ".join(allowed),
                )
            )
    kept = {
        k: (v if isinstance(v, (bool, int, float)) else str(v))
        for k, v in record.items()
        if k not in EVENT_COLUMNS and k not in _INTERNAL and not _missing(v) and v != ""
    }
    out["extra"] = json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else None
    out["time"] = None if stamp is pd.NaT else stamp.to_pydatetime()
    if out["time"] is not None:
        text = "\x1f".join(
            [
                out["retailer_id"],
                stamp.strftime("%Y-%m-%dT%H:%M:%S"),
                *(out[c] for c in ("type", "department", "outcome", "severity", "violation_kind", "note", "corrects")),
                out["extra"] or "",
            ]
        )
        out["content_hash"] = hashlib.sha256(text.encode()).hexdigest()[:40]
    out["import_key"] = None
    out["problems"] = problems
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


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
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column in _TEXT:
        values = frame[column] if column in frame.columns else pd.Series("", index=frame.index)
        out[column] = values.fillna("").astype(str).str.strip().to_numpy()
    raw_time = frame["time"].reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw_time):
        out["time"] = raw_time.dt.tz_localize(None) if raw_time.dt.tz is not None else raw_time
    else:
        out["time"] = pd.to_datetime(raw_time.astype(str).str.strip(), errors="coerce", format="mixed")
    problems = []
    rows = np.arange(len(out)) + 2  # spreadsheet rows: the header is row 1
    for column, hint in (("retailer_id", "name the retailer's licence number"), ("type", ""), ("department", "")):
        for row in rows[(out[column] == "").to_numpy()]:
            problems.append(Problem(file=file, row=int(row), field=column, message="empty", hint=hint))
    for row, value in zip(rows[out["time"].isna().to_numpy()], raw_time[out["time"].isna()], strict=True):
        problems.append(Problem(file=file, row=int(row), field="time", message="not a time", value=value, hint=""))
    for column, allowed in (("type", EVENT_TYPES), ("department", DEPARTMENTS)):
        bad = ~out[column].isin(allowed) & (out[column] != "")
        for row, value in zip(rows[bad.to_numpy()], out.loc[bad, column], strict=True):
            problems.append(
                Problem(
                    file=file, row=int(row), field=column, message="unknown value", value=value, hint=", ".join(allowed)
                )
            )
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
    problems += _check_corrections(conn, rows, file=file)
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


def _check_corrections(conn: sa.Connection, rows: pd.DataFrame, *, file: str) -> list[Problem]:
    """``corrects`` names an event of the log or of this table, other and no later than the correction."""
    has = (rows["corrects"] != "").to_numpy()
    if not has.any():
        return []
    batch = dict(zip(rows["event_id"], rows["time"], strict=True))
    targets = set(rows.loc[has, "corrects"]) - set(batch)
    stored = {k: v[0] for k, v in _lookup(conn, events.c.event_id, targets, events.c.time).items()}
    problems = []
    for pos in np.flatnonzero(has):
        target, row = rows["corrects"].iat[pos], int(rows["row"].iat[pos])
        when = batch.get(target, stored.get(target))
        if target == rows["event_id"].iat[pos]:
            message, hint = "an event cannot correct itself", "name the event_id of an earlier event"
        elif when is None:
            message, hint = "corrects an event that does not exist", "name the event_id of an earlier event in the log"
        elif pd.Timestamp(when) > rows["time"].iat[pos]:
            message = f"corrects a later event (at {pd.Timestamp(when):%Y-%m-%dT%H:%M})"
            hint = "a correction is recorded after the event it corrects; check the time or the event_id"
        else:
            continue
        problems.append(Problem(file=file, row=row, field="corrects", value=target, message=message, hint=hint))
    return problems


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
        :data:`EVENT_COLUMNS` (``time`` as ``datetime64``, text columns '' when empty) plus any
        extra columns the events were recorded with.
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
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601") if len(frame) else pd.to_datetime(frame["time"])
    frame["corrects"] = frame["corrects"].fillna("")
    extras = frame.pop("extra")
    if extras.notna().any():
        parsed = pd.DataFrame([json.loads(x) if x else {} for x in extras], index=frame.index)
        frame = frame.join(parsed.fillna(""))
    return frame


def count_events(engine: sa.Engine, *, label: str = "store") -> int:
    """Number of events in the log."""
    with read_connection(engine, label) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())
