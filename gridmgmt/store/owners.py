"""Who was responsible on a day, as plain rows (no pandas): each retailer's grid and its pair.

Periods are half-open, ``[valid_from, valid_to)`` (``valid_to`` None: still valid); see
:mod:`gridmgmt.store.history` for how they are written.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from gridmgmt.store.engine import read_connection
from gridmgmt.store.schema import assignments, pairs


def valid_on(table: sa.Table, day: date) -> sa.ColumnElement[bool]:
    """Rows of a period table valid on ``day``."""
    return sa.and_(table.c.valid_from <= day, sa.or_(table.c.valid_to.is_(None), table.c.valid_to > day))


def owners_on(engine: sa.Engine, day: date, *, label: str = "store") -> list[dict]:
    """Every retailer's grid on ``day`` and the grid's pair then: ``retailer_id``, ``grid_id``,
    ``customer_manager``, ``monopoly_officer`` ('' where the grid has no pair)."""
    joined = assignments.outerjoin(pairs, sa.and_(pairs.c.grid_id == assignments.c.grid_id, valid_on(pairs, day)))
    stmt = (
        sa.select(
            assignments.c.retailer_id,
            assignments.c.grid_id,
            sa.func.coalesce(pairs.c.customer_manager, "").label("customer_manager"),
            sa.func.coalesce(pairs.c.monopoly_officer, "").label("monopoly_officer"),
        )
        .select_from(joined)
        .where(valid_on(assignments, day))
    )
    with read_connection(engine, label) as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]
