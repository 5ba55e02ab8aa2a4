"""The public channel's reports in the store: a tracking code beside the event each report opened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.service_schema import public_reports


def add_report_row(
    engine: sa.Engine, *, code: str, event_id: str, retailer_id: str, kind: str, filed: object, contact: str
) -> bool:
    """Store a report under ``code``; False (nothing written) when the code is taken."""
    with write_transaction(engine, "store") as conn:
        if conn.execute(
            sa.select(public_reports.c.tracking_code).where(public_reports.c.tracking_code == code)
        ).first():
            return False
        conn.execute(
            public_reports.insert().values(
                tracking_code=code,
                event_id=event_id,
                retailer_id=retailer_id,
                kind=kind,
                filed=filed,
                contact=contact[:200],
            )
        )
    return True


def report_row(engine: sa.Engine, code: str) -> dict[str, Any] | None:
    """The stored report of a tracking code (event, retailer, kind, filed, contact), or None."""
    with read_connection(engine, "store") as conn:
        row = conn.execute(sa.select(public_reports).where(public_reports.c.tracking_code == code)).mappings().first()
    return dict(row) if row else None


def tracking_codes(engine: sa.Engine, event_ids: Iterable[str]) -> dict[str, str]:
    """event_id -> tracking code, for the events among ``event_ids`` that the public channel filed."""
    wanted = set(event_ids)
    if not wanted:
        return {}
    with read_connection(engine, "store") as conn:
        rows = conn.execute(sa.select(public_reports.c.event_id, public_reports.c.tracking_code)).all()
    return {str(e): str(code) for e, code in rows if e in wanted}
