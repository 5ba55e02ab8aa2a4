"""The FastAPI application: ``create_app(district, store)`` wires auth, audit, pages, the API and the assets.

The request-level pieces (sessions, permission checks, refusals) are in :mod:`gridmgmt.service.deps`.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridmgmt._errors import GridMgmtError
from gridmgmt.ops.service_views import District, vendor_dir
from gridmgmt.service import api, pages, pages_desk, pages_work, streets
from gridmgmt.service.deps import (
    HERE,
    Service,
    ServiceOptions,
    forbidden_handler,
    http_error_handler,
    input_error_handler,
    service_of,
    validation_error_handler,
)
from gridmgmt.service.jobs import Jobs
from gridmgmt.service.live import Forbidden, LiveDistrict
from gridmgmt.service.security import (
    SECURITY_HEADERS,
    AuditThrottle,
    FormSigner,
    LoginGuard,
    RateLimiter,
    content_security_policy,
)
from gridmgmt.store import SharedStore
from gridmgmt.store.service_state import StoreTally, shared_secret

#: paths whose responses may be cached: the app's own files, the same for every user
CACHEABLE_PREFIXES = ("/static/", "/vendor/", streets.BAND_PREFIX)


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS`, a CSP with a fresh script nonce and no-store.

    The nonce is in ``request.state.csp_nonce`` for pages that carry their own ``<script>`` elements.
    Every response but the app's static files is ``Cache-Control: no-store``: pages and API answers
    hold one user's data and must not stay in a shared browser's cache or a proxy. Cheaper than
    ``@app.middleware("http")``, which wraps every response in a stream and a task.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith(CACHEABLE_PREFIXES)
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    if key not in headers:
                        headers[key] = value
                headers["Content-Security-Policy"] = content_security_policy(nonce)
                if no_store:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(district: District, store: SharedStore, *, options: ServiceOptions | None = None) -> FastAPI:
    """The web service of one district over its shared store.

    Parameters
    ----------
    district
        The loaded district (settings, staff, depots; the road network for day plans).
    store
        The shared store (opened with :func:`gridmgmt.store.open_store`); must hold the district
        (``gridmgmt store init``).
    options
        See :class:`ServiceOptions`.
    """
    options = options or ServiceOptions()
    app = FastAPI(
        title="gridmgmt",
        version="1",
        summary="Grids, patrols, tasks and the public channel of a district tobacco monopoly bureau",
        docs_url=None,  # the Swagger UI loads from a CDN; /openapi.json is the document
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.service = Service(
        live=LiveDistrict(district, store, today=options.today),
        options=options,
        jobs=Jobs(store.engine),
        signer=FormSigner(shared_secret(store.engine, "public_forms")),
        login_guard=LoginGuard(
            free_failures=options.login_attempts,
            max_wait_s=options.login_backoff_max_s,
            address_failures=options.address_attempts,
            window_s=options.login_window_s,
            tally=StoreTally(store.engine),
        ),
        audit_throttle=AuditThrottle(options.audit_window_s),
        public_limit=RateLimiter(
            options.public_reports, options.public_window_s, tally=StoreTally(store.engine), name="public"
        ),
        templates=templates,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/vendor", StaticFiles(directory=str(vendor_dir())), name="vendor")
    # the decorator form: add_exception_handler's type takes only handlers of any Exception
    app.exception_handler(HTTPException)(http_error_handler)
    app.exception_handler(Forbidden)(forbidden_handler)
    app.exception_handler(GridMgmtError)(input_error_handler)
    app.exception_handler(RequestValidationError)(validation_error_handler)

    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["monitoring"])
    def healthz(request: Request) -> dict[str, Any]:
        """Liveness and the store's reachability: ``{"status": "ok", "store": backend, "events": n}``."""
        live = service_of(request).live
        return {"status": "ok", "store": live.store.backend, "events": live.store.count_events(), "today": live.today()}

    app.include_router(api.router)
    app.include_router(streets.router)
    app.include_router(pages.router)
    app.include_router(pages_work.router)
    app.include_router(pages_desk.router)
    app.router.add_event_handler("shutdown", app.state.service.jobs.shutdown)
    return app
