"""The first schema: append-only event log, district history, feature layers and runs.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "the event log is append-only: record a correction (a new event with corrects=<event_id>) instead"


def _types() -> tuple[sa.types.TypeEngine, sa.types.TypeEngine, sa.types.TypeEngine]:
    """(big integer id, JSON, geometry) for the dialect being migrated."""
    if op.get_bind().dialect.name == "postgresql":
        from geoalchemy2 import Geometry

        return sa.BigInteger(), JSONB(), Geometry(srid=4326, spatial_index=False)
    return sa.Integer(), sa.JSON(), sa.LargeBinary()


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    big, json, geom = _types()
    op.create_table(
        "events",
        sa.Column("seq", big, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("retailer_id", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False, server_default=""),
        sa.Column("severity", sa.String(32), nullable=False, server_default=""),
        sa.Column("violation_kind", sa.String(32), nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("corrects", sa.String(80), nullable=True),
        sa.Column("extra", sa.Text, nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("import_key", sa.String(80), nullable=True),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False, server_default=""),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("import_key", name="uq_events_import_key"),
        # checked at commit, so a file may hold a correction before the event it corrects
        sa.ForeignKeyConstraint(
            ["corrects"], ["events.event_id"], name="fk_events_corrects", deferrable=True, initially="DEFERRED"
        ),
        sa.CheckConstraint("corrects IS NULL OR corrects <> event_id", name="ck_events_not_self"),
    )
    op.create_index("ix_events_time", "events", ["time"])
    op.create_index("ix_events_retailer_id", "events", ["retailer_id"])
    op.create_index("ix_events_type", "events", ["type"])
    if postgres:
        op.execute(
            "CREATE FUNCTION gridmgmt_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'restrict_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION gridmgmt_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmgmt_events_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )

    op.create_table(
        "retailers",
        sa.Column("retailer_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("attrs", json, nullable=True),
        sa.Column("geom", geom, nullable=True),
    )
    op.create_table(
        "retailer_licences",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("retailer_id", sa.String(64), sa.ForeignKey("retailers.retailer_id"), nullable=False),
        sa.Column("opened", sa.Date, nullable=True),
        sa.Column("closed", sa.Date, nullable=True),
    )
    op.create_index("ix_retailer_licences_retailer_id", "retailer_licences", ["retailer_id"])
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("department", sa.String(32), nullable=False, server_default=""),
        sa.Column("attrs", json, nullable=True),
    )
    op.create_table(
        "grid_assignments",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("retailer_id", sa.String(64), nullable=False),
        sa.Column("grid_id", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("run_id", sa.String(80), nullable=True),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_assignment_period"),
    )
    op.create_index("ix_grid_assignments_retailer_id", "grid_assignments", ["retailer_id", "valid_from"])
    op.create_table(
        "staff_pairs",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("grid_id", sa.String(64), nullable=False),
        sa.Column("customer_manager", sa.String(64), nullable=False, server_default=""),
        sa.Column("monopoly_officer", sa.String(64), nullable=False, server_default=""),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_pair_period"),
    )
    op.create_index("ix_staff_pairs_grid_id", "staff_pairs", ["grid_id", "valid_from"])
    op.create_table(
        "features",
        sa.Column("layer", sa.String(64), primary_key=True),
        sa.Column("feature_no", sa.Integer, primary_key=True),
        sa.Column("attrs", json, nullable=True),
        sa.Column("geom", geom, nullable=True),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("inputs", json, nullable=True),
        sa.Column("parameters", json, nullable=True),
        sa.Column("layers", json, nullable=True),
    )
    op.create_index("ix_runs_kind_created", "runs", ["kind", "created"])
    op.create_table(
        "run_rows",
        sa.Column("run_id", sa.String(80), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("layer", sa.String(64), primary_key=True),
        sa.Column("row_no", sa.Integer, primary_key=True),
        sa.Column("attrs", json, nullable=True),
        sa.Column("geom", geom, nullable=True),
    )


def downgrade() -> None:
    for table in ("run_rows", "runs", "features", "staff_pairs", "grid_assignments", "staff"):
        op.drop_table(table)
    op.drop_table("retailer_licences")
    op.drop_table("retailers")
    op.drop_table("events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gridmgmt_events_append_only()")
