"""The service's audit table: who did or tried what, when, from where (refusals and every write)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.service_schema import audit_log


def record(engine: sa.Engine, *, username: str, action: str, outcome: str, detail: str = "", address: str = "") -> None:
    """Append one audit row (``outcome``: ok, unauthenticated, forbidden, failed_login, rate_limited, ...)."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            audit_log.insert().values(
                time=datetime.now().replace(microsecond=0),
                username=username[:64],
                action=action[:200],
                outcome=outcome[:32],
                detail=detail[:2000],
                address=address[:64],
            )
        )


def read(engine: sa.Engine, *, limit: int = 200, outcome: str | None = None) -> pd.DataFrame:
    """The newest audit rows first."""
    stmt = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if outcome:
        stmt = stmt.where(audit_log.c.outcome == outcome)
    with read_connection(engine, "store") as conn:
        rows = conn.execute(stmt).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in audit_log.columns])
