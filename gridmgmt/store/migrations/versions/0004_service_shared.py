"""What the service's processes share, so `serve --workers N` runs N processes over one store: login failures,
rate-limit hits, background jobs and the public forms' signing secret.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger() if op.get_bind().dialect.name == "postgresql" else sa.Integer()
    op.create_table(
        "login_failures",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_s", sa.Float, nullable=False),
    )
    op.create_table(
        "rate_hits",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_hits_key_time", "rate_hits", ["key", "time_s"])
    op.create_index("ix_rate_hits_time", "rate_hits", ["time_s"])
    op.create_table(
        "service_jobs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Text, nullable=False, server_default=""),
        sa.Column("result", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started", sa.DateTime, nullable=False),
        sa.Column("heartbeat", sa.DateTime, nullable=False),
        sa.Column("process", sa.String(100), nullable=False, server_default=""),
    )
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for table in ("service_secrets", "service_jobs", "rate_hits", "login_failures"):
        op.drop_table(table)
