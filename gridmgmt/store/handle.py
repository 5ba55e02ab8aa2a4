"""The store opened without pandas: its connection, the event log as plain rows, the backup.

:class:`StoreHandle` is what the small commands (``events add|list``, ``users``, ``store
backup``) and the web service's single events need; :class:`gridmgmt.store.shared.SharedStore`
extends it with data frames (history, runs, imports), which load pandas and geopandas.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Self

import sqlalchemy as sa

from gridmgmt.store import backup, eventlog, owners
from gridmgmt.store.engine import create_store_engine, read_connection, require_file, store_name, store_url, upgrade
from gridmgmt.store.schema import retailers


class StoreHandle:
    """One district's shared store; open it with :meth:`open`.

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

    @classmethod
    def open(
        cls,
        url_or_path: str | os.PathLike | None = None,
        *,
        read_only: bool = False,
        create: bool = False,
        busy_timeout_s: float | None = None,
    ) -> Self:
        """Open the store, upgrading its schema when needed; create it only with ``create``.

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
        store = cls(url, engine, read_only=read_only)
        try:
            upgrade(engine, store_name(url_or_path, url), read_only=read_only, create=create)
        except BaseException:
            engine.dispose()
            raise
        return store

    def _label(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            return str(self.url.database or "").removeprefix("file:").split("?")[0]
        return self.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ event log

    def add_records(self, records: list[dict], *, source: str = "", recorded_by: str = "") -> list[dict]:
        """Append a few events given as dicts, all or nothing; see :func:`gridmgmt.store.eventlog.append_records`."""
        return eventlog.append_records(self.engine, records, label=self.label, source=source, recorded_by=recorded_by)

    def add_records_once(
        self, records: list[dict], *, source: str = "", recorded_by: str = ""
    ) -> tuple[list[dict], bool]:
        """Append events whose ids the sender made, each id once; see :func:`gridmgmt.store.eventlog.append_once`."""
        return eventlog.append_once(self.engine, records, label=self.label, source=source, recorded_by=recorded_by)

    def event_rows(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        types: Sequence[str] | None = None,
        retailer_ids: Sequence[str] | None = None,
    ) -> list[dict]:
        """Events with ``start <= time < end``, oldest first, as dicts (:func:`gridmgmt.store.eventlog.event_rows`)."""
        return eventlog.event_rows(self.engine, start, end, types=types, retailer_ids=retailer_ids, label=self.label)

    def corrected_between(self, start: datetime | None = None, end: datetime | None = None) -> set[str]:
        """Ids of the events that events with ``start <= time < end`` correct."""
        return eventlog.corrected_between(self.engine, start, end, label=self.label)

    def count_events(self) -> int:
        """Number of events in the log."""
        return eventlog.count_events(self.engine, label=self.label)

    # ------------------------------------------------------------------ whole store

    def is_initialised(self) -> bool:
        """Whether ``store init`` has loaded a district (the store holds retailers)."""
        with read_connection(self.engine, self.label) as conn:
            return conn.execute(sa.select(retailers.c.retailer_id).limit(1)).first() is not None

    def retailer_ids(self) -> set[str]:
        """Ids of the stored retailers (cheap: no geometry)."""
        with read_connection(self.engine, self.label) as conn:
            return set(conn.execute(sa.select(retailers.c.retailer_id)).scalars())

    def owners_on(self, on_date: date) -> list[dict]:
        """Every retailer's grid and the grid's pair on a date, as dicts (:func:`gridmgmt.store.owners.owners_on`)."""
        return owners.owners_on(self.engine, on_date, label=self.label)

    def backup(self, to: str | os.PathLike) -> Path:
        """A consistent copy of the store while others write (see :func:`gridmgmt.store.backup.backup`)."""
        return backup.backup(self.engine, to, label=self.label)
