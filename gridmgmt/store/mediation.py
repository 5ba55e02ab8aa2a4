"""The mediation centre's cases and their dated notes in the store (who may open which is the service's)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.service_schema import mediation_cases, mediation_notes


def open_case(
    engine: sa.Engine,
    *,
    retailer_id: str,
    subject: str,
    parties: str,
    mediator: str,
    opened_by: str,
    when: datetime,
    task_id: str = "",
) -> int:
    """Open a case (``task_id``: the task it was opened from, '' for none); return its id."""
    with write_transaction(engine, "store") as conn:
        result = conn.execute(
            mediation_cases.insert().values(
                task_id=task_id,
                retailer_id=retailer_id,
                subject=subject[:2000],
                parties=parties[:2000],
                mediator=mediator,
                opened=when,
                opened_by=opened_by,
                outcome="",
                closed=None,
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # set by every single-row INSERT
        return int(key[0])


def add_note(engine: sa.Engine, case_id: int, *, author: str, text: str, when: datetime) -> None:
    """Add a dated note to a case (notes are never changed)."""
    with write_transaction(engine, "store") as conn:
        conn.execute(mediation_notes.insert().values(case_id=case_id, time=when, author=author, text=text[:5000]))


def close_case(engine: sa.Engine, case_id: int, *, outcome: str, when: datetime) -> None:
    """Record a case's outcome and close it."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            mediation_cases.update()
            .where(mediation_cases.c.case_id == case_id)
            .values(outcome=outcome[:2000], closed=when)
        )


def list_cases(engine: sa.Engine) -> pd.DataFrame:
    """Every case, newest first."""
    with read_connection(engine, "store") as conn:
        rows = conn.execute(sa.select(mediation_cases).order_by(mediation_cases.c.case_id.desc())).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in mediation_cases.columns])


def get_case(engine: sa.Engine, case_id: int) -> tuple[dict, list[dict]] | None:
    """A case and its notes (oldest first), or None."""
    with read_connection(engine, "store") as conn:
        case = conn.execute(sa.select(mediation_cases).where(mediation_cases.c.case_id == case_id)).mappings().first()
        if case is None:
            return None
        notes = conn.execute(
            sa.select(mediation_notes).where(mediation_notes.c.case_id == case_id).order_by(mediation_notes.c.id)
        ).mappings()
        return dict(case), [dict(n) for n in notes]


def cases_of_task(engine: sa.Engine, task_id: str) -> list[int]:
    """The ids of the cases opened from a task, oldest first."""
    with read_connection(engine, "store") as conn:
        rows = conn.execute(
            sa.select(mediation_cases.c.case_id).where(mediation_cases.c.task_id == task_id).order_by("case_id")
        ).all()
    return [int(r[0]) for r in rows]
