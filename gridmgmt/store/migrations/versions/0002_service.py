"""The web service's tables: users, sessions, audit log, mediation cases and notes, public reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _big() -> sa.types.TypeEngine:
    return sa.BigInteger() if op.get_bind().dialect.name == "postgresql" else sa.Integer()


def upgrade() -> None:
    big = _big()
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created", sa.DateTime, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False, server_default=""),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["time"])
    op.create_table(
        "mediation_cases",
        sa.Column("case_id", big, primary_key=True, autoincrement=True),
        sa.Column("retailer_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("parties", sa.Text, nullable=False, server_default=""),
        sa.Column("mediator", sa.String(64), nullable=False, server_default=""),
        sa.Column("opened", sa.DateTime, nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("outcome", sa.Text, nullable=False, server_default=""),
        sa.Column("closed", sa.DateTime, nullable=True),
    )
    op.create_table(
        "mediation_notes",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("case_id", big, sa.ForeignKey("mediation_cases.case_id"), nullable=False),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_mediation_notes_case_id", "mediation_notes", ["case_id"])
    op.create_table(
        "public_reports",
        sa.Column("tracking_code", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("retailer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("filed", sa.DateTime, nullable=False),
        sa.Column("contact", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    for table in ("public_reports", "mediation_notes", "mediation_cases", "audit_log", "sessions", "users"):
        op.drop_table(table)
