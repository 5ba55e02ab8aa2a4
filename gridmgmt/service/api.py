"""The JSON API: login, today, tasks, events (record and correct, never edit), risk, plans, assessment, public channel.

Documented at ``/openapi.json``. Staff endpoints need a session (cookie + ``X-CSRF-Token`` on
writes, or ``Authorization: Bearer``); only ``/api/public/...`` is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridmgmt.permissions import ATTEMPT_RESULTS
from gridmgmt.service import accounts, mediation
from gridmgmt.service.accounts import User
from gridmgmt.service.assessment import assessment, per_person
from gridmgmt.service.deps import client_address, lang_of, refuse, require, service_of, session_of
from gridmgmt.service.live import Forbidden
from gridmgmt.service.work import file_public_report, left_out, plan_job, publish_plan, records, report_status
from gridmgmt.store import audit
from gridmgmt.store.eventlog import EventIdConflict
from gridmgmt.vocab import EVENT_TYPES, OUTCOMES, PUBLIC_TYPES, SEVERITIES, VIOLATION_KINDS

router = APIRouter(prefix="/api")

Text = Annotated[str, Field(max_length=2000)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
CaseId = Annotated[int, PathParam(ge=1, le=2_000_000_000)]


class LoginIn(BaseModel):
    username: Annotated[str, Field(max_length=64)]
    password: Annotated[str, Field(max_length=200)]


class LoginOut(BaseModel):
    token: str
    csrf: str
    username: str
    role: str


if TYPE_CHECKING:  # type checkers read the words as strings; pydantic checks them against gridmgmt.vocab
    EventType: TypeAlias = str
    PublicType: TypeAlias = str
    Outcome: TypeAlias = str
    Severity: TypeAlias = str
    ViolationKind: TypeAlias = str
    AttemptResult: TypeAlias = str
else:
    AttemptResult = Literal[("", *ATTEMPT_RESULTS)]
    EventType, PublicType = Literal[EVENT_TYPES], Literal[PUBLIC_TYPES]
    Outcome, Severity, ViolationKind = (Literal[("", *words)] for words in (OUTCOMES, SEVERITIES, VIOLATION_KINDS))


class EventIn(BaseModel):
    """An event to record; ``time`` is now, ``department`` the user's."""

    type: EventType
    retailer_id: Id
    outcome: Outcome = ""
    severity: Severity = ""
    violation_kind: ViolationKind = ""
    note: Text = ""


#: an event id made by the phone (``P-`` and a UUIDv7, as :func:`gridmgmt.store.eventlog.new_event_id` makes them)
PHONE_EVENT_ID = r"^P-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class RecordIn(EventIn):
    """An event to record; a phone's queue names it with its own ``event_id``, stored once whatever the retries."""

    event_id: Annotated[str, Field(pattern=PHONE_EVENT_ID)] | Literal[""] = ""
    x_result: AttemptResult = ""  # a stop without a finding: a visit whose shop was not found or closed
    x_tapped_at: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")] | Literal[""] = ""


class CorrectionIn(EventIn):
    """The corrected event in full; it replaces the earlier one in every count, which stays in the log."""


class PlanIn(BaseModel):
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] = ""
    squads: list[Annotated[str, Field(max_length=16)]] = []
    solution_limit: Annotated[int, Field(ge=1, le=5000)] = 50
    #: with squads: may they also visit the other grids' retailers (default: only their own grids')
    cover_other_grids: bool = False


class PublishIn(BaseModel):
    #: publish although the draft leaves mandatory visits out (the count goes in the audit)
    acknowledge_left_out: bool = False


class PublicReportIn(BaseModel):
    """A complaint or tip-off from the public; name a retailer, or give a map point."""

    kind: PublicType
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    retailer_id: Annotated[str, Field(max_length=64)] = ""
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    contact: Annotated[str, Field(max_length=200)] = ""
    form_token: Annotated[str, Field(max_length=100)] = ""
    website: Annotated[str, Field(max_length=200)] = ""  # honeypot: people leave it empty


class CaseIn(BaseModel):
    """A new case: from a task (a complaint or a public report; its retailer, linked) or for a retailer."""

    task_id: Annotated[str, Field(max_length=80)] = ""
    retailer_id: Annotated[str, Field(max_length=64)] = ""
    subject: Annotated[str, Field(min_length=1, max_length=2000)]
    parties: Text = ""


class NoteIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=5000)]


class OutcomeIn(BaseModel):
    outcome: Annotated[str, Field(min_length=1, max_length=2000)]


_SHARED_JSON: dict[int, tuple[pd.DataFrame, list[dict[str, Any]]]] = {}


def shared_records_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`records_json` of a table the service caches and never changes (today's tasks and routes).

    Many users read the same few tables between two events; converting each once saves most of
    a Today request. Keyed by the object, which the entry keeps alive so its id stays its own.
    """
    hit = _SHARED_JSON.get(id(frame))
    if hit is not None and hit[0] is frame:
        return hit[1]
    if len(_SHARED_JSON) > 1000:
        _SHARED_JSON.clear()
    records = records_json(frame)
    _SHARED_JSON[id(frame)] = (frame, records)
    return records


def records_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe records (times as ISO text, missing values as null)."""
    columns = []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
        missing = values.isna().to_numpy()
        columns.append([None if gone else value for value, gone in zip(values.tolist(), missing, strict=True)])
    names = [str(name) for name in frame.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


# ------------------------------------------------------------------ session


@router.post("/login", response_model=LoginOut, tags=["session"])
def login(body: LoginIn, request: Request) -> LoginOut:
    """Log in; answers a session token (``Authorization: Bearer``) and its CSRF token. Rate-limited."""
    return LoginOut(**login_user(request, body.username, body.password, api=True))


def login_user(request: Request, username: str, password: str, *, api: bool) -> dict[str, str]:
    """Check the back-off and the password; start a session; audit either way (shared with the login page).

    Wrong passwords slow down that user name from that address only (:class:`LoginGuard`): 429 with
    ``Retry-After`` while it waits; the right password from another address always works.
    """
    service = service_of(request)
    address = client_address(request)
    wait_s = service.login_guard.wait_s(username, address)
    if wait_s > 0:
        raise refuse(
            request, 429, "too many login attempts; try again later", username=username[:64], retry_after_s=wait_s
        )
    user = accounts.authenticate(service.engine, username, password)
    if user is None:
        service.login_guard.failed(username, address)  # only failures count
        audit.record(service.engine, username=username[:64], action="login", outcome="failed_login", address=address)
        raise refuse(request, 401, "wrong user name or password", username=username[:64]) if api else PermissionError()
    service.login_guard.succeeded(username, address)
    token, session = accounts.start_session(service.engine, user)
    audit.record(service.engine, username=user.username, action="login", outcome="ok", address=address)
    return {"token": token, "csrf": session.csrf, "username": user.username, "role": user.role}


@router.post("/logout", tags=["session"])
def logout(request: Request, user: User = Depends(require())) -> dict[str, bool]:
    """End this session."""
    session = session_of(request)
    if session is not None:
        accounts.end_session(service_of(request).engine, session.token_hash)
    return {"ok": True}


@router.get("/me", tags=["session"])
def me(request: Request, user: User = Depends(require())) -> dict[str, Any]:
    """The logged-in user, their grids today and the CSRF token for writes with the cookie."""
    session = session_of(request)
    live = service_of(request).live
    return {
        "username": user.username,
        "role": user.role,
        "staff_id": user.staff_id,
        "grids": sorted(live.grids_of(user)),
        "csrf": session.csrf if session else "",
        "today": live.today(),
    }


# ------------------------------------------------------------------ field work


@router.get("/today", tags=["field work"])
def today(request: Request, user: User = Depends(require("today:view"))) -> dict[str, Any]:
    """The pair's route for today (null: no plan published yet) and the open tasks of their grids."""
    live = service_of(request).live
    route = live.route_for(user)
    return {
        "date": live.today(),
        "grids": sorted(live.grids_of(user)),
        "route": None if route is None else shared_records_json(route),
        "tasks": shared_records_json(live.tasks_for(user)),
    }


@router.get("/tasks", tags=["field work"])
def tasks(
    request: Request,
    status: Literal["open", "all"] = "open",
    user: User = Depends(require("tasks:list")),
) -> list[dict[str, Any]]:
    """Tasks the user may read (``gridmgmt.permissions.TASK_READ``): their grids' for a pair, complaints and the
    public's reports for a mediator, all for squad leaders, planners and managers."""
    return shared_records_json(service_of(request).live.tasks_for(user, open_only=status == "open"))


@router.get("/retailers", tags=["field work"])
def retailers(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    user: User = Depends(require("retailers:search")),
) -> list[dict[str, Any]]:
    """Search retailers by name, licence number or address (at most 20)."""
    live = service_of(request).live
    found = live.search_retailers(q)
    return records_json(found.assign(grid_id=[live.grid_of_retailer(r) for r in found["retailer_id"]]))


@router.get("/events", tags=["events"])
def events(
    request: Request,
    retailer_id: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    user: User = Depends(require("tasks:view")),
) -> list[dict[str, Any]]:
    """The newest events (of one retailer when given); a pair sees only their grids' retailers."""
    live = service_of(request).live
    frame = live.events()
    if retailer_id:
        frame = frame.loc[frame["retailer_id"] == retailer_id]
    if not (user.role == "admin" or user.role in ("manager", "squad_leader", "planner")):
        owners = live.owners()
        mine = set(owners.loc[owners["grid_id"].isin(live.grids_of(user)), "retailer_id"])
        frame = frame.loc[frame["retailer_id"].isin(mine)]
    return records_json(frame.tail(limit).iloc[::-1])


@router.post("/events", status_code=201, tags=["events"], responses={200: {"description": "Stored before"}})
def record_event(
    body: RecordIn, request: Request, response: Response, user: User = Depends(require())
) -> list[dict[str, Any]]:
    """Record an event now (an inspection finding a violation records it too); 403 outside the role or grid.

    With ``event_id`` (the phone's own), sending it again stores nothing new: 200 with the stored
    events; the same id with other content is refused with 409.
    """
    try:
        added, stored_now = service_of(request).live.record_once(user, body.model_dump())
    except EventIdConflict as conflict:
        raise HTTPException(409, str(conflict)) from conflict
    if not stored_now:
        response.status_code = 200
    return added


@router.post("/events/{event_id}/corrections", status_code=201, tags=["events"])
def correct_event(
    event_id: Annotated[str, PathParam(max_length=80)],
    body: CorrectionIn,
    request: Request,
    user: User = Depends(require()),
) -> list[dict[str, Any]]:
    """Correct an event: a new event naming it in ``corrects`` (who and when are recorded); nothing is edited."""
    live = service_of(request).live
    frame = live.events()
    if not (frame["event_id"] == event_id).any():
        raise refuse(request, 404, f"no event {event_id}", username=user.username)
    return live.record(user, {**body.model_dump(), "corrects": event_id})


@router.get("/risk/{retailer_id}", tags=["risk"])
def risk(
    retailer_id: Annotated[str, PathParam(max_length=64)], request: Request, user: User = Depends(require("tasks:view"))
) -> dict[str, Any]:
    """A retailer's risk score, level and reasons as of now."""
    live = service_of(request).live
    if user.role in ("marketing", "monopoly") and live.grid_of_retailer(retailer_id) not in live.grids_of(user):
        raise Forbidden(f"retailer {retailer_id} is not in your grid")
    table = live.risk()
    row = table.loc[table["retailer_id"] == retailer_id]
    if row.empty:
        raise refuse(request, 404, f"no retailer {retailer_id}", username=user.username)
    return records_json(row[[c for c in row.columns if c in RISK_FIELDS]])[0]


RISK_FIELDS = ("retailer_id", "score", "level", *(f"reason_{i}_{lang}" for i in (1, 2, 3) for lang in ("zh", "en")))


# ------------------------------------------------------------------ plans


@router.post("/plans", status_code=202, tags=["plans"])
def start_plan(body: PlanIn, request: Request, user: User = Depends(require("plan:generate"))) -> dict[str, Any]:
    """Generate a day plan in the background; poll ``/api/jobs/{job_id}``; the result is a draft run to publish."""
    service = service_of(request)
    job = plan_job(
        service,
        user,
        day=body.date or service.live.today(),
        squads=body.squads,
        solutions=body.solution_limit,
        cover_other_grids=body.cover_other_grids,
    )
    return job.as_dict()


@router.get("/jobs/{job_id}", tags=["plans"])
def job_status(
    job_id: Annotated[str, PathParam(max_length=32)], request: Request, user: User = Depends(require())
) -> dict[str, Any]:
    """A background job's state and progress (only its owner or a manager sees it)."""
    job = service_of(request).jobs.get(job_id)
    if job is None or (job.owner != user.username and user.role not in ("manager", "admin")):
        raise refuse(request, 404, "no such job", username=user.username)
    return job.as_dict()


@router.get("/plans", tags=["plans"])
def plans(request: Request, user: User = Depends(require("plan:view"))) -> list[dict[str, Any]]:
    """Stored day plans, drafts and published, newest first."""
    return records(service_of(request).live)


@router.get("/plans/{run_id}/left-out", tags=["plans"])
def plan_left_out(
    run_id: Annotated[str, PathParam(max_length=80)], request: Request, user: User = Depends(require("plan:view"))
) -> list[dict[str, Any]]:
    """The mandatory visits a stored plan left out, each with its grid and why (``why``: other_grid,
    unreachable, not_open, search_failed, no_time; ``reason``: the planner's words)."""
    live = service_of(request).live
    return records_json(left_out(live, live.store.read_run(run_id)))


@router.post("/plans/{run_id}/publish", tags=["plans"])
def publish(
    run_id: Annotated[str, PathParam(max_length=80)],
    request: Request,
    body: PublishIn | None = None,
    user: User = Depends(require("plan:generate")),
) -> dict[str, str]:
    """Publish a reviewed draft: it becomes the day's route on every pair's Today page.

    A draft that leaves mandatory visits out (``GET /api/plans/{run_id}/left-out``) needs
    ``{"acknowledge_left_out": true}``; without it: 409.
    """
    acknowledged = body is not None and body.acknowledge_left_out
    published = publish_plan(service_of(request), user, run_id, acknowledged=acknowledged, lang=lang_of(request),
                             address=client_address(request))  # fmt: skip
    return {"run_id": published}


# ------------------------------------------------------------------ managers


@router.get("/assessment", tags=["managers"])
def assessment_api(
    request: Request,
    month: Annotated[str, Query(pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$")] = "",
    by: Literal["pair", "person"] = "pair",
    format: Literal["json", "csv"] = "json",
    user: User = Depends(require("assessment:view")),
) -> Any:
    """The monthly assessment (考核) per pair or per person, as JSON or CSV."""
    table = assessment_table(request, month, by)
    if format == "csv":
        return Response(
            table.to_csv(index=False).encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="assessment-{by}-{month or "current"}.csv"'},
        )
    return records_json(table)


def assessment_table(request: Request, month: str, by: str) -> pd.DataFrame:
    """The assessment table of ``month`` (default the current month) per pair or per person."""
    live = service_of(request).live
    month = month or live.today()[:7]
    risk = live.risk()
    table = assessment(
        month,
        retailers=live.district.retailers,
        events=live.events(),
        tasks=live.tasks(),
        owners=live.owners(),
        settings=live.district.settings,
        risk_level=risk.set_index("retailer_id")["level"],
        today=live.today(),
    )
    return per_person(table, live.staff_names()) if by == "person" else table


@router.get("/audit", tags=["managers"])
def audit_api(
    request: Request,
    outcome: Annotated[str, Query(max_length=32)] = "",
    user: User = Depends(require("audit:view")),
) -> list[dict[str, Any]]:
    """The newest audit rows (refusals, logins, publications)."""
    return records_json(audit.read(service_of(request).engine, outcome=outcome or None))


@router.get("/users", tags=["managers"])
def users_api(request: Request, user: User = Depends(require("users:view"))) -> list[dict[str, Any]]:
    """Every user: name, role, staff id, disabled."""
    return [u.__dict__ for u in accounts.list_users(service_of(request).engine)]


# ------------------------------------------------------------------ mediation


@router.get("/mediation/cases", tags=["mediation"])
def cases(request: Request, user: User = Depends(require("mediation:view"))) -> list[dict[str, Any]]:
    """Every mediation case, newest first."""
    return records_json(mediation.list_cases(service_of(request).engine))


@router.post("/mediation/cases", status_code=201, tags=["mediation"])
def open_case(body: CaseIn, request: Request, user: User = Depends(require("mediation:edit"))) -> dict[str, int]:
    """Open a case from ``task_id`` (its retailer) or for ``retailer_id``; the mediator is the user who opens it."""
    live = service_of(request).live
    if not body.task_id and body.retailer_id not in set(live.retailers()["retailer_id"]):
        raise refuse(request, 404, f"no retailer {body.retailer_id}", username=user.username)
    case_id = mediation.open_case_for(live, user, **body.model_dump())
    return {"case_id": case_id}


@router.post("/mediation/cases/{case_id}/notes", status_code=201, tags=["mediation"])
def add_note(case_id: CaseId, body: NoteIn, request: Request, user: User = Depends(require("mediation:edit"))) -> dict:
    """Add a dated note to a case."""
    live = service_of(request).live
    if mediation.get_case(live.store.engine, case_id) is None:
        raise refuse(request, 404, f"no case {case_id}", username=user.username)
    mediation.add_note(live.store.engine, case_id, author=user.username, text=body.text, when=live.now())
    return {"ok": True}


@router.post("/mediation/cases/{case_id}/outcome", tags=["mediation"])
def close_case(
    case_id: CaseId, body: OutcomeIn, request: Request, user: User = Depends(require("mediation:edit"))
) -> dict:
    """Record the outcome and close the case."""
    live = service_of(request).live
    if mediation.get_case(live.store.engine, case_id) is None:
        raise refuse(request, 404, f"no case {case_id}", username=user.username)
    mediation.close_case(live.store.engine, case_id, outcome=body.outcome, when=live.now())
    return {"ok": True}


# ------------------------------------------------------------------ public channel (no login)


@router.get("/public/form-token", tags=["public"])
def form_token(request: Request) -> dict[str, str]:
    """A token to send with a report (it proves the form was open for a few seconds)."""
    return {"form_token": service_of(request).signer.issue()}


@router.get("/public/retailers", tags=["public"])
def public_retailers(request: Request, q: Annotated[str, Query(min_length=2, max_length=100)]) -> list[dict[str, str]]:
    """Find a shop by name or address: licence number, name and address only."""
    found = service_of(request).live.search_retailers(q, limit=10)
    return [{k: str(r[k]) for k in ("retailer_id", "name", "address")} for r in found.to_dict("records")]


@router.post("/public/reports", status_code=201, tags=["public"])
def public_report(body: PublicReportIn, request: Request) -> dict[str, str]:
    """File a complaint or tip-off (anonymous allowed); answers the tracking code. Rate-limited per address."""
    code = file_public_report(service_of(request), request, body.model_dump())
    return {"tracking_code": code}


@router.get("/public/reports/{code}", tags=["public"])
def public_report_status(code: Annotated[str, PathParam(max_length=32)], request: Request) -> dict[str, str]:
    """A report's status by its tracking code: received, assigned or handled (nothing personal)."""
    status = report_status(service_of(request), code)
    if status is None:
        raise refuse(request, 404, "unknown tracking code")
    return status.__dict__
