"""A throwaway PostgreSQL + PostGIS server on a temporary data folder, for the store tests and its benchmark.

Debian's binaries (``postgresql`` and ``postgresql-15-postgis-3``, installed by ``scripts/test``) run as
the ``postgres`` OS user when we are root; the server listens on a Unix socket only, so tests never
clash over TCP ports, and everything is removed when the server stops.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder with initdb, pg_ctl and PostGIS installed, else None."""
    for folder in PG_BIN_DIRS:
        version = folder.parent.name
        postgis = Path(f"/usr/share/postgresql/{version}/extension/postgis.control")
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists() and postgis.exists():
            return folder
    return None


def unavailable_reason() -> str:
    """Why no throwaway server can run here ('' when one can)."""
    if pg_bin() is None:
        return "PostgreSQL/PostGIS binaries not found (apt-get install postgresql postgresql-15-postgis-3)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no 'postgres' OS user to run the server as"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server on a temporary folder; ``url(db)`` gives a SQLAlchemy URL over its socket.

    Parameters
    ----------
    durable
        False (tests) turns fsync and synchronous commit off for speed; True (benchmarks) keeps
        PostgreSQL's defaults, so commit latency is what a bureau's server would show.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gridmgmt-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.bin = pg_bin()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        """initdb, start and create the PostGIS extension in the template database."""
        assert self.bin is not None, unavailable_reason()
        self.sockets.mkdir(parents=True)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses='' -c max_connections=60"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"
        )
        self.psql("template1", "CREATE EXTENSION IF NOT EXISTS postgis")
        return self

    def psql(self, db: str, sql: str) -> str:
        """Run SQL as the superuser; return psql's output."""
        psql = str(self.bin / "psql")
        conn = ["-h", str(self.sockets), "-p", str(self.port), "-d", db]
        done = self._run(psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *conn, "-c", sql)
        return done.stdout

    def create_database(self, name: str) -> str:
        """A fresh database (PostGIS included from the template); return its URL."""
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, db: str, user: str = "postgres") -> str:
        """SQLAlchemy URL of a database over the Unix socket."""
        return f"postgresql+psycopg://{user}@/{db}?host={self.sockets}&port={self.port}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throwaway server, yield it, stop and delete it."""
    server = PostgresServer(durable=durable)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL + PostGIS server for the session; skipped only off CI when the binaries are absent."""
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI (scripts/test installs it): {reason}")
        pytest.skip(f"postgresql store tests skipped: {reason}")
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each backend: a SQLite path, or a new database on the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")
