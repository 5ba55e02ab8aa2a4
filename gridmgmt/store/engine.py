"""Connecting to the shared store: URL or path, engine settings per backend, migrations, one-line errors.

A store is opened, never invented: only ``store init``, ``demo`` and ``init`` pass ``create=True``;
any other command on a missing store gets :class:`StoreMissingError` (one line: how to create it).

SQLite runs in WAL mode with a busy timeout on every connection, and every write transaction
starts with ``BEGIN IMMEDIATE``: concurrent writers queue for the write lock instead of failing
half-way (a deferred transaction that later wants to write gets "database is locked" at once).
PostgreSQL connects with ``connect_timeout``, ``lock_timeout`` and ``statement_timeout``
(:class:`Timeouts`); row locks and unique constraints do the rest.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc

from gridmgmt._errors import StoreError

ENV_VAR = "GRIDMGMT_STORE"
DEFAULT_NAME = "store.sqlite"
BUSY_TIMEOUT_S = 30.0
_SHORT_BUSY_S = 0.02  # while queueing for the write lock in short sleeps (see _on_begin)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Migration files are named <revision>_<what>.py with 4-digit revisions in one line (0001, 0002, ...),
# so the head is known from the file names alone: opening a current store never loads Alembic.
HEAD = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
_MIGRATION_LOCK = 0x67726964  # pg_advisory_xact_lock key ("grid"): one migrating process at a time
#: The store's engine type, for the callers that pass one along without importing SQLAlchemy.
Engine = sa.Engine

log = logging.getLogger(__name__)


class StoreMissingError(StoreError):
    """No store where one was named: only ``store init`` (and ``demo``, ``init``) create a store."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"no store at {where}: create it with `gridmgmt store init --district DISTRICT.toml --store {where}`"
        )


@dataclass(frozen=True)
class Timeouts:
    """How long the store waits, in seconds; each from ``$GRIDMGMT_STORE_<NAME>_TIMEOUT_S`` (see :meth:`from_env`).

    ``lock_s`` is SQLite's busy timeout and PostgreSQL's ``lock_timeout``; ``connect_s`` and
    ``statement_s`` are PostgreSQL's ``connect_timeout`` and ``statement_timeout``.
    """

    connect_s: float = 10.0
    lock_s: float = BUSY_TIMEOUT_S
    statement_s: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Timeouts:
        """The defaults, overridden by ``GRIDMGMT_STORE_CONNECT_TIMEOUT_S``, ``..._LOCK_...``, ``..._STATEMENT_...``.

        Raises
        ------
        StoreError
            When a variable is not a positive number of seconds.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for name in ("connect", "lock", "statement"):
            var = f"GRIDMGMT_STORE_{name.upper()}_TIMEOUT_S"
            text = environ.get(var, "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise StoreError(f"${var}: {text!r} is not a number of seconds; give e.g. {var}=30")
            values[f"{name}_s"] = value
        return cls(**values)


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


def store_name(url_or_path: str | os.PathLike | None, url: sa.URL) -> str:
    """The store as its user named it: a path as given, else the URL with its password hidden."""
    if url.get_backend_name() == "sqlite" and url_or_path not in (None, "") and "://" not in str(url_or_path):
        return str(url_or_path)
    if url.get_backend_name() == "sqlite":
        return str(sqlite_path(url))
    return url.render_as_string(hide_password=True)


def sqlite_path(url: sa.URL) -> Path:
    """The file of a SQLite store URL (plain or ``file:...?mode=ro`` URI)."""
    return Path(str(url.database or "").removeprefix("file:").split("?")[0])


def require_file(url: sa.URL, where: str, *, create: bool = False) -> None:
    """Refuse a SQLite store whose file does not exist unless ``create`` (nothing is created here).

    Raises
    ------
    StoreMissingError
        When the file is missing and ``create`` is False.
    """
    if url.get_backend_name() == "sqlite" and not create and not sqlite_path(url).is_file():
        raise StoreMissingError(where)


def create_store_engine(
    url: sa.URL, *, busy_timeout_s: float | None = None, timeouts: Timeouts | None = None, create: bool = False
) -> sa.Engine:
    """An engine for the store with :class:`Timeouts` (default :meth:`Timeouts.from_env`).

    SQLite: WAL, the busy timeout on every connection, foreign keys and explicit BEGINs; the
    file's folder is made only with ``create``. PostgreSQL: ``connect_timeout``, ``lock_timeout``
    and ``statement_timeout`` (settings the URL already names win). ``busy_timeout_s`` overrides
    ``timeouts.lock_s``.
    """
    timeouts = timeouts or Timeouts.from_env()
    if busy_timeout_s is not None:
        timeouts = Timeouts(timeouts.connect_s, busy_timeout_s, timeouts.statement_s)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(_with_pg_timeouts(url, timeouts), pool_pre_ping=False)
    return _sqlite_engine(url, timeouts.lock_s, create=create)


def _with_pg_timeouts(url: sa.URL, timeouts: Timeouts) -> sa.URL:
    """``url`` with libpq's ``connect_timeout`` and the session's lock and statement timeouts in ``options``."""
    query = dict(url.query)
    if "connect_timeout" not in query:
        query["connect_timeout"] = str(max(1, math.ceil(timeouts.connect_s)))
    ours = f"-c lock_timeout={int(timeouts.lock_s * 1000)} -c statement_timeout={int(timeouts.statement_s * 1000)}"
    given = str(query.get("options", "")).strip()
    query["options"] = f"{ours} {given}".strip()  # the URL's own -c settings come later, so they win
    return url.set(query=query)


def _sqlite_engine(url: sa.URL, busy_timeout_s: float, *, create: bool) -> sa.Engine:
    read_only = "mode=ro" in str(url)
    if create and not read_only:
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})
    busy_ms, short_ms = int(busy_timeout_s * 1000), int(min(busy_timeout_s, _SHORT_BUSY_S) * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        # the whole timeout on every connection: opening (WAL recovery, the last closer's
        # checkpoint), reads and COMMIT queue instead of failing "database is locked"
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
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
        assert raw is not None  # the sqlite3 connection of an open connection
        deadline = time.monotonic() + busy_timeout_s
        # SQLite's own busy handler backs off up to 100 ms a try; writers queue here in short random
        # sleeps instead (fair and quick to hand over), then get the whole timeout back
        raw.execute(f"PRAGMA busy_timeout = {short_ms}")
        try:
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                time.sleep(random.uniform(0.0005, 0.003))
        finally:
            raw.execute(f"PRAGMA busy_timeout = {busy_ms}")

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
    if "must be owner" in lowered:
        return (
            f"{label}: this role may not change the schema ({first}); nothing was written. Upgrade it as the "
            "owner role: `gridmgmt store init --store OWNER_URL --app-role NAME`"
        )
    if "permission denied" in lowered or "insufficient privilege" in lowered:
        return f"{label}: no permission to write to the store ({first}); nothing was written"
    if "append-only" in lowered:
        return f"{label}: {first}"
    if "lock timeout" in lowered:
        return (
            f"{label}: another session held a lock past the lock timeout ({first}); nothing was written, "
            "try again (or raise $GRIDMGMT_STORE_LOCK_TIMEOUT_S)"
        )
    if "statement timeout" in lowered:
        return f"{label}: a query ran past the statement timeout ({first}); raise $GRIDMGMT_STORE_STATEMENT_TIMEOUT_S"
    if "timeout expired" in lowered or "timed out" in lowered:
        return (
            f"{label}: the server did not answer within the connect timeout ({first}); check the host and port "
            "(or raise $GRIDMGMT_STORE_CONNECT_TIMEOUT_S)"
        )
    if "unable to open" in lowered or ("connection" in lowered and "failed" in lowered):
        return f"{label}: cannot open the store ({first})"
    return f"{label}: {first}"


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the store, or None for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine, label: str, *, read_only: bool = False, create: bool = False) -> None:
    """Upgrade the schema to :data:`HEAD`, creating it only with ``create`` (idempotent, safe when racing).

    Raises
    ------
    StoreMissingError
        When the database holds no store and ``create`` is False.
    StoreError
        When the store is read-only and not at the current schema, or newer than this gridmgmt.
    """
    with read_connection(engine, label) as conn:
        revision = current_revision(conn)
    if revision == HEAD:
        return
    if revision is None and not create:
        raise StoreMissingError(label)
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
    try:
        with write_transaction(engine, label) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")  # Alembic logs each step at INFO on its own logger ("alembic")
    except StoreError as error:
        if revision is None or not any(w in str(error) for w in ("no permission", "may not change the schema")):
            raise
        raise StoreError(
            f"{label}: the store's schema is {revision}, not {HEAD}, and this role may not upgrade it; run "
            "`gridmgmt store init --store OWNER_URL --app-role NAME` as the owner role once"
        ) from error
    log.info("%s: schema %s", label, f"upgraded {revision} -> {HEAD}" if revision else f"created ({HEAD})")


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_app_role(engine: sa.Engine, role: str, label: str) -> bool:
    """Let the PostgreSQL role ``role`` use the store and own nothing; create it (LOGIN, no password) when missing.

    The role may SELECT and INSERT the append-only tables (events, runs, audit log, ...), also
    UPDATE and DELETE the others (users, sessions, periods, ...), read the schema's revision and
    use the sequences: it cannot UPDATE, DELETE or TRUNCATE the log, nor ALTER, DROP or DISABLE
    its triggers, which only the owner (the role running this) can. Idempotent: run it again after
    an upgrade adds tables. Returns whether the role was created.

    Raises
    ------
    StoreError
        On SQLite, for a bad role name, the owner itself, a superuser or a member of the owner role.
    """
    from gridmgmt.store.schema import APPEND_ONLY_TABLES

    if engine.dialect.name != "postgresql":
        raise StoreError(f"{label}: --app-role is for PostgreSQL; a SQLite store is one file (use its permissions)")
    if not _ROLE_NAME.match(role):
        raise StoreError(f"--app-role {role!r}: give a lower-case PostgreSQL role name (letters, digits, _)")
    with write_transaction(engine, label) as conn:
        owner = conn.execute(sa.text("SELECT current_user")).scalar()
        found = conn.execute(
            sa.text("SELECT rolsuper, pg_has_role(:role, current_user, 'MEMBER') FROM pg_roles WHERE rolname = :role"),
            {"role": role},
        ).first()
        if role == owner or (found is not None and (found[0] or found[1])):
            raise StoreError(
                f"{label}: the app role {role!r} is the owner {owner!r}, a superuser or a member of it, so it could "
                "disable the log's triggers; give a role that owns nothing"
            )
        if found is None:
            conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        database = conn.execute(sa.text("SELECT current_database()")).scalar()
        conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        owned = (
            conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
            )
            .scalars()
            .all()
        )
        for table in owned:  # the store's tables (PostGIS's spatial_ref_sys is readable by everyone already)
            if table in APPEND_ONLY_TABLES:
                rights = "SELECT, INSERT"
            elif table == "alembic_version":
                rights = "SELECT"
            else:
                rights = "SELECT, INSERT, UPDATE, DELETE"
            conn.execute(sa.text(f'REVOKE ALL ON TABLE public."{table}" FROM "{role}"'))
            conn.execute(sa.text(f'GRANT {rights} ON TABLE public."{table}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    log.info("%s: role %s %s", label, role, "created and granted" if found is None else "granted")
    return found is None
