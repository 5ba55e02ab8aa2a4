"""The shared store's tables (SQLAlchemy Core): event log, district history, layers and runs.

These definitions are what queries use; the database itself is created and upgraded only by
the Alembic migrations in ``migrations/versions``, so a change here needs a new migration too
(``tests/test_store_history.py`` compares the two).

Geometry is WKB in WGS-84 (EPSG:4326) to Python on both backends: a PostGIS ``geometry``
column on PostgreSQL (through GeoAlchemy2), a plain BLOB on SQLite, so the embedded store
needs no SpatiaLite extension.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# Rows are only ever added to these: a trigger refuses UPDATE, DELETE, TRUNCATE and SQLite's
# REPLACE (migration 0003), and PostgreSQL's app role may only SELECT and INSERT them.
APPEND_ONLY_TABLES = ("events", "runs", "run_rows", "audit_log", "mediation_notes", "public_reports")


class WKBGeometry(sa.types.TypeDecorator):
    """WKB bytes (EPSG:4326) in Python; PostGIS geometry on PostgreSQL, BLOB elsewhere."""

    impl = sa.LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect | None) -> sa.types.TypeEngine:
        if dialect is not None and dialect.name == "postgresql":
            from geoalchemy2 import Geometry  # imported only for PostgreSQL: keeps SQLite start-up short

            return dialect.type_descriptor(Geometry(srid=4326, spatial_index=False))
        return sa.LargeBinary()

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        from geoalchemy2 import WKBElement

        return WKBElement(bytes(value), srid=4326)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        data = getattr(value, "data", value)  # GeoAlchemy2 gives a WKBElement (EWKB), SQLite bytes
        return bytes(data)


JSONType = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(80), nullable=False, unique=True),
    sa.Column("retailer_id", sa.String(64), nullable=False),
    sa.Column("time", sa.DateTime, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("department", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False, server_default=""),
    sa.Column("severity", sa.String(32), nullable=False, server_default=""),
    sa.Column("violation_kind", sa.String(32), nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("corrects", sa.String(80), nullable=True),  # FK events.event_id, deferred (see migration)
    sa.Column("extra", sa.Text, nullable=True),  # JSON object of the source's extra columns
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("import_key", sa.String(80), nullable=True, unique=True),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False, server_default=""),
)

retailers = sa.Table(
    "retailers",
    metadata,
    sa.Column("retailer_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("attrs", JSONType, nullable=True),
    sa.Column("geom", WKBGeometry, nullable=True),
)

licences = sa.Table(
    "retailer_licences",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("retailer_id", sa.String(64), sa.ForeignKey("retailers.retailer_id"), nullable=False),
    sa.Column("opened", sa.Date, nullable=True),  # None: licensed since before the store's history
    sa.Column("closed", sa.Date, nullable=True),  # None: still licensed; else the first day without
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("staff_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("department", sa.String(32), nullable=False, server_default=""),
    sa.Column("attrs", JSONType, nullable=True),
)

assignments = sa.Table(
    "grid_assignments",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("retailer_id", sa.String(64), nullable=False),
    sa.Column("grid_id", sa.String(64), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),  # exclusive; None: still valid
    sa.Column("run_id", sa.String(80), nullable=True),
)

pairs = sa.Table(
    "staff_pairs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("grid_id", sa.String(64), nullable=False),
    sa.Column("customer_manager", sa.String(64), nullable=False, server_default=""),
    sa.Column("monopoly_officer", sa.String(64), nullable=False, server_default=""),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),  # exclusive; None: still valid
)

features = sa.Table(
    "features",
    metadata,
    sa.Column("layer", sa.String(64), primary_key=True),
    sa.Column("feature_no", sa.Integer, primary_key=True),
    sa.Column("attrs", JSONType, nullable=True),
    sa.Column("geom", WKBGeometry, nullable=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("inputs", JSONType, nullable=True),  # {name: sha256 hex}
    sa.Column("parameters", JSONType, nullable=True),
    sa.Column("layers", JSONType, nullable=True),  # {layer: {"columns": [...], "dtypes": {...}, "geometry": bool}}
)

run_rows = sa.Table(
    "run_rows",
    metadata,
    sa.Column("run_id", sa.String(80), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("layer", sa.String(64), primary_key=True),
    sa.Column("row_no", sa.Integer, primary_key=True),
    sa.Column("attrs", JSONType, nullable=True),
    sa.Column("geom", WKBGeometry, nullable=True),
)
