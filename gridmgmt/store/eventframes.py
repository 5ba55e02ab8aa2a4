"""The shared event log as data frames: import files (idempotent), append tables, read by time window.

An import skips every row the log already holds: rows with ids by id (same content: skipped;
other content: an error), rows without ids by a content key, so the same file imported twice
adds nothing the second time. Small tables take the plain-row path of
:mod:`gridmgmt.store.eventlog`, which holds the log's rules (ids, checks, the append itself).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc

from gridmgmt._errors import InputError, Problem
from gridmgmt.store.engine import read_connection, translate_errors
from gridmgmt.store.eventlog import (
    INTERNAL_COLUMNS,
    append_records,
    check_corrections,
    corrected_by,
    event_filters,
    lookup,
    new_event_id,
    time_column,
    unknown_retailers,
)
from gridmgmt.store.schema import events
from gridmgmt.store.validate import EVENT_COLUMNS, check_columns

log = logging.getLogger(__name__)

SMALL_APPEND = 50  # appends of up to this many rows take the plain-Python path (append_records)


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
    extra_columns = [c for c in frame.columns if c not in EVENT_COLUMNS and c not in INTERNAL_COLUMNS]
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
        stored = lookup(conn, events.c.event_id, rows.loc[has_id, "event_id"], events.c.content_hash)
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
        stored_keys = lookup(conn, events.c.import_key, rows.loc[keyed, "import_key"])
        skip |= rows["import_key"].isin(stored_keys.keys()).to_numpy()
    fixes = rows.loc[rows["corrects"] != ""]
    if len(fixes):
        wanted = rows.loc[rows["event_id"].isin(set(fixes["corrects"]))]
        problems += check_corrections(conn, fixes.to_dict("records"), wanted.to_dict("records"), file=file)
    if check:
        kept = rows.loc[~skip]
        problems += unknown_retailers(conn, zip(kept["row"], kept["retailer_id"], strict=True), file=file)
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
    first = None if start is None else pd.Timestamp(start).to_pydatetime()
    last = None if end is None else pd.Timestamp(end).to_pydatetime()
    with read_connection(engine, label) as conn:
        # SQLite keeps times as ISO text: fetch the text, and let pandas parse the column at once
        when = time_column(conn.dialect.name)
        columns = [when.label("time") if c == "time" else events.c[c] for c in EVENT_COLUMNS]
        terms = event_filters(conn.dialect.name, first, last, types=types, retailer_ids=retailer_ids)
        stmt = sa.select(*columns, events.c.extra).where(*terms).order_by(events.c.time, events.c.seq)
        # the driver's cursor directly: millions of rows without a Python object per row on our side
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if compiled.positional:
            params = tuple(params[name] for name in compiled.positiontup or ())
        driver = conn.connection.driver_connection
        assert driver is not None  # the DB-API connection of an open connection
        cursor = driver.cursor()
        try:
            cursor.execute(str(compiled), params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=[*EVENT_COLUMNS, "extra"])
        finally:
            cursor.close()
        fixes = corrected_by(conn, first)
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601") if len(frame) else pd.to_datetime(frame["time"])
    frame["corrects"] = frame["corrects"].fillna("")
    frame.insert(len(EVENT_COLUMNS), "corrected_by", frame["event_id"].map(fixes).fillna("") if fixes else "")
    extras = frame.pop("extra")
    if extras.notna().any():
        parsed = pd.DataFrame([json.loads(x) if x else {} for x in extras], index=frame.index)
        frame = frame.join(parsed.fillna(""))
    return frame
