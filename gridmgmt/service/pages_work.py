"""Pages for squad leaders, planners and managers: Plan, Grids, Overview, Assessment (Mediation: pages_desk)."""

from __future__ import annotations

import re

import pandas as pd
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridmgmt.ops.patrol import DRAFT_KIND
from gridmgmt.ops.service_views import overview_html, risk_map_html
from gridmgmt.service.accounts import User
from gridmgmt.service.api import assessment_table
from gridmgmt.service.deps import client_address, lang_of, require, service_of
from gridmgmt.service.pages import render
from gridmgmt.service.security import with_script_nonce
from gridmgmt.service.streets import app_street_layer, grid_shapes_json
from gridmgmt.service.work import (
    GRIDS_PREVIEW_KIND,
    grids_preview_job,
    left_out,
    plan_job,
    publish_grids,
    publish_plan,
    records,
)
from gridmgmt.store import audit

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ Plan (squad leader)


@router.get("/plan")
def plan_page(request: Request, run: str = "", job: str = "", user: User = Depends(require("plan:view"))) -> Response:
    """Generate the day's routes (background job with progress), review a draft, publish it."""
    return _plan_view(request, user, run=run, job=job)


def _plan_view(request: Request, user: User, *, run: str = "", job: str = "", error: str = "") -> Response:
    """The Plan page; a review lists the mandatory visits the draft left out, ``error`` a refused publish (409)."""
    service = service_of(request)
    live = service.live
    the_job = service.jobs.get(job) if job else None
    review = None
    if run:
        draft = live.store.read_run(run)
        review = {
            "run_id": draft.run_id,
            "kind": draft.kind,
            "date": draft.parameters.get("date", ""),
            "summary": pd.DataFrame(draft.layers.get("summary", pd.DataFrame())).to_dict("records"),
            "stops": pd.DataFrame(draft.layers.get("stops", pd.DataFrame())).head(300).to_dict("records"),
            "left_out": left_out(live, draft).to_dict("records"),
            "cover_other_grids": bool(draft.parameters.get("cover_other_grids", False)),
        }
    squads = [f"G{int(g):02d}" for g in sorted({int(g) for g in live.owners()["grid_id"] if str(g).isdigit()})]
    return render(
        request,
        "plan.html",
        {
            "today": live.today(),
            "runs": records(live),
            "job": the_job.as_dict() if the_job else None,
            "review": review,
            "squads": squads,
            "can_generate": user.role in ("squad_leader", "admin"),
            "draft_kind": DRAFT_KIND,
            "error": error,
        },
        status=409 if error else 200,
    )


@router.post("/plan/generate")
def plan_generate(
    request: Request,
    date: str = Form(max_length=10),
    squads: list[str] = Form(default=[]),
    solution_limit: int = Form(50, ge=1, le=5000),
    cover_other_grids: str = Form("", max_length=8),
    user: User = Depends(require("plan:generate")),
) -> Response:
    job = plan_job(service_of(request), user, day=date, squads=[s[:16] for s in squads], solutions=solution_limit,
                   cover_other_grids=bool(cover_other_grids))  # fmt: skip
    return RedirectResponse(f"/plan?job={job.job_id}", status_code=303)


@router.post("/plan/publish")
def plan_publish(
    request: Request,
    run_id: str = Form(max_length=80),
    acknowledge_left_out: str = Form("", max_length=8),
    user: User = Depends(require("plan:generate")),
) -> Response:
    """Publish the reviewed draft; one leaving mandatory visits out needs the acknowledgement box ticked."""
    try:
        published = publish_plan(service_of(request), user, run_id, acknowledged=bool(acknowledge_left_out),
                                 lang=lang_of(request), address=client_address(request))  # fmt: skip
    except HTTPException as refused:
        if refused.status_code != 409:
            raise
        return _plan_view(request, user, run=run_id, error=str(refused.detail))
    return RedirectResponse(f"/plan?run={published}", status_code=303)


# ------------------------------------------------------------------ Grids (planner)


def _move_rows(moves: pd.DataFrame) -> list[dict[str, str]]:
    """A preview's moves for the page, as text: grid ids ('' for a new or closed shop's missing side)."""
    columns = ["retailer_id", "name", "from_grid", "to_grid", "reason"]
    table = moves.reindex(columns=columns)
    for column in ("from_grid", "to_grid"):
        grid = pd.to_numeric(table[column], errors="coerce")
        table[column] = [str(int(g)) if pd.notna(g) else "" for g in grid]
    table = table.fillna("").astype(str)
    return [dict(zip(columns, row, strict=True)) for row in table.itertuples(index=False)]


@router.get("/grids")
def grids_page(request: Request, run: str = "", job: str = "", user: User = Depends(require("grids:view"))) -> Response:
    """The grid map, a what-if rebalance preview with the moves listed, publish."""
    service = service_of(request)
    live = service.live
    owners = live.owners()
    names = live.staff_names()
    table = owners.groupby("grid_id").agg(
        retailers=("retailer_id", "size"), customer_manager=("customer_manager", "first"),
        monopoly_officer=("monopoly_officer", "first"),
    ).reset_index()  # fmt: skip
    table["customer_manager"] = table["customer_manager"].map(lambda s: f"{s} {names.get(s, '')}".strip())
    table["monopoly_officer"] = table["monopoly_officer"].map(lambda s: f"{s} {names.get(s, '')}".strip())
    table = table.sort_values("grid_id", key=lambda s: s.str.zfill(6))
    preview = None
    if run:
        found = live.store.read_run(run)
        if found.kind == GRIDS_PREVIEW_KIND:
            preview = {
                "run_id": found.run_id,
                "moves": _move_rows(pd.DataFrame(found.layers.get("moves", pd.DataFrame())).head(500)),
                "parameters": found.parameters,
            }
    the_job = service.jobs.get(job) if job else None
    return render(
        request,
        "grids.html",
        {
            "grids": table.to_dict("records"),
            "shapes": grid_shapes_json(request),
            "preview": preview,
            "job": the_job.as_dict() if the_job else None,
            "can_publish": user.role in ("planner", "admin"),
            "today": live.today(),
        },
    )


@router.post("/grids/preview")
def grids_preview(
    request: Request,
    k: str = Form("", max_length=4),
    lock_grids: str = Form("", max_length=200),
    user: User = Depends(require("grids:publish")),
) -> Response:
    try:
        locked = [int(x) for x in lock_grids.replace(" ", "").split(",") if x]
        grids_k = int(k) if k.strip() else None
    except ValueError as error:
        raise HTTPException(400, "grid ids are whole numbers, separated by commas") from error
    job = grids_preview_job(service_of(request), user, k=grids_k, lock_grids=locked)
    return RedirectResponse(f"/grids?job={job.job_id}", status_code=303)


@router.post("/grids/publish")
def grids_publish(
    request: Request,
    run_id: str = Form(max_length=80),
    valid_from: str = Form(max_length=10),
    user: User = Depends(require("grids:publish")),
) -> Response:
    try:
        day = pd.Timestamp(valid_from).date().isoformat()
    except ValueError as error:
        raise HTTPException(400, f"not a date: {valid_from}") from error
    publish_grids(service_of(request), user, run_id, valid_from=day, address=client_address(request))
    return RedirectResponse("/grids", status_code=303)


# ------------------------------------------------------------------ managers


@router.get("/overview")
def overview(request: Request, user: User = Depends(require("overview:view"))) -> Response:
    """The managers' overview, live from the store (the existing page, framed)."""
    return render(request, "frame.html", {"title_key": "overview", "src": f"/overview/page?lang={lang_of(request)}"})


@router.get("/overview/page")
def overview_raw(request: Request, user: User = Depends(require("overview:view"))) -> HTMLResponse:
    live = service_of(request).live
    lang = lang_of(request)
    tomorrow = (pd.Timestamp(live.today()) + pd.Timedelta(days=1)).date().isoformat()
    html = live.derived(
        f"overview:{lang}",
        lambda _events: overview_html(live.live_district(), as_of=tomorrow, lang=lang, risk=live.risk()),
    )
    return HTMLResponse(with_script_nonce(html, request.state.csp_nonce))


@router.get("/risk")
def risk_page(request: Request, user: User = Depends(require("overview:view"))) -> Response:
    return render(request, "frame.html", {"title_key": "risk_map", "src": f"/risk/map?lang={lang_of(request)}"})


@router.get("/risk/map")
def risk_map_raw(request: Request, user: User = Depends(require("overview:view"))) -> HTMLResponse:
    """The risk map (folium, every asset inline), live from the store."""
    live = service_of(request).live
    lang = lang_of(request)
    streets = app_street_layer(request).bands

    def build(_events: pd.DataFrame) -> str:
        return risk_map_html(live.district, live.risk(), as_of=live.today(), lang=lang, streets=streets)

    return HTMLResponse(with_script_nonce(live.derived(f"risk_map:{lang}", build), request.state.csp_nonce))


@router.get("/responsibility")
def responsibility_page(request: Request, user: User = Depends(require("overview:view"))) -> Response:
    """Grids without a full pair, retailers past their cycle, overdue tasks: totals and the overdue tasks."""
    live = service_of(request).live
    tasks = live.tasks()
    overdue = tasks.loc[tasks["status"] == "overdue"].sort_values("deadline")
    by_grid = tasks.groupby("grid_id")["status"].value_counts().unstack(fill_value=0).reset_index()
    return render(
        request,
        "responsibility.html",
        {
            "overdue": overdue.head(300).to_dict("records"),
            "by_grid": by_grid.to_dict("records"),
            "columns": list(by_grid.columns),
        },
    )


@router.get("/assessment")
def assessment_page(
    request: Request, month: str = "", by: str = "pair", user: User = Depends(require("assessment:view"))
) -> Response:
    """The monthly assessment (考核) per pair or per person, with a CSV download."""
    live = service_of(request).live
    month = month if re.fullmatch(r"(19|20)\d{2}-(0[1-9]|1[0-2])", month) else live.today()[:7]
    by = by if by in ("pair", "person") else "pair"
    table = assessment_table(request, month, by)
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return render(
        request,
        "assessment.html",
        {"month": month, "by": by, "columns": list(shown.columns), "rows": shown.to_dict("records")},
    )


@router.get("/audit")
def audit_page(request: Request, user: User = Depends(require("audit:view"))) -> Response:
    rows = audit.read(service_of(request).engine, limit=300)
    return render(request, "audit.html", {"rows": rows.to_dict("records"), "columns": list(rows.columns)})
