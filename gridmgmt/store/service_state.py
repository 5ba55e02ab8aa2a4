"""What the service's processes share through the store: rate-limit hits, login failures, the form secret.

So that ``gridmgmt serve --workers N`` runs N processes over one store: a login back-off or a
public-report limit counted by one worker holds in every other, and a public form served by one
worker is accepted by another. Each step is one write transaction; on PostgreSQL an advisory
lock per key makes count-then-insert atomic (SQLite's ``BEGIN IMMEDIATE`` already does).
"""

from __future__ import annotations

import secrets
import zlib

import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.service_schema import login_failures, rate_hits, service_secrets

KEEP_HITS_S = 86_400.0  # hits older than this are deleted (longer than any limit's window)
_LOCK_SPACE = 0x72617465  # pg_advisory_xact_lock's first key ("rate"): apart from the migration lock


def _lock(conn: sa.Connection, key: str) -> None:
    """Serialise writers of ``key`` until the transaction ends (PostgreSQL; SQLite's writers queue anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_SPACE, zlib.crc32(key.encode()) - 2**31)))


class StoreTally:
    """A :class:`gridmgmt.service.security.Tally` in the store's ``rate_hits`` and ``login_failures`` tables."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_hit(self, key: str, now_s: float, *, limit: int, window_s: float) -> bool:
        key = key[:200]
        with write_transaction(self.engine, "store") as conn:
            _lock(conn, key)
            conn.execute(rate_hits.delete().where(rate_hits.c.time_s < now_s - KEEP_HITS_S))
            recent = rate_hits.c.time_s > now_s - window_s
            count = conn.execute(sa.select(sa.func.count()).where(rate_hits.c.key == key, recent)).scalar_one()
            if count >= limit:
                return False
            conn.execute(rate_hits.insert().values(key=key, time_s=now_s))
            return True

    def hits(self, key: str, now_s: float, window_s: float) -> int:
        stmt = sa.select(sa.func.count()).where(rate_hits.c.key == key[:200], rate_hits.c.time_s > now_s - window_s)
        with read_connection(self.engine, "store") as conn:
            return int(conn.execute(stmt).scalar_one())

    def failures(self, username: str, address: str) -> tuple[int, float] | None:
        stmt = sa.select(login_failures.c.failures, login_failures.c.last_s).where(*_pair(username, address))
        with read_connection(self.engine, "store") as conn:
            row = conn.execute(stmt).first()
        return (int(row.failures), float(row.last_s)) if row else None

    def add_failure(self, username: str, address: str, now_s: float, *, forget_s: float) -> None:
        with write_transaction(self.engine, "store") as conn:
            _lock(conn, f"login {username[:64]} {address[:64]}")
            conn.execute(login_failures.delete().where(login_failures.c.last_s <= now_s - forget_s))
            row = conn.execute(sa.select(login_failures.c.failures).where(*_pair(username, address))).first()
            if row is None:
                conn.execute(
                    login_failures.insert().values(
                        username=username[:64], address=address[:64], failures=1, last_s=now_s
                    )
                )
            else:
                conn.execute(
                    login_failures.update()
                    .where(*_pair(username, address))
                    .values(failures=row.failures + 1, last_s=now_s)
                )

    def clear_failures(self, username: str, address: str) -> None:
        with write_transaction(self.engine, "store") as conn:
            conn.execute(login_failures.delete().where(*_pair(username, address)))


def _pair(username: str, address: str) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    return login_failures.c.username == username[:64], login_failures.c.address == address[:64]


def shared_secret(engine: sa.Engine, name: str) -> bytes:
    """The store's secret called ``name`` (32 random bytes), made by the first process to ask."""
    stmt = sa.select(service_secrets.c.value).where(service_secrets.c.name == name)
    with write_transaction(engine, "store") as conn:
        _lock(conn, f"secret {name}")
        value = conn.execute(stmt).scalar()
        if value is None:
            value = secrets.token_hex(32)
            conn.execute(service_secrets.insert().values(name=name, value=value))
    return bytes.fromhex(value)
