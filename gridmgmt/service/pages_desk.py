"""The desk's pages: Tasks (squad leaders, managers; mediators: complaints and public reports) and Mediation.

What each role reads is :data:`gridmgmt.permissions.TASK_READ`; every text is data, rendered escaped.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from gridmgmt.permissions import allowed, task_read
from gridmgmt.service import mediation
from gridmgmt.service.accounts import User
from gridmgmt.service.deps import require, service_of
from gridmgmt.service.desk import (
    ROWS_SHOWN,
    STATUS_WORDS,
    TASK_STATUSES,
    TaskFilter,
    filter_tasks,
    readable_tasks,
    task_of,
    task_rows,
)
from gridmgmt.service.pages import render
from gridmgmt.vocab import TASK_TYPES

router = APIRouter(include_in_schema=False)

# ------------------------------------------------------------------ Tasks


@router.get("/tasks")
def tasks_page(
    request: Request,
    status: str = "",
    type: str = "",
    grid: str = "",
    q: str = "",
    user: User = Depends(require("tasks:desk")),
) -> Response:
    """Every task the user may read with its text, deadline, grid, pair, status and history; filters."""
    live = service_of(request).live
    table = readable_tasks(live, user)
    rule = task_read(user.role)
    types = [t for t in TASK_TYPES if rule and any(k[0] == t for k in rule.kinds)]
    wanted = TaskFilter(
        status=status if status in TASK_STATUSES else "",
        type=type if type in types else "",
        grid=grid[:16],
        q=q[:100],
    )
    shown = filter_tasks(table, wanted)
    grids = sorted(set(table["grid_id"]) - {""}, key=lambda g: g.zfill(6))
    return render(
        request,
        "tasks.html",
        {
            "tasks": task_rows(shown.head(ROWS_SHOWN)),
            "total": len(shown),
            "limit": ROWS_SHOWN,
            "wanted": wanted,
            "statuses": TASK_STATUSES,
            "status_words": STATUS_WORDS,
            "types": types,
            "grids": grids,
        },
    )


@router.get("/tasks/{task_id:path}")
def task_page(task_id: str, request: Request, user: User = Depends(require("tasks:desk"))) -> Response:
    """One task (a public report shows its tracking code): its text, history and the cases opened from it."""
    live = service_of(request).live
    task = task_of(live, user, task_id[:80])
    if task is None:
        raise HTTPException(404, f"no task {task_id[:80]} that you may read")
    cases = mediation.cases_of_task(live.store.engine, task["task_id"]) if allowed(user.role, "mediation:view") else []
    return render(request, "task.html", {"task": task, "cases": cases})


# ------------------------------------------------------------------ Mediation


@router.get("/mediation")
def mediation_page(request: Request, task: str = "", user: User = Depends(require("mediation:view"))) -> Response:
    """The cases; for a mediator the new-case form, prefilled from a task when ``task`` names one."""
    live = service_of(request).live
    can_edit = allowed(user.role, "mediation:edit")
    source = mediation.case_source(live, user, task[:80]) if task and can_edit else None
    cases = mediation.list_cases(live.store.engine)
    shops = live.retailers().set_index("retailer_id")["name"]
    cases["name"] = cases["retailer_id"].map(shops).fillna("")
    return render(
        request, "mediation.html", {"cases": cases.to_dict("records"), "can_edit": can_edit, "source": source}
    )


@router.post("/mediation")
def mediation_open(
    request: Request,
    subject: str = Form(max_length=2000),
    parties: str = Form("", max_length=2000),
    task_id: str = Form("", max_length=80),
    retailer_id: str = Form("", max_length=64),
    user: User = Depends(require("mediation:edit")),
) -> Response:
    """Open a case from a task (its retailer, linked) or for a retailer typed in."""
    live = service_of(request).live
    case_id = mediation.open_case_for(
        live, user, subject=subject, parties=parties, task_id=task_id, retailer_id=retailer_id
    )
    return RedirectResponse(f"/mediation/{case_id}", status_code=303)


@router.get("/mediation/{case_id}")
def mediation_case(case_id: int, request: Request, user: User = Depends(require("mediation:view"))) -> Response:
    """A case: the retailer, the report it was opened from (text, tracking code, history), the notes."""
    live = service_of(request).live
    found = mediation.get_case(live.store.engine, case_id) if 0 < case_id < 2_000_000_000 else None
    if found is None:
        raise HTTPException(404, f"no case {case_id}")
    case, notes = found
    shops = live.retailers().set_index("retailer_id")
    shop = shops.loc[case["retailer_id"]].to_dict() if case["retailer_id"] in shops.index else {}
    task = task_of(live, user, case["task_id"]) if case["task_id"] else None
    return render(
        request,
        "mediation_case.html",
        {
            "case": case,
            "notes": notes,
            "shop": {"name": shop.get("name", ""), "address": shop.get("address", "")},
            "task": task,
            "can_edit": allowed(user.role, "mediation:edit") and not case["closed"],
        },
    )


@router.post("/mediation/{case_id}/note")
def mediation_note(
    case_id: int, request: Request, text: str = Form(max_length=5000), user: User = Depends(require("mediation:edit"))
) -> Response:
    live = service_of(request).live
    if mediation.get_case(live.store.engine, case_id) is None:
        raise HTTPException(404, f"no case {case_id}")
    mediation.add_note(live.store.engine, case_id, author=user.username, text=text, when=live.now())
    return RedirectResponse(f"/mediation/{case_id}", status_code=303)


@router.post("/mediation/{case_id}/close")
def mediation_close(
    case_id: int,
    request: Request,
    outcome: str = Form(max_length=2000),
    user: User = Depends(require("mediation:edit")),
) -> Response:
    live = service_of(request).live
    if mediation.get_case(live.store.engine, case_id) is None:
        raise HTTPException(404, f"no case {case_id}")
    mediation.close_case(live.store.engine, case_id, outcome=outcome, when=live.now())
    return RedirectResponse(f"/mediation/{case_id}", status_code=303)
