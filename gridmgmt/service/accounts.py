"""Users, roles and login sessions of the service: argon2 password hashes, server-side sessions.

A session is a random token in an HttpOnly cookie (or an ``Authorization: Bearer`` header for
API clients); the store keeps only its SHA-256, with a CSRF token and an expiry, so logging out,
disabling a user or a stolen database backup never leaves a usable session behind.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gridmgmt._errors import GridMgmtError
from gridmgmt.store import accounts as rows
from gridmgmt.store.engine import Engine
from gridmgmt.vocab import DEPARTMENT_ALIASES, ROLE_DEPARTMENT, ROLES

SESSION_HOURS = 12.0
MIN_PASSWORD = 8

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("not a password of anyone")  # verify against it so unknown names take as long


class UserError(GridMgmtError, ValueError):
    """A user cannot be added, found or changed as asked."""


@dataclass(frozen=True)
class User:
    """A logged-in (or listed) user."""

    username: str
    role: str
    staff_id: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class Session:
    """A valid session: its user and the CSRF token every form and API write must carry."""

    user: User
    csrf: str
    token_hash: str


def token_hash(token: str) -> str:
    """SHA-256 hex of a session token (what the store keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(engine: Engine, username: str, role: str, password: str, *, staff_id: str = "") -> User:
    """Create a user with an argon2 password hash.

    Raises
    ------
    UserError
        Unknown role, empty or taken name, or a password shorter than :data:`MIN_PASSWORD`.
    """
    username = username.strip()
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError(f"user name {username!r}: 1-64 characters without spaces")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if role in ("marketing", "monopoly") and not staff_id:
        raise UserError(f"a {role} user needs --staff-id (their staff id names their grid)")

    def check_staff(found: str | None) -> None:
        _check_staff_member(staff_id, found, ROLE_DEPARTMENT[role])

    added = rows.add_user_row(
        engine,
        username=username,
        role=role,
        staff_id=staff_id,
        password_hash=_HASHER.hash(password),
        created=datetime.now().replace(microsecond=0),
        check_staff=check_staff if role in ROLE_DEPARTMENT else None,
    )
    if not added:
        raise UserError(f"user {username!r} exists already")
    return User(username, role, staff_id)


def _check_staff_member(staff_id: str, found: str | None, department: str) -> None:
    """Refuse a staff id the store does not know (``found`` None), or one of the other department
    (a user records as them)."""
    if found is None:
        raise UserError(
            f"--staff-id {staff_id!r} is not a staff member of this store: use an id from the district's "
            "staff.csv (`gridmgmt store init --district ...` loads it)"
        )
    theirs = DEPARTMENT_ALIASES.get(found, found)
    if theirs != department:
        raise UserError(
            f"--staff-id {staff_id!r} belongs to the {theirs or 'unknown'} department, not {department}: "
            f"give a {department} staff id or --role {theirs}"
        )


def list_users(engine: Engine) -> list[User]:
    """Every user, by name."""
    return [User(r["username"], r["role"], r["staff_id"], bool(r["disabled"])) for r in rows.user_rows(engine)]


def disable_user(engine: Engine, username: str) -> None:
    """Disable a user and end their sessions at once.

    Raises
    ------
    UserError
        When there is no such user.
    """
    if not rows.disable_user_row(engine, username):
        raise UserError(f"no user {username!r}")


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user when the name and password match and the user is enabled, else None (same time either way)."""
    row = rows.user_row(engine, username)
    try:
        _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled"]:
        return None
    return User(row["username"], row["role"], row["staff_id"])


def start_session(engine: Engine, user: User, *, hours: float = SESSION_HOURS) -> tuple[str, Session]:
    """A new session for ``user``; returns the token (for the cookie, shown only once) and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = datetime.now()
    digest = token_hash(token)
    rows.add_session_row(
        engine, token_hash=digest, username=user.username, csrf=csrf, created=now, expires=now + timedelta(hours=hours)
    )
    return token, Session(user, csrf, digest)


def find_session(engine: Engine, token: str) -> Session | None:
    """The session of a token when it is valid and its user enabled, else None."""
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    row = rows.session_row(engine, digest, datetime.now())
    if row is None or row["disabled"]:
        return None
    return Session(User(row["username"], row["role"], row["staff_id"]), row["csrf"], digest)


def end_session(engine: Engine, digest: str) -> None:
    """Log a session out."""
    rows.delete_session_row(engine, digest)
