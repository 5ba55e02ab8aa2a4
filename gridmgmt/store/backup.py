"""An online backup of the store: a consistent copy while others write (no pandas: ``store backup`` is quick).

SQLite is copied with SQLite's own backup API from one read transaction, so the copy is the
store as of one moment even while clerks keep adding events. PostgreSQL is copied with
``pg_dump`` (custom format, one snapshot); without ``pg_dump`` on this machine the backup is
refused with a hint (the server's own backups are then the way).
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

from gridmgmt._errors import StoreError
from gridmgmt.atomic import atomic_path
from gridmgmt.store.engine import Timeouts


def backup(engine: sa.Engine, to: str | os.PathLike, *, label: str = "store") -> Path:
    """Write a consistent copy of the store to ``to`` (atomically); return the path.

    SQLite: a SQLite file (open it with ``--store FILE``). PostgreSQL: a ``pg_dump -Fc`` archive
    (restore with ``pg_restore -d URL FILE``).

    Raises
    ------
    StoreError
        When the copy fails, or ``pg_dump`` is not installed for a PostgreSQL store.
    """
    target = Path(to)
    if engine.dialect.name == "sqlite":
        source = engine.url.database or ""
        path = source.removeprefix("file:").split("?")[0]
        with atomic_path(target) as tmp:
            try:
                src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                dst = sqlite3.connect(tmp)
                with dst:
                    src.backup(dst)  # all pages in one step: one read transaction, one moment
                dst.execute("PRAGMA journal_mode = DELETE")  # the copy is one self-contained file
                dst.close()
                src.close()
            except sqlite3.Error as error:
                raise StoreError(f"{label}: backup to {target} failed: {error}") from error
        return target
    return _pg_dump(engine.url, target, label)


def _pg_dump(url: sa.URL, target: Path, label: str) -> Path:
    binary = shutil.which("pg_dump") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)), None
    )
    if binary is None:
        raise StoreError(
            f"{label}: pg_dump is not installed here; install PostgreSQL's client tools "
            "(apt-get install postgresql-client) or back the server up with its own tools"
        )
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # not on the command line, where `ps` would show it
    # the store's timeouts: a silent host or a held lock ends the backup in one line, never a hang
    env["PGCONNECT_TIMEOUT"] = str(url.query.get("connect_timeout") or math.ceil(Timeouts.from_env().connect_s))
    args = [binary, "-Fc", "--no-owner", f"--lock-wait-timeout={int(Timeouts.from_env().lock_s * 1000)}"]
    host = url.query.get("host") or url.host
    port = url.query.get("port") or url.port
    for flag, value in (("-h", host), ("-p", port), ("-U", url.username), ("-d", url.database)):
        if value:
            args += [flag, str(value)]
    with atomic_path(target) as tmp:
        done = subprocess.run([*args, "-f", str(tmp)], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["pg_dump failed"])[0]
            raise StoreError(f"{label}: backup to {target} failed: {first}")
    return target
