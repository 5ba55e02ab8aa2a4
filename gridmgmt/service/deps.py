"""Request-level pieces every route uses: the running service, the session, permission checks, refusals.

Every route declares the permission it needs (:mod:`gridmgmt.permissions`) with
:func:`require`; a request without a valid session gets 401 (pages: a redirect to the login page),
one whose role lacks the permission gets 403, and both are written to the audit table. Browsers
authenticate with an HttpOnly session cookie and must send the session's CSRF token with every
POST (a form field or the ``X-CSRF-Token`` header); API clients may send
``Authorization: Bearer <token>`` instead, which needs no CSRF token because a browser never adds
it by itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.labels import said, translator
from gridmgmt.permissions import allowed
from gridmgmt.service import accounts
from gridmgmt.service.jobs import Jobs
from gridmgmt.service.live import Forbidden, LiveDistrict
from gridmgmt.service.security import AuditThrottle, FormSigner, LoginGuard, RateLimiter, same_token, scrub_paths
from gridmgmt.store import audit
from gridmgmt.vocab import LANGS

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "gm_session"
#: How long the server keeps an idle connection open (uvicorn's default is 5 s). Longer than a
#: proxy's or a client's own idle limit (nginx: 60 s), so the server never closes a connection at
#: the moment a client sends on it: under load that race dropped a few requests (httpx ReadError).
KEEP_ALIVE_S = 75
LANG_COOKIE = "gm_lang"


@dataclass
class ServiceOptions:
    """Settings of one running service.

    Parameters
    ----------
    today
        Fix the service's day (``YYYY-MM-DD``) for demos and tests; default the real date.
    secure_cookies
        Always mark cookies ``Secure``; default: when the request came over TLS (directly, or
        through a proxy that says so in ``X-Forwarded-Proto`` with ``trust_proxy``).
    trust_proxy
        Take the client address and scheme from ``X-Forwarded-For`` / ``X-Forwarded-Proto``
        (only behind your own nginx).
    login_attempts, login_backoff_max_s
        Quick failed logins of one user name from one address; after them each try waits twice as
        long as the one before, at most ``login_backoff_max_s`` (see :class:`LoginGuard`; another
        address is never held up).
    address_attempts, login_window_s
        Failed logins allowed per address over all user names in the window, seconds.
    audit_window_s
        Unauthenticated and rate-limited requests are audited once per address in this window,
        seconds; the row written counts those left out.
    public_reports, public_window_s
        Public reports accepted per address in the window, seconds.
    min_form_s
        A public form submitted faster than this after it was served is treated as a robot, seconds.
    """

    today: str | None = None
    secure_cookies: bool = False
    trust_proxy: bool = False
    login_attempts: int = 10
    login_backoff_max_s: float = 300.0
    address_attempts: int = 50
    login_window_s: float = 300.0
    audit_window_s: float = 60.0
    public_reports: int = 5
    public_window_s: float = 3600.0
    min_form_s: float = 3.0


@dataclass
class Service:
    """What every route reaches through ``request.app.state.service``."""

    live: LiveDistrict
    options: ServiceOptions
    jobs: Jobs
    signer: FormSigner
    login_guard: LoginGuard
    audit_throttle: AuditThrottle
    public_limit: RateLimiter
    templates: Jinja2Templates

    @property
    def engine(self):
        """The store's SQLAlchemy engine."""
        return self.live.store.engine


def service_of(request: Request) -> Service:
    """The running service."""
    return request.app.state.service


def client_address(request: Request) -> str:
    """The client's address (``X-Forwarded-For``'s first hop behind a trusted proxy)."""
    if service_of(request).options.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else ""


def is_tls(request: Request) -> bool:
    """Whether the client reached us over TLS."""
    if service_of(request).options.trust_proxy and request.headers.get("x-forwarded-proto") == "https":
        return True
    return request.url.scheme == "https"


def lang_of(request: Request) -> str:
    """The page language: ``?lang=``, else the cookie, else the browser's preference (zh or en)."""
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or ""
    if lang in LANGS:
        return lang
    return "en" if request.headers.get("accept-language", "zh").lower().startswith("en") else "zh"


def session_of(request: Request) -> accounts.Session | None:
    """The request's valid session (cookie or bearer token), cached on the request."""
    if hasattr(request.state, "session"):
        return request.state.session
    token = request.cookies.get(COOKIE, "")
    bearer = request.headers.get("authorization", "")
    request.state.by_bearer = False
    if bearer.lower().startswith("bearer "):
        token = bearer[7:].strip()
        request.state.by_bearer = True
    session = accounts.find_session(service_of(request).engine, token) if token else None
    request.state.session = session
    return session


def refuse(
    request: Request, status: int, detail: str, *, username: str = "", retry_after_s: float | None = None
) -> HTTPException:
    """Audit a refusal and build the exception to raise (401 unauthenticated, 403 forbidden, 429 wait).

    401 and 429 refusals (anyone can cause them) are audited once per address and outcome in
    ``audit_window_s`` (:class:`AuditThrottle`); the row written says how many were left out.
    """
    service = service_of(request)
    outcome = {401: "unauthenticated", 403: "forbidden", 429: "rate_limited"}.get(status, str(status))
    address = client_address(request)
    left_out = service.audit_throttle.admit(f"{outcome} {address}") if status in (401, 429) else 0
    if left_out is not None:
        note = f" (+{left_out} like it from this address not written)" if left_out else ""
        audit.record(
            service.engine,
            username=username,
            action=f"{request.method} {request.url.path}",
            outcome=outcome,
            detail=detail + note,
            address=address,
        )
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))} if retry_after_s is not None else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


def require(permission: str | None = None) -> Callable[[Request], Awaitable[accounts.User]]:
    """A dependency: the logged-in user holding ``permission`` (None: any); checks CSRF on cookie writes."""

    async def dependency(request: Request) -> accounts.User:
        session = session_of(request)
        if session is None:
            raise refuse(request, 401, "log in first")
        user = session.user
        if permission is not None and not allowed(user.role, permission):
            raise refuse(request, 403, f"role {user.role} lacks {permission}", username=user.username)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.state.by_bearer:
            token = request.headers.get("x-csrf-token")
            if token is None and "form" in request.headers.get("content-type", ""):
                posted = (await request.form()).get("csrf_token")
                token = posted if isinstance(posted, str) else None  # a file posted as the token is no token
            if not same_token(str(token or ""), session.csrf):
                raise refuse(request, 403, "missing or wrong CSRF token", username=user.username)
        request.state.user = user
        return user

    return dependency


def forbidden_handler(request: Request, exc: Forbidden) -> Response:
    """A scope refusal from the domain (another grid, a role that may not record this): 403, audited."""
    user = getattr(request.state, "user", None)
    refusal = refuse(request, 403, str(exc), username=user.username if user else "")
    return _error_response(request, refusal.status_code, str(refusal.detail))


def public_text(request: Request, text: str) -> str:
    """``text`` fit for a response: no server file paths (the store's, the district's, any other)."""
    live = service_of(request).live
    known = (live.store.label, str(live.district.settings.root), str(HERE.parent))
    return scrub_paths(text, known)


def _error_response(request: Request, status: int, detail: str) -> Response:
    detail = public_text(request, detail)
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return JSONResponse({"detail": detail}, status_code=status)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    service = service_of(request)
    lang = lang_of(request)
    return service.templates.TemplateResponse(
        request,
        "error.html",
        {"t": translator(lang), "lang": lang, "user": None, "status": status, "detail": said(detail, lang)},
        status_code=status,
    )


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    """JSON errors for the API; a login redirect or an error page for pages."""
    response = _error_response(request, exc.status_code, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def input_error_handler(request: Request, exc: GridMgmtError) -> Response:
    """An invalid input (unknown retailer, bad correction target, ...): 400 with the problems, one a line."""
    problems = getattr(exc, "problems", None)
    detail = "; ".join(str(p) for p in problems) if isinstance(exc, InputError) and problems else str(exc)
    return _error_response(request, 400, detail)


def _field_problem(error: dict, t: Callable[[str], str] | None) -> str:
    """One short line for a field that does not fit (``t``: the page's words; None: the API's English)."""
    field = next((str(part) for part in reversed(error.get("loc", ())) if isinstance(part, str)), "")
    field = field if field not in ("body", "query", "path") else "request"
    limit = (error.get("ctx") or {}).get("max_length")
    kind = error.get("type", "")
    if t is not None:
        key = {"string_too_long": "field_too_long", "missing": "field_missing"}.get(kind, "field_invalid")
        return t(key).format(field=t(field), limit=limit)
    if kind == "string_too_long":
        return f"{field}: at most {limit} characters"
    return f"{field}: {'missing' if kind == 'missing' else str(error.get('msg', 'not valid'))[:120]}"


def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    """A request that does not fit its form or schema: what is wrong per field, never the input echoed.

    API: 422 with a short JSON ``detail`` in English; pages: the error page in the user's language.
    """
    api = request.url.path.startswith("/api/")
    lang = lang_of(request)
    t = None if api else translator(lang)
    detail = "; ".join(dict.fromkeys(_field_problem(error, t) for error in exc.errors()[:10]))
    if api:
        return JSONResponse({"detail": detail}, status_code=422)
    return service_of(request).templates.TemplateResponse(
        request,
        "error.html",
        {"t": t, "lang": lang, "user": None, "status": 422, "detail": detail},
        status_code=422,
    )
