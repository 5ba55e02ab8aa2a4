"""The mediation centre (调解中心): disputes between a retailer and the bureau as cases with dated notes.

A case is opened from a complaint or a public report (its task, so the case shows the report's
text, tracking code and history), or for a retailer alone. Who may open one from which task is
:func:`gridmgmt.permissions.case_refusal`; the case page shows the retailer, the report and the
case's own notes, nothing else of the district (no risk, no other tasks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from gridmgmt._errors import InputError
from gridmgmt.permissions import case_refusal
from gridmgmt.service.accounts import User
from gridmgmt.service.desk import task_of
from gridmgmt.service.live import Forbidden, LiveDistrict
from gridmgmt.service.schema import mediation_cases, mediation_notes
from gridmgmt.store.engine import read_connection, write_transaction


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


def case_source(live: LiveDistrict, user: User, task_id: str) -> dict[str, Any]:
    """The task ``user`` opens a case from (a page row of :func:`gridmgmt.service.desk.task_of`).

    Raises
    ------
    InputError
        No task ``task_id`` that the user may read.
    Forbidden
        The permission table refuses a case from it (:func:`gridmgmt.permissions.case_refusal`).
    """
    task = task_of(live, user, task_id)
    if task is None:
        raise InputError(
            f"no task {task_id} that you may read: open the case from a row of the Tasks page", file="form"
        )
    refusal = case_refusal(user.role, str(task["type"]), str(task["department"]))
    if refusal is not None:
        raise Forbidden(refusal)
    return task


def open_case_for(
    live: LiveDistrict, user: User, *, subject: str, parties: str, task_id: str = "", retailer_id: str = ""
) -> int:
    """Open a case as ``user``, from a task (its retailer, linked) or for a retailer; return its id.

    Raises
    ------
    InputError
        No such task or retailer, or neither given.
    Forbidden
        The permission table refuses it.
    """
    if task_id:
        retailer_id = str(case_source(live, user, task_id)["retailer_id"])
    elif retailer_id not in set(live.retailers()["retailer_id"]):
        raise InputError(
            f"no retailer {retailer_id!r}: give a licence number of the district, or a task_id", file="form"
        )
    return open_case(live.store.engine, retailer_id=retailer_id, subject=subject, parties=parties, task_id=task_id,
                     mediator=user.username, opened_by=user.username, when=live.now())  # fmt: skip


def cases_of_task(engine: sa.Engine, task_id: str) -> list[int]:
    """The ids of the cases opened from a task, oldest first."""
    with read_connection(engine, "store") as conn:
        rows = conn.execute(
            sa.select(mediation_cases.c.case_id).where(mediation_cases.c.task_id == task_id).order_by("case_id")
        ).all()
    return [int(r[0]) for r in rows]
