"""`gridmgmt serve` and `gridmgmt users`: the bureau's web service."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridmgmt.cli.common import (
    DEMO_DISTRICT,
    DistrictOpt,
    StoreOpt,
    app,
    check_date,
    command,
    console,
    district_store,
)
from gridmgmt.vocab import ROLES, listed

if TYPE_CHECKING:
    from fastapi import FastAPI

# ----------------------------------------------------------------------------- the web service (issue 14)

users_app = typer.Typer(name="users", help="Users and roles of the web service (用户与角色).", no_args_is_help=True)
app.add_typer(users_app, name="users")


#: how `serve --workers N` hands its settings to the worker processes (each builds its app with :func:`app_from_env`)
SERVE_ENV = "GRIDMGMT_SERVE_SETTINGS"


@command(app, "serve")
def serve(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    today: Annotated[
        str | None, typer.Option("--today", help="Fix the service's day YYYY-MM-DD (demos); default the real date.")
    ] = None,
    proxy: Annotated[
        bool, typer.Option("--behind-proxy", help="Trust X-Forwarded-For/-Proto from a local nginx (TLS there).")
    ] = False,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Always mark cookies Secure (when TLS ends before the proxy).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes over the one store (about one a core); sessions, limits and jobs are shared there.",
        ),
    ] = 1,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help="info logs every request; warning only problems (critical, error, debug)."),
    ] = "info",
) -> None:
    """Run the bureau's shared web service (pages in zh/en and a JSON API at /openapi.json) over the store."""
    import uvicorn

    from gridmgmt.service.deps import KEEP_ALIVE_S

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise typer.BadParameter(f"--log-level {log_level!r}: give critical, error, warning, info or debug")
    settings = {
        "district": str(district.resolve()),
        "store": district_store(district, store),
        "today": check_date(today) if today else None,
        "proxy": proxy,
        "secure_cookies": secure_cookies,
    }
    web = _build_app(settings)  # also checks the store and the district before any worker starts
    label = web.state.service.live.store.label
    console.print(f"serving {label} on http://{host}:{port}/ with {workers} worker(s) (Ctrl+C stops)", highlight=False)
    target: FastAPI | str = web
    if workers > 1:  # each worker process builds its own app over the store; this one only supervises them
        os.environ[SERVE_ENV] = json.dumps(settings)
        web.state.service.live.store.close()
        target = f"{__name__}:app_from_env"
    del web
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        proxy_headers=proxy,
        forwarded_allow_ips="127.0.0.1" if proxy else None,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level=log_level,
    )


def app_from_env() -> FastAPI:
    """The app of one `serve --workers N` worker, from the settings the command put in ``$GRIDMGMT_SERVE_SETTINGS``."""
    return _build_app(json.loads(os.environ[SERVE_ENV]))


def _build_app(settings: dict) -> FastAPI:
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.store_district import service_store
    from gridmgmt.service import ServiceOptions, create_app

    shared = service_store(settings["store"])
    options = ServiceOptions(
        today=settings["today"], trust_proxy=settings["proxy"], secure_cookies=settings["secure_cookies"]
    )
    return create_app(load_district(Path(settings["district"])), shared, options=options)


@command(users_app, "add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    role: Annotated[str, typer.Option("--role", help=f"{listed(tuple(ROLES))}.")],
    staff_id: Annotated[
        str, typer.Option("--staff-id", help="Their staff id (customer managers and officers: names their grid).")
    ] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line).")
    ] = False,
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Add a user with a role; the password is read from standard input, never from the command line."""
    from gridmgmt.ops.store_admin import open_handle
    from gridmgmt.service.accounts import add_user

    if not password_stdin:
        raise typer.BadParameter("give --password-stdin and the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    with open_handle(district_store(district, store)) as shared:
        user = add_user(shared.engine, name, role, password, staff_id=staff_id)
    console.print(f"added {user.username} ({user.role})", highlight=False, markup=False, emoji=False)


@command(users_app, "list")
def users_list(district: DistrictOpt = DEMO_DISTRICT, store: StoreOpt = None) -> None:
    """List users: name, role, staff id, enabled or disabled."""
    from gridmgmt.ops.store_admin import open_handle
    from gridmgmt.service.accounts import list_users

    with open_handle(district_store(district, store)) as shared:
        for user in list_users(shared.engine):
            state = "disabled" if user.disabled else "enabled"
            print(f"{user.username}\t{user.role}\t{user.staff_id}\t{state}")


@command(users_app, "disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable (their sessions end at once).")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Disable a user: they cannot log in any more and their open sessions end."""
    from gridmgmt.ops.store_admin import open_handle
    from gridmgmt.service.accounts import disable_user

    with open_handle(district_store(district, store)) as shared:
        disable_user(shared.engine, name)
    console.print(f"disabled {name}", highlight=False)
