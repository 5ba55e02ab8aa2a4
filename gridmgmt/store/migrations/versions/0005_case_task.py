"""A mediation case names the task it was opened from (a complaint or a public report; '' for none).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mediation_cases", sa.Column("task_id", sa.String(80), nullable=False, server_default=""))
    op.create_index("ix_mediation_cases_task_id", "mediation_cases", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_mediation_cases_task_id", table_name="mediation_cases")
    with op.batch_alter_table("mediation_cases") as batch:
        batch.drop_column("task_id")
