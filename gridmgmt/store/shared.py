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
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from gridmgmt._errors import StoreError
from gridmgmt.store import eventframes, export, history, runs
from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.handle import StoreHandle

log = logging.getLogger(__name__)


class DistrictFrames(Protocol):
    """What :meth:`SharedStore.init_district` reads of a district (a :class:`gridmgmt.inputs.district.District`)."""

    @property
    def retailers(self) -> pd.DataFrame: ...

    @property
    def staff(self) -> pd.DataFrame: ...

    @property
    def events(self) -> pd.DataFrame: ...

    @property
    def boundary(self) -> pd.DataFrame: ...

    @property
    def depots(self) -> pd.DataFrame: ...

    @property
    def subdistricts(self) -> pd.DataFrame | None: ...

    @property
    def schools(self) -> pd.DataFrame | None: ...


class SharedStore(StoreHandle):
    """One district's shared store with its data frames; create it with :func:`open_store`.

    The connection, the event log as plain rows and the backup are :class:`StoreHandle`'s.
    """

    # ------------------------------------------------------------------ event log

    def add_events(self, frame: pd.DataFrame, *, source: str = "", recorded_by: str = "") -> pd.DataFrame:
        """Append events, all or nothing; see :func:`gridmgmt.store.eventframes.append_events`."""
        return eventframes.append_events(self.engine, frame, label=self.label, source=source, recorded_by=recorded_by)

    def add_event(self, *, source: str = "command line", recorded_by: str = "", **fields: Any) -> pd.Series:
        """Append one event given as keyword fields (``retailer_id=``, ``time=``, ``type=``, ...); return it."""
        return self.add_events(pd.DataFrame([fields]), source=source, recorded_by=recorded_by).iloc[0]

    def import_events(
        self, frame: pd.DataFrame, *, source: str = "", recorded_by: str = ""
    ) -> eventframes.ImportResult:
        """Import events all or nothing, idempotently; see :func:`gridmgmt.store.eventframes.import_events`."""
        return eventframes.import_events(self.engine, frame, label=self.label, source=source, recorded_by=recorded_by)

    def events_between(
        self,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        *,
        types: Sequence[str] | None = None,
        retailer_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Events with ``start <= time < end``, oldest first (see :func:`gridmgmt.store.eventframes.events_between`)."""
        return eventframes.events_between(
            self.engine, start, end, types=types, retailer_ids=retailer_ids, label=self.label
        )

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

    def first_pairs_day(self) -> date | None:
        """The first day of the staff pairs the store records (``store init``), None without any."""
        with read_connection(self.engine, self.label) as conn:
            return conn.execute(sa.select(sa.func.min(history.pairs.c.valid_from))).scalar()

    def retailers(self) -> pd.DataFrame:
        """The stored retailers (GeoDataFrame, WGS-84)."""
        return history.read_retailers(self.engine, label=self.label)

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
        ``grid_id``) also becomes the current grid assignment from that date, in the same transaction,
        and so do the pairs its ``grids`` layer names (a build matches pairs to grids by travel mode,
        so the pair serving a grid is the build's, not the staff table's).
        """
        with write_transaction(self.engine, self.label) as conn:
            run_id = runs.write_run(conn, kind, layers, inputs=inputs, parameters=parameters)
            if assignment_from is not None:
                history.publish_assignment(conn, layers["assignment"], assignment_from, run_id=run_id)
                named = history.pairs_of_grids(layers.get("grids"))
                if not named.empty:
                    history.publish_pairs(conn, named, assignment_from)
        return run_id

    def read_run(self, run_id: str | None = None, *, kind: str | None = None) -> runs.Run:
        """A run by id, or the newest of a kind."""
        return runs.read_run(self.engine, run_id, kind=kind, label=self.label)

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        """Stored runs, newest first."""
        return runs.list_runs(self.engine, kind, label=self.label)

    # ------------------------------------------------------------------ whole store

    def init_district(
        self, district: DistrictFrames, *, valid_from: str | date | None = None, events_source: str = ""
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
                rows = eventframes.prepare_rows(district.events, file=source, importing=True)
                counts["events"] = len(eventframes.write_rows(conn, rows, file=source, source=source).added)
        return counts

    def export(self, to: str | os.PathLike) -> tuple[Path, list[str]]:
        """Every current layer into one GeoPackage for QGIS/ArcGIS users; return it and its layer names."""
        return export.export_gpkg(self.engine, to, label=self.label)


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
    return SharedStore.open(url_or_path, read_only=read_only, create=create, busy_timeout_s=busy_timeout_s)
