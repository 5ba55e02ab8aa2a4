"""Append-only means append-only: no REPLACE on SQLite, and the runs, audit log, mediation notes and public reports too.

SQLite's ``REPLACE INTO`` / ``INSERT OR REPLACE`` deletes the clashing row without firing DELETE
triggers (unless ``recursive_triggers`` is on, which is per connection), so a BEFORE INSERT
trigger refuses any row whose key is already stored; ``INSERT ... ON CONFLICT DO UPDATE`` fires
the UPDATE triggers. Every append-only table gets the same triggers on both backends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EVENTS_KEPT = (
    "the event log is append-only: an event with this event_id is already stored; "
    "record a correction (a new event with corrects=<event_id>) instead"
)
# table: the columns (each a unique key) a REPLACE could clash on
KEYS = {
    "events": ("seq", "event_id", "import_key"),
    "runs": ("run_id",),
    "run_rows": ("run_id, layer, row_no",),
    "audit_log": ("id",),
    "mediation_notes": ("id",),
    "public_reports": ("tracking_code",),
}
NEW_TABLES = tuple(table for table in KEYS if table != "events")  # events has its UPDATE/DELETE triggers (0001)


def _kept(table: str) -> str:
    return EVENTS_KEPT if table == "events" else f"{table} is append-only: its rows are never changed or removed"


def _clash(key: str) -> str:
    """SQL true when a stored row (``kept``) has the new row's value of ``key`` (one or more columns)."""
    return " AND ".join(f"kept.{c} = NEW.{c}" for c in (c.strip() for c in key.split(",")))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION gridmgmt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only: its rows are never changed or removed', TG_TABLE_NAME "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        for table in NEW_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gridmgmt_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gridmgmt_append_only()"
            )
        return
    for table, keys in KEYS.items():
        clash = " OR ".join(f"({_clash(key)})" for key in keys)
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} AS kept WHERE {clash}) "
            f"BEGIN SELECT RAISE(ABORT, '{_kept(table)}'); END"
        )
    for table in NEW_TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_kept(table)}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION gridmgmt_append_only()")
        return
    for table in KEYS:
        op.execute(f"DROP TRIGGER {table}_no_replace")
    for table in NEW_TABLES:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{action}")
