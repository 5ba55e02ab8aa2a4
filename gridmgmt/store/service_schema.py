"""The service's own tables (SQLAlchemy Core): users, sessions, audit log, mediation cases, public reports,
and what its processes share (login failures, rate-limit hits, background jobs, the form-signing secret).

They live in the shared store beside the event log; the database is created and upgraded only
by the store's Alembic migrations (``0002_service`` creates the first six, ``0004_service_shared``
the shared state), so a change here needs a new migration too. None of them holds an event:
events stay in the append-only log. Their statements are in the store's modules beside this one
(``accounts``, ``audit``, ``mediation``, ``public_reports``, ``jobs``, ``service_state``).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("staff_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created", sa.DateTime, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the cookie value, never the value
    sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("expires", sa.DateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(64), nullable=False, server_default=""),  # '' for anonymous
    sa.Column("action", sa.String(200), nullable=False),  # METHOD path
    sa.Column("outcome", sa.String(32), nullable=False),  # unauthenticated, forbidden, ok, failed_login, ...
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.String(64), nullable=False, server_default=""),
)

mediation_cases = sa.Table(
    "mediation_cases",
    metadata,
    sa.Column("case_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("retailer_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("parties", sa.Text, nullable=False, server_default=""),
    sa.Column("mediator", sa.String(64), nullable=False, server_default=""),
    sa.Column("opened", sa.DateTime, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("closed", sa.DateTime, nullable=True),
    sa.Column("task_id", sa.String(80), nullable=False, server_default="", index=True),  # opened from (0005)
)

mediation_notes = sa.Table(
    "mediation_notes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("case_id", BigId, sa.ForeignKey("mediation_cases.case_id"), nullable=False),
    sa.Column("time", sa.DateTime, nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

public_reports = sa.Table(
    "public_reports",
    metadata,
    sa.Column("tracking_code", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(80), nullable=False),  # the tip_off/complaint event it opened
    sa.Column("retailer_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("filed", sa.DateTime, nullable=False),
    sa.Column("contact", sa.Text, nullable=False, server_default=""),  # optional; never shown publicly
)

# ---------------------------------------------------------------- what the service's processes share (0004)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_s", sa.Float, nullable=False),  # Unix time of the last failure
)

rate_hits = sa.Table(
    "rate_hits",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False),  # "<limit>:<key>", e.g. "public:ip:203.0.113.7"
    sa.Column("time_s", sa.Float, nullable=False),  # Unix time of the hit
    sa.Index("ix_rate_hits_key_time", "key", "time_s"),
    sa.Index("ix_rate_hits_time", "time_s"),
)

service_jobs = sa.Table(
    "service_jobs",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("progress", sa.Text, nullable=False, server_default=""),  # the last lines, one a line
    sa.Column("result", sa.Text, nullable=False, server_default=""),  # JSON; a run id for plans and previews
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("heartbeat", sa.DateTime, nullable=False),  # the running process's last sign of life
    sa.Column("process", sa.String(100), nullable=False, server_default=""),  # host:pid running it
)

service_secrets = sa.Table(
    "service_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),  # hex
)
