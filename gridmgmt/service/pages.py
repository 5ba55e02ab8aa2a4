"""Server-rendered pages for field staff and the public: login, Today, Report, the public channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from gridmgmt._errors import InputError
from gridmgmt.labels import COLUMN_WORDS, register_labels, said, translator, word
from gridmgmt.permissions import HOME, allowed
from gridmgmt.service.accounts import User
from gridmgmt.service.api import login_user
from gridmgmt.service.deps import COOKIE, HERE, LANG_COOKIE, is_tls, lang_of, require, service_of, session_of
from gridmgmt.service.work import file_public_report, report_status
from gridmgmt.vocab import LANGS, PUBLIC_TYPES, SEVERITIES, TASK_TYPES, VIOLATION_KINDS

router = APIRouter(include_in_schema=False)

#: navigation: (permission, path, label key)
NAV = (
    ("today:view", "/today", "today"),
    ("retailers:search", "/report", "report"),
    ("plan:view", "/plan", "plan"),
    ("tasks:desk", "/tasks", "tasks"),
    ("grids:view", "/grids", "grids"),
    ("overview:view", "/overview", "overview"),
    ("overview:view", "/risk", "risk_map"),
    ("overview:view", "/responsibility", "responsibility"),
    ("assessment:view", "/assessment", "assessment"),
    ("mediation:view", "/mediation", "mediation"),
    ("audit:view", "/audit", "audit"),
)


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """A page in the request's language, with the user, their CSRF token and the navigation they may use."""
    service = service_of(request)
    lang = lang_of(request)
    session = session_of(request)
    user = session.user if session else None
    nav = [(path, key) for perm, path, key in NAV if user and allowed(user.role, perm)]
    base = {"t": translator(lang), "lang": lang, "user": user, "csrf": session.csrf if session else "", "nav": nav}
    base["public_kinds"] = PUBLIC_TYPES
    # the record's codes in the page's words: word("purpose", "tip_off,routine"), said(progress line)
    base.update(word=lambda kind, codes: word(kind, codes, lang), said=lambda line: said(line, lang))
    base.update(column_words=COLUMN_WORDS, violation_kinds=VIOLATION_KINDS, severities=SEVERITIES)
    response = service.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    return service_of(request).options.secure_cookies or is_tls(request)


@router.get("/")
def home(request: Request) -> Response:
    """The user's start page, or the login page."""
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME.get(session.user.role, "/today"), status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    return render(request, "login.html", {"next": next if next.startswith("/") else "", "error": ""})


@router.post("/login")
def login_post(
    request: Request, username: str = Form(max_length=64), password: str = Form(max_length=200), next: str = Form("")
) -> Response:
    """Log in with the form; sets the session cookie (HttpOnly, SameSite=Lax, Secure over TLS)."""
    t = translator(lang_of(request))
    try:
        result = login_user(request, username, password, api=False)
    except PermissionError:
        return render(request, "login.html", {"next": next, "error": t("login_failed")}, status=401)
    except HTTPException as error:
        if error.status_code == 429:
            response = render(request, "login.html", {"next": next, "error": t("too_many")}, status=429)
            response.headers.update(error.headers or {})
            return response
        raise
    target = next if next.startswith("/") and not next.startswith("//") else HOME.get(result["role"], "/today")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, result["token"], httponly=True, samesite="lax", secure=_secure(request), max_age=12 * 3600, path="/"
    )
    return response


@router.post("/logout")
def logout_post(request: Request, user: User = Depends(require())) -> Response:
    from gridmgmt.service import accounts

    session = session_of(request)
    if session is not None:
        accounts.end_session(service_of(request).engine, session.token_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ------------------------------------------------------------------ Today

#: the offline Today page's words (static/today.js reads them from the page)
TODAY_WORDS = {
    "waiting": {"zh": "{n} 条待发送", "en": "{n} waiting to send"},
    "all_sent": {"zh": "全部已发送", "en": "All sent"},
    "offline": {
        "zh": "离线：记录保存在手机上，有信号时自动发送",
        "en": "Offline: kept on this phone, sent when there is signal",
    },
    "login_to_send": {"zh": "请重新登录后发送", "en": "Log in again to send"},
    "state_waiting": {"zh": "待发送", "en": "waiting to send"},
    "state_sent": {"zh": "已发送", "en": "sent"},
    "state_refused": {"zh": "被拒绝", "en": "refused"},
    "recorded_before": {"zh": "今日已有记录", "en": "Already recorded today"},
    "kept_too": {"zh": "本次记录也已保留", "en": "this one is kept too"},
    "dismiss": {"zh": "知道了", "en": "Dismiss"},
}
register_labels(TODAY_WORDS, prefix="today.")
#: the stop outcomes a Today page shows as done: (type, outcome or result) -> the button's word
_DONE_WORDS = {
    ("inspection", "ok"): "inspection_ok",
    ("inspection", "violation"): "violation",
    ("visit", ""): "visited",
    ("visit", "not_found"): "not_found",
    ("visit", "closed"): "closed",
}


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The Today page's service worker (static/sw.js), served from the root so its scope may be ``/today``."""
    return FileResponse(HERE / "static" / "sw.js", media_type="text/javascript")


def recorded_today(events: Any, day: str, retailer_ids: set[str]) -> dict[str, list[tuple[str, str, str]]]:
    """``{retailer_id: [(time HH:MM, label key, event id), ...]}``: the stop outcomes recorded on ``day``
    (not corrected)."""
    start = events["time"].searchsorted(datetime.fromisoformat(day))
    found = events.iloc[start:]
    found = found.loc[found["retailer_id"].isin(retailer_ids) & (found["corrected_by"] == "")]
    found = found.assign(result=found["x_result"].fillna("") if "x_result" in found else "")
    rows = found[["retailer_id", "time", "type", "outcome", "result", "event_id"]].itertuples(index=False)
    done: dict[str, list[tuple[str, str, str]]] = {}
    for rid, when, kind, outcome, result, event_id in rows:
        key = _DONE_WORDS.get((kind, outcome or result or ""))
        if key and when.strftime("%Y-%m-%d") == day:
            done.setdefault(rid, []).append((when.strftime("%H:%M"), key, event_id))
    return done


def squad_view(live: Any, user: User, squad: str) -> tuple[User, list[str], str]:
    """Whose Today a user sees: their own, or for a squad leader the chosen squad's (``G03``; default the first).

    Returns the user to read the route and tasks as (the squad's officer, reading only), the squads
    to choose from ([] for a pair) and the squad shown.
    """
    if user.role != "squad_leader":
        return user, [], ""
    pairs = live.pairs()
    officers = {f"G{int(g):02d}": str(o) for g, o in zip(pairs["grid_id"], pairs["monopoly_officer"], strict=True)
                if str(g).isdigit() and o}  # fmt: skip
    choices = sorted(officers)
    shown = squad if squad in officers else (choices[0] if choices else "")
    return User(user.username, "monopoly", staff_id=officers.get(shown, "")), choices, shown


@router.get("/today")
def today_page(
    request: Request, user: User = Depends(require("today:view")), done: str = "", squad: str = ""
) -> Response:
    """The pair's route for today with a one-tap outcome form per stop, and the grid's open tasks; a squad
    leader chooses the squad and reads its day."""
    live = service_of(request).live
    user, squad_choices, squad = squad_view(live, user, squad[:8])
    route = live.route_for(user)
    tasks = live.tasks_for(user).sort_values("deadline")
    risk = live.risk().set_index("retailer_id") if route is not None and len(route) else None
    stops = []
    for stop in route.to_dict("records") if route is not None else []:
        reasons = []
        if risk is not None and stop["retailer_id"] in risk.index:
            row = risk.loc[stop["retailer_id"]]
            lang = lang_of(request)
            reasons = [row[f"reason_{i}_{lang}"] for i in (1, 2, 3) if row.get(f"reason_{i}_{lang}")]
        stops.append({**stop, "reasons": reasons})
    done_today = recorded_today(live.events(), live.today(), {s["retailer_id"] for s in stops})
    for stop in stops:
        stop["recorded"] = done_today.get(stop["retailer_id"], [])
    return render(
        request,
        "today.html",
        {
            "today": live.today(),
            "grids": sorted(live.grids_of(user)),
            "has_plan": route is not None,
            "stops": stops,
            "points": [[float(s["lat"]), float(s["lon"]), f"{s['seq']}. {s['name']}"] for s in stops],
            "street_line": live.route_line_for(user),
            "tasks": tasks.to_dict("records"),
            "done": done,
            "words": {key: translator(lang_of(request))(f"today.{key}") for key in TODAY_WORDS},
            "is_officer": allowed(user.role, "record:inspection"),
            "squad_choices": squad_choices,
            "squad": squad,
        },
    )


@router.post("/today/outcome")
def record_outcome(
    request: Request,
    retailer_id: str = Form(max_length=64),
    result: str = Form(max_length=32),
    violation_kind: str = Form("", max_length=32),
    severity: str = Form("", max_length=32),
    note: str = Form("", max_length=2000),
    user: User = Depends(require("today:view")),
) -> Response:
    """One tap at a stop: inspection ok, violation (kind, severity), not found, closed; or a visit."""
    live = service_of(request).live
    fields: dict[str, Any] = {"retailer_id": retailer_id, "note": note}
    if result == "ok":
        fields.update(type="inspection", outcome="ok")
    elif result == "violation":
        fields.update(
            type="inspection", outcome="violation", severity=severity, violation_kind=violation_kind or "other"
        )
    elif result == "visited":
        fields.update(type="visit")
    elif result in ("not_found", "closed"):
        # not a finding: a visit with the result, so it neither closes a task nor counts as an inspection
        fields.update(type="visit", x_result=result, note=note or result)
    else:
        raise HTTPException(400, f"unknown result {result!r}")
    live.record(user, fields)
    return RedirectResponse(f"/today?done={retailer_id}", status_code=303)


# ------------------------------------------------------------------ Report


@router.get("/report")
def report_page(request: Request, q: str = "", user: User = Depends(require("retailers:search"))) -> Response:
    """Search a retailer (name, licence number, address) and file a tip-off, complaint or marketing report."""
    live = service_of(request).live
    found = live.search_retailers(q[:100]).to_dict("records") if q else []
    kinds = [k for k in TASK_TYPES if allowed(user.role, f"record:{k}")]
    return render(request, "report.html", {"q": q, "found": found, "kinds": kinds, "done": ""})


@router.post("/report")
def report_post(
    request: Request,
    retailer_id: str = Form(max_length=64),
    kind: str = Form(max_length=32),
    note: str = Form("", max_length=2000),
    user: User = Depends(require("retailers:search")),
) -> Response:
    """Record the report: it opens the joint task of the retailer's grid at once."""
    live = service_of(request).live
    added = live.record(user, {"type": kind, "retailer_id": retailer_id, "note": note})
    kinds = [k for k in TASK_TYPES if allowed(user.role, f"record:{k}")]
    return render(request, "report.html", {"q": "", "found": [], "kinds": kinds, "done": added[0]["event_id"]})


# ------------------------------------------------------------------ public channel


@router.get("/public")
def public_page(request: Request) -> Response:
    """The public form: no login, anonymous allowed; a shop by name or address, or a point on the map."""
    service = service_of(request)
    q = request.query_params.get("q", "")[:100]
    shops = service.live.search_retailers(q, limit=30).to_dict("records") if len(q) >= 2 else []
    retailers = service.live.retailers()
    centre = (
        [float(retailers["lat"].astype(float).mean()), float(retailers["lon"].astype(float).mean())]
        if len(retailers)
        else [0, 0]
    )
    return render(
        request,
        "public.html",
        {"form_token": service.signer.issue(), "code": "", "error": "", "centre": centre, "q": q, "shops": shops},
    )


@router.post("/public")
def public_post(
    request: Request,
    kind: str = Form(max_length=32),
    text: str = Form(max_length=2000),
    retailer_id: str = Form("", max_length=64),
    lon: str = Form("", max_length=32),
    lat: str = Form("", max_length=32),
    contact: str = Form("", max_length=200),
    form_token: str = Form("", max_length=100),
    website: str = Form("", max_length=200),
) -> Response:
    """File the report; shows the tracking code."""
    service = service_of(request)
    t = translator(lang_of(request))
    fields = {"kind": kind, "text": text, "retailer_id": retailer_id, "contact": contact, "form_token": form_token,
              "website": website, "lon": _float(lon), "lat": _float(lat)}  # fmt: skip
    retailers = service.live.retailers()
    centre = [float(retailers["lat"].astype(float).mean()), float(retailers["lon"].astype(float).mean())]
    try:
        code = file_public_report(service, request, fields)
    except (HTTPException, InputError) as error:
        status = getattr(error, "status_code", 400)
        message = (
            t("too_many")
            if status == 429
            else t("too_fast")
            if "fast" in str(getattr(error, "detail", ""))
            else str(getattr(error, "detail", error))
        )
        return render(
            request,
            "public.html",
            {
                "form_token": service.signer.issue(),
                "code": "",
                "error": message,
                "centre": centre,
                "q": "",
                "shops": [],
            },
            status=status,
        )
    return render(
        request,
        "public.html",
        {"form_token": service.signer.issue(), "code": code, "error": "", "centre": centre, "q": "", "shops": []},
        status=201,
    )


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if -180.0 <= value <= 180.0 else None


@router.get("/public/status")
def public_status_page(request: Request, code: str = "") -> Response:
    """A report's status by tracking code: received, assigned or handled."""
    status = report_status(service_of(request), code[:32]) if code else None
    return render(request, "public_status.html", {"code": code[:32], "status": status})
