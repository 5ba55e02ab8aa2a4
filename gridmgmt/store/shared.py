"""The shared store behind one interface: ``open_store(path or URL)`` -> :class:`SharedStore`.

An embedded SQLite file by default (a path), or PostgreSQL + PostGIS for a bureau's server
(``postgresql://user@host/db``), also from ``$GRIDMGMT_STORE``. The same methods work on both;
opening creates or upgrades the schema (Alembic, idempotent).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from gridmgmt._errors import StoreError
from gridmgmt.store import backup as _backup
from gridmgmt.store import eventlog, history, runs
from gridmgmt.store.engine import (
    create_store_engine,
    read_connection,
    require_file,
    store_name,
    store_url,
    upgrade,
    write_transaction,
)

if TYPE_CHECKING:
    from gridmgmt.inputs.district import District

log = logging.getLogger(__name__)


class SharedStore:
    """One district's shared store; create it with :func:`open_store`.

    Attributes
    ----------
    url
        The SQLAlchemy URL (password hidden in ``str``).
    engine
        The SQLAlchemy engine, for queries this class does not offer.
    read_only
        Whether it was opened read-only.
    """

    def __init__(self, url: sa.URL, engine: sa.Engine, *, read_only: bool = False) -> None:
        self.url = url
        self.engine = engine
        self.read_only = read_only
        self.label = self._label()

    def _label(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            return str(self.url.database or "").removeprefix("file:").split("?")[0]
        return self.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"SharedStore({self.label!r})"

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> SharedStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ event log

    def add_events(self, frame: pd.DataFrame, *, source: str = "", recorded_by: str = "") -> pd.DataFrame:
        """Append events, all or nothing; see :func:`gridmgmt.store.eventlog.append_events`."""
        return eventlog.append_events(self.engine, frame, label=self.label, source=source, recorded_by=recorded_by)

    def add_records(self, records: list[dict], *, source: str = "", recorded_by: str = "") -> list[dict]:
        """Append a few events given as dicts, all or nothing; see :func:`gridmgmt.store.eventlog.append_records`."""
        return eventlog.append_records(self.engine, records, label=self.label, source=source, recorded_by=recorded_by)

    def add_event(self, *, source: str = "command line", recorded_by: str = "", **fields: Any) -> pd.Series:
        """Append one event given as keyword fields (``retailer_id=``, ``time=``, ``type=``, ...); return it."""
        return self.add_events(pd.DataFrame([fields]), source=source, recorded_by=recorded_by).iloc[0]

    def import_events(self, frame: pd.DataFrame, *, source: str = "", recorded_by: str = "") -> eventlog.ImportResult:
        """Import events all or nothing, idempotently; see :func:`gridmgmt.store.eventlog.import_events`."""
        return eventlog.import_events(self.engine, frame, label=self.label, source=source, recorded_by=recorded_by)

    def events_between(
        self,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        *,
        types: Sequence[str] | None = None,
        retailer_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Events with ``start <= time < end``, oldest first (see :func:`gridmgmt.store.eventlog.events_between`)."""
        return eventlog.events_between(
            self.engine, start, end, types=types, retailer_ids=retailer_ids, label=self.label
        )

    def count_events(self) -> int:
        """Number of events in the log."""
        return eventlog.count_events(self.engine, label=self.label)

    # ------------------------------------------------------------------ history

    def responsible_pair(self, retailer_id: str, on_date: str | date) -> history.ResponsiblePair | None:
        """The grid and pair responsible for a retailer on a date (None: unlicensed or unassigned)."""
        return history.responsible_pair(self.engine, retailer_id, on_date, label=self.label)

    def assignment_on(self, on_date: str | date) -> pd.DataFrame:
        """Every retailer's grid on a date."""
        return history.assignment_on(self.engine, on_date, label=self.label)

    def pairs_on(self, on_date: str | date) -> pd.DataFrame:
        """Every grid's pair on a date."""
        return history.pairs_on(self.engine, on_date, label=self.label)

    def publish_assignment(self, assignment: pd.DataFrame, valid_from: str | date, *, run_id: str | None = None) -> int:
        """Make a grid assignment current from a date; earlier periods stay readable; return retailers moved."""
        with write_transaction(self.engine, self.label) as conn:
            return history.publish_assignment(conn, assignment, valid_from, run_id=run_id)

    def publish_pairs(self, frame: pd.DataFrame, valid_from: str | date) -> int:
        """Make staff pairs current from a date; return the grids whose pair changed."""
        with write_transaction(self.engine, self.label) as conn:
            return history.publish_pairs(conn, frame, valid_from)

    def close_licence(self, retailer_id: str, closed: str | date) -> None:
        """Record that a retailer's licence ended (``closed`` is its first day without)."""
        with write_transaction(self.engine, self.label) as conn:
            history.close_licence(conn, retailer_id, closed)

    def retailers(self) -> pd.DataFrame:
        """The stored retailers (GeoDataFrame, WGS-84)."""
        return history.read_retailers(self.engine, label=self.label)

    def retailer_ids(self) -> set[str]:
        """Ids of the stored retailers (cheap: no geometry)."""
        with read_connection(self.engine, self.label) as conn:
            return set(conn.execute(sa.select(history.retailers.c.retailer_id)).scalars())

    def features(self, layer: str) -> pd.DataFrame:
        """A stored feature layer (boundary, depots, subdistricts, schools)."""
        return history.read_features(self.engine, layer, label=self.label)

    # ------------------------------------------------------------------ runs

    def write_run(
        self,
        kind: str,
        layers: Mapping[str, pd.DataFrame],
        *,
        inputs: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        assignment_from: str | date | None = None,
    ) -> str:
        """Store a command's result as a new run; return its id.

        With ``assignment_from`` (a grids run), its ``assignment`` layer (``retailer_id``,
        ``grid_id``) also becomes the current grid assignment from that date, in the same transaction.
        """
        with write_transaction(self.engine, self.label) as conn:
            run_id = runs.write_run(conn, kind, layers, inputs=inputs, parameters=parameters)
            if assignment_from is not None:
                history.publish_assignment(conn, layers["assignment"], assignment_from, run_id=run_id)
        return run_id

    def read_run(self, run_id: str | None = None, *, kind: str | None = None) -> runs.Run:
        """A run by id, or the newest of a kind."""
        return runs.read_run(self.engine, run_id, kind=kind, label=self.label)

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        """Stored runs, newest first."""
        return runs.list_runs(self.engine, kind, label=self.label)

    # ------------------------------------------------------------------ whole store

    def is_initialised(self) -> bool:
        """Whether ``store init`` has loaded a district (the store holds retailers)."""
        with read_connection(self.engine, self.label) as conn:
            return conn.execute(sa.select(history.retailers.c.retailer_id).limit(1)).first() is not None

    def init_district(
        self, district: District, *, valid_from: str | date | None = None, events_source: str = ""
    ) -> dict[str, int]:
        """Load a district's inputs into the store once, all in one transaction; return counts per table.

        Retailers (with licence periods from ``licence_date``), staff and their pairs, grid
        assignment from the retailers' ``grid_id`` (when given), boundary, depots, subdistricts
        and schools as feature layers, and the district's events (an idempotent import).
        ``valid_from`` (default: the day of the first event, else today) starts the periods.

        Raises
        ------
        StoreError
            When the store already holds a district (nothing is changed).
        """
        if self.is_initialised():
            raise StoreError(f"{self.label}: the store already holds a district; nothing changed")
        start = pd.Timestamp(valid_from) if valid_from is not None else None
        if start is None:
            times = (
                pd.to_datetime(district.events["time"]) if len(district.events) else pd.Series(dtype="datetime64[ns]")
            )
            start = times.min().normalize() if len(times) else pd.Timestamp.now().normalize()
        day = start.date()
        counts: dict[str, int] = {}
        with write_transaction(self.engine, self.label) as conn:
            counts["retailers"] = history.write_retailers(conn, district.retailers)
            counts["staff"] = history.write_staff(conn, district.staff)
            counts["staff_pairs"] = history.publish_pairs(conn, history.pairs_from_staff(district.staff), day)
            if "grid_id" in district.retailers.columns:
                counts["grid_assignments"] = history.publish_assignment(
                    conn, district.retailers[["retailer_id", "grid_id"]], day
                )
            for name in ("boundary", "depots", "subdistricts", "schools"):
                layer = getattr(district, name, None)
                if layer is not None and len(layer):
                    counts[name] = history.write_features(conn, name, layer)
            if len(district.events):
                source = events_source or "district events"
                rows = eventlog.prepare_rows(district.events, file=source, importing=True)
                counts["events"] = len(eventlog.write_rows(conn, rows, file=source, source=source).added)
        return counts

    def backup(self, to: str | os.PathLike) -> Path:
        """A consistent copy of the store while others write (see :func:`gridmgmt.store.backup.backup`)."""
        return _backup.backup(self.engine, to, label=self.label)

    def export(self, to: str | os.PathLike) -> tuple[Path, list[str]]:
        """Every current layer into one GeoPackage for QGIS/ArcGIS users; return it and its layer names."""
        return _backup.export_gpkg(self.engine, to, label=self.label)


def open_store(
    url_or_path: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    create: bool = False,
    busy_timeout_s: float | None = None,
) -> SharedStore:
    """Open the shared store, upgrading its schema when needed; create it only with ``create``.

    Parameters
    ----------
    url_or_path
        A path (SQLite file), ``sqlite:///...`` or ``postgresql://...``; None or '' reads ``$GRIDMGMT_STORE``.
    read_only
        Refuse every write (SQLite ``mode=ro``; a read-only PostgreSQL session).
    create
        Create the store when missing (``store init``, ``demo``, ``init``); otherwise a missing
        store raises :class:`gridmgmt.store.engine.StoreMissingError`.
    busy_timeout_s
        How long to wait for another's lock, in seconds (default ``Timeouts.from_env().lock_s``).

    Raises
    ------
    StoreError
        When the store is missing or cannot be opened or upgraded (one line saying why).
    """
    url = store_url(url_or_path, read_only=read_only)
    require_file(url, store_name(url_or_path, url), create=create and not read_only)
    engine = create_store_engine(url, busy_timeout_s=busy_timeout_s, create=create)
    store = SharedStore(url, engine, read_only=read_only)
    try:
        upgrade(engine, store_name(url_or_path, url), read_only=read_only, create=create)
    except BaseException:
        engine.dispose()
        raise
    return store
