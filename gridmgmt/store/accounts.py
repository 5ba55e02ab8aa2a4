"""The service's users and sessions in the store: the rows only (hashing and checks are the service's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.schema import staff
from gridmgmt.store.service_schema import sessions, users


def add_user_row(
    engine: sa.Engine,
    *,
    username: str,
    role: str,
    staff_id: str,
    password_hash: str,
    created: datetime,
    check_staff: Callable[[str | None], None] | None = None,
) -> bool:
    """Insert a user in one transaction; False when the name is taken.

    ``check_staff(department)`` is called first with the department of ``staff_id`` in the staff
    table (None: no such staff member); it may raise to refuse the user (nothing is written).
    """
    with write_transaction(engine, "store") as conn:
        if conn.execute(sa.select(users.c.username).where(users.c.username == username)).first():
            return False
        if check_staff is not None:
            check_staff(conn.execute(sa.select(staff.c.department).where(staff.c.staff_id == staff_id)).scalar())
        conn.execute(
            users.insert().values(
                username=username,
                role=role,
                staff_id=staff_id,
                password_hash=password_hash,
                disabled=False,
                created=created,
            )
        )
    return True


def user_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every user row, by name."""
    with read_connection(engine, "store") as conn:
        return [dict(r) for r in conn.execute(sa.select(users).order_by(users.c.username)).mappings().all()]


def user_row(engine: sa.Engine, username: str) -> dict[str, Any] | None:
    """The row of a user, or None."""
    with read_connection(engine, "store") as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().first()
    return dict(row) if row else None


def disable_user_row(engine: sa.Engine, username: str) -> bool:
    """Disable a user and delete their sessions; False when there is no such user."""
    with write_transaction(engine, "store") as conn:
        done = conn.execute(users.update().where(users.c.username == username).values(disabled=True))
        if not done.rowcount:
            return False
        conn.execute(sessions.delete().where(sessions.c.username == username))
    return True


def add_session_row(
    engine: sa.Engine, *, token_hash: str, username: str, csrf: str, created: datetime, expires: datetime
) -> None:
    """Store a session (deleting the expired ones)."""
    with write_transaction(engine, "store") as conn:
        conn.execute(sessions.delete().where(sessions.c.expires < created))  # tidy up expired ones
        conn.execute(
            sessions.insert().values(token_hash=token_hash, username=username, csrf=csrf, created=created,
                                     expires=expires)
        )  # fmt: skip


def session_row(engine: sa.Engine, token_hash: str, now: datetime) -> dict[str, Any] | None:
    """The unexpired session of a token hash with its user (username, role, staff_id, disabled, csrf), or None."""
    stmt = (
        sa.select(users.c.username, users.c.role, users.c.staff_id, users.c.disabled, sessions.c.csrf)
        .select_from(sessions.join(users, users.c.username == sessions.c.username))
        .where(sessions.c.token_hash == token_hash, sessions.c.expires > now)
    )
    with read_connection(engine, "store") as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def delete_session_row(engine: sa.Engine, token_hash: str) -> None:
    """Log a session out."""
    with write_transaction(engine, "store") as conn:
        conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))
