"""Connecting to the shared store: URL or path, engine settings per backend, migrations, one-line errors.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE``: concurrent writers queue for the write lock instead of failing half-way
(a deferred transaction that later wants to write gets "database is locked" at once).
PostgreSQL needs nothing special: row locks and unique constraints do the work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc

from gridmgmt._errors import StoreError

ENV_VAR = "GRIDMGMT_STORE"
DEFAULT_NAME = "store.sqlite"
BUSY_TIMEOUT_S = 30.0
_SHORT_BUSY_S = 0.02
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Migration files are named <revision>_<what>.py with 4-digit revisions in one line (0001, 0002, ...),
# so the head is known from the file names alone: opening a current store never loads Alembic.
HEAD = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
_MIGRATION_LOCK = 0x67726964  # pg_advisory_xact_lock key ("grid"): one migrating process at a time

log = logging.getLogger(__name__)


def store_url(url_or_path: str | os.PathLike | None, *, read_only: bool = False) -> sa.URL:
    """The SQLAlchemy URL of a store given as a path, a ``sqlite:`` or ``postgresql:`` URL, or ``$GRIDMGMT_STORE``.

    Raises
    ------
    StoreError
        When neither is given, or the path is a GeoPackage (the old layer store or an export).
    """
    text = str(url_or_path) if url_or_path not in (None, "") else os.environ.get(ENV_VAR, "")
    if not text:
        raise StoreError(f"no store given: pass --store PATH|postgresql://... or set {ENV_VAR}")
    if re.match(r"^postgres(ql)?(\+\w+)?://", text):
        url = sa.make_url(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", text))
        if read_only:
            url = url.update_query_dict({"options": "-c default_transaction_read_only=on"})
        return url
    if text.startswith("sqlite:"):
        url = sa.make_url(text)
        path = Path(url.database or "")
    else:
        path = Path(text).expanduser()
    if path.suffix.lower() == ".gpkg":
        raise StoreError(
            f"{path}: a GeoPackage is not the shared store; give a .sqlite path "
            "(export layers for QGIS with `gridmgmt store export --to FILE.gpkg`)"
        )
    if read_only:
        # a URI with mode=ro: SQLite refuses writes even for root, unlike file permissions
        return sa.make_url(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    return sa.make_url(f"sqlite:///{path.resolve()}")


def create_store_engine(url: sa.URL, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> sa.Engine:
    """An engine for the store; on SQLite with WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=False)
    read_only = "mode=ro" in str(url)
    if not read_only:
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        # short: SQLite's own busy handler backs off up to 100 ms a try; writers queue in _on_begin instead
        cursor.execute(f"PRAGMA busy_timeout = {int(min(busy_timeout_s, _SHORT_BUSY_S) * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: an acknowledged event survives a power cut too, not only a crash of the process
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if not conn.get_execution_options().get("write", False):
            conn.exec_driver_sql("BEGIN")
            return
        raw = conn.connection.driver_connection
        deadline = time.monotonic() + busy_timeout_s
        while True:  # wait for the write lock in short random sleeps: fair and quick to hand over
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(0.0005, 0.003))

    return engine


@contextlib.contextmanager
def write_transaction(engine: sa.Engine, label: str) -> Iterator[sa.Connection]:
    """A write transaction (SQLite: ``BEGIN IMMEDIATE``), committed on success, errors as :class:`StoreError`."""
    with translate_errors(label), engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def read_connection(engine: sa.Engine, label: str) -> Iterator[sa.Connection]:
    """A connection for reading (one transaction, so reads are consistent), errors as :class:`StoreError`."""
    with translate_errors(label), engine.connect() as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def translate_errors(label: str) -> Iterator[None]:
    """Turn database errors into one-line :class:`StoreError` messages that say nothing was written."""
    try:
        yield
    except (exc.DBAPIError, sqlite3.Error) as error:  # sqlite3's own: from the BEGIN IMMEDIATE loop
        raise StoreError(describe_error(label, error)) from error


def describe_error(label: str, error: Exception) -> str:
    """One line for a database error: read-only, busy, no permission, unreachable, else the driver's first line."""
    orig = getattr(error, "orig", None)
    text = str(orig) if orig is not None else str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    lowered = first.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"{label}: the store is read-only ({first}); nothing was written"
    if "database is locked" in lowered or "database is busy" in lowered:
        return f"{label}: the store is locked by another writer ({first}); nothing was written, try again"
    if "permission denied" in lowered or "insufficient privilege" in lowered:
        return f"{label}: no permission to write to the store ({first}); nothing was written"
    if "append-only" in lowered:
        return f"{label}: {first}"
    if "unable to open" in lowered or ("connection" in lowered and "failed" in lowered):
        return f"{label}: cannot open the store ({first})"
    return f"{label}: {first}"


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the store, or None for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine, label: str, *, read_only: bool = False) -> None:
    """Create or upgrade the schema to :data:`HEAD` (idempotent, safe when racing).

    Raises
    ------
    StoreError
        When the store is read-only and not at the current schema, or newer than this gridmgmt.
    """
    with read_connection(engine, label) as conn:
        revision = current_revision(conn)
    if revision == HEAD:
        return
    if read_only:
        raise StoreError(f"{label}: the store's schema is {revision or 'empty'}, not {HEAD}; open it writable once")
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise StoreError(f"{label}: the store's schema {revision} is newer than this gridmgmt knows; upgrade gridmgmt")
    with write_transaction(engine, label) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")  # Alembic logs each step at INFO on its own logger ("alembic")
    log.info("%s: schema %s", label, f"upgraded {revision} -> {HEAD}" if revision else f"created ({HEAD})")
