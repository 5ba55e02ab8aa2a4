"""The mediation centre (调解中心): disputes between a retailer and the bureau as cases with dated notes.

A case is opened from a complaint or a public report (its task, so the case shows the report's
text, tracking code and history), or for a retailer alone. Who may open one from which task is
:func:`gridmgmt.permissions.case_refusal`; the case page shows the retailer, the report and the
case's own notes, nothing else of the district (no risk, no other tasks).
"""

from __future__ import annotations

from typing import Any

from gridmgmt._errors import InputError
from gridmgmt.permissions import case_refusal
from gridmgmt.service.accounts import User
from gridmgmt.service.desk import task_of
from gridmgmt.service.live import Forbidden, LiveDistrict
from gridmgmt.store.mediation import add_note, cases_of_task, close_case, get_case, list_cases, open_case

__all__ = ["add_note", "case_source", "cases_of_task", "close_case", "get_case", "list_cases", "open_case",
           "open_case_for"]  # fmt: skip


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
