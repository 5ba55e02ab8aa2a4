"""What the service's pages and API do beyond reading: day plans and grid previews as jobs, publishing, public reports.

Shared by :mod:`gridmgmt.service.api` and the pages so both faces do exactly the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from fastapi import HTTPException, Request

from gridmgmt._errors import InputError
from gridmgmt.ops import grids as grid_ops
from gridmgmt.ops import patrol as patrol_ops
from gridmgmt.service import audit, public
from gridmgmt.service.accounts import User
from gridmgmt.service.jobs import Job
from gridmgmt.service.live import LiveDistrict, grid_key

if TYPE_CHECKING:
    from gridmgmt.service.deps import Service

#: A day plan started from the page stops at its solution count or after this long, whichever
#: comes first: a small problem can take minutes to reach a large solution count, and the job
#: pool runs one job at a time. (The CLI's --solution-limit alone gives byte-identical plans.)
PLAN_JOB_TIME_LIMIT_S = 60.0

GRIDS_PREVIEW_KIND = grid_ops.GRIDS_PREVIEW_KIND


def _assignment(live: LiveDistrict) -> pd.DataFrame:
    """Today's assignment with integer grid ids, as the planners' functions take it."""
    owners = live.owners()
    table = owners.loc[owners["grid_id"].str.isdigit(), ["retailer_id", "grid_id"]]
    return table.astype({"grid_id": int})


def plan_job(service: Service, user: User, *, day: str, squads: list[str], solutions: int) -> Job:
    """Start planning ``day`` for ``squads`` (empty: all) in the background; the job's result is the draft run id."""
    live = service.live
    try:
        pd.Timestamp(day)
    except ValueError as error:
        raise HTTPException(400, f"not a date: {day}") from error

    def work(progress) -> str:
        progress("reading the event log")
        return patrol_ops.draft_plan(
            live.store,
            live.district,
            day,
            events=live.events(),
            assignment=_assignment(live),
            squads=squads,
            solutions=solutions,
            time_limit_s=PLAN_JOB_TIME_LIMIT_S,
            by=user.username,
            progress=progress,
        )

    return service.jobs.submit(user.username, f"plan {day}", work)


def records(live: LiveDistrict) -> list[dict[str, Any]]:
    """Stored day plans (drafts and published), newest first: run id, kind, created, date, by."""
    rows = []
    for kind in (patrol_ops.DRAFT_KIND, patrol_ops.PLAN_KIND):
        for run in live.store.list_runs(kind=kind).itertuples():
            params = run.parameters or {}
            rows.append(
                {
                    "run_id": run.run_id,
                    "kind": kind,
                    "created": pd.Timestamp(run.created).strftime("%Y-%m-%dT%H:%M:%S"),
                    "date": str(params.get("date", "")),
                    "by": str(params.get("by", "")),
                    "from_run": str(params.get("from_run", "")),
                }
            )
    return sorted(rows, key=lambda r: r["created"], reverse=True)


def publish_plan(service: Service, user: User, run_id: str, *, address: str = "") -> str:
    """Publish a draft plan run as the day's plan (a new ``plan`` run); return its id."""
    live = service.live
    try:
        published = patrol_ops.publish_draft(live.store, run_id, by=user.username)
    except patrol_ops.NotADraft as error:
        raise HTTPException(400, str(error)) from error
    except patrol_ops.AlreadyPublished as error:
        raise HTTPException(409, str(error)) from error
    live.invalidate_owners()
    audit.record(live.store.engine, username=user.username, action=f"publish plan {run_id}", outcome="ok",
                 detail=published, address=address)  # fmt: skip
    return published


# ------------------------------------------------------------------ grids


def grids_preview_job(service: Service, user: User, *, k: int | None, lock_grids: list[int]) -> Job:
    """Start a what-if rebalance of today's grids in the background; the result is a preview run id."""
    live = service.live

    def work(progress) -> str:
        district = live.live_district()
        progress("reading today's grids")
        assignment = _assignment(live)
        return grid_ops.preview_rebalance(
            live.store, district, assignment, k=k, lock_grids=lock_grids, by=user.username, progress=progress
        )

    return service.jobs.submit(user.username, "rebalance preview", work)


def publish_grids(service: Service, user: User, run_id: str, *, valid_from: str, address: str = "") -> str:
    """Publish a preview's assignment from ``valid_from``: a ``grids`` run that becomes the current assignment."""
    live = service.live
    published = grid_ops.publish_preview(live.store, run_id, valid_from=valid_from)
    if published is None:
        raise HTTPException(400, f"run {run_id} is not a grids preview")
    live.invalidate_owners()
    audit.record(live.store.engine, username=user.username, action=f"publish grids {run_id}", outcome="ok",
                 detail=published, address=address)  # fmt: skip
    return published


# ------------------------------------------------------------------ public channel


def file_public_report(service: Service, request: Request, fields: dict[str, Any]) -> str:
    """Check the anti-spam rules and the rate limit, record the event (opening the task), return the tracking code.

    Raises
    ------
    HTTPException
        400 for a robot (honeypot filled, form too fast or token forged) or no retailer found,
        429 over the address's limit.
    """
    from gridmgmt.service.deps import client_address, refuse

    live = service.live
    if fields.get("website"):
        raise HTTPException(400, "rejected")
    age = service.signer.age_s(fields.get("form_token"))
    if age is None or age < service.options.min_form_s or age > 86_400:
        raise HTTPException(400, "the form expired or was sent too fast; reload it and try again")
    if not service.public_limit.hit(f"ip:{client_address(request)}"):
        raise refuse(request, 429, "too many reports from this address; try again later")
    retailer = str(fields.get("retailer_id") or "").strip()
    known = set(live.retailers()["retailer_id"])
    if not retailer and fields.get("lon") is not None and fields.get("lat") is not None:
        retailer = live.nearest_retailer(float(fields["lon"]), float(fields["lat"])) or ""
    if retailer not in known:
        raise HTTPException(400, "no shop found: choose one from the list or a point within 300 m of it")
    kind = fields.get("kind")
    if kind not in public.KINDS:
        raise HTTPException(400, "kind must be tip_off or complaint")
    now = live.now()
    row = {"retailer_id": retailer, "time": pd.Timestamp(now), "type": kind, "department": "public",
           "note": str(fields.get("text", ""))[:2000]}  # fmt: skip
    try:
        added = live.store.add_events(pd.DataFrame([row]), source="public channel", recorded_by="public")
    except InputError as error:
        raise HTTPException(400, str(error)) from error
    return public.save_report(
        live.store.engine,
        event_id=str(added["event_id"].iat[0]),
        retailer_id=retailer,
        kind=str(kind),
        filed=now,
        contact=str(fields.get("contact", "")),
    )


def report_status(service: Service, code: str) -> public.PublicStatus | None:
    """The public status of a tracking code, or None."""
    live = service.live
    report = public.find_report(live.store.engine, code)
    if report is None:
        return None
    tasks = live.tasks()
    task = tasks.loc[tasks["task_id"] == report["event_id"]]
    status = str(task["status"].iat[0]) if len(task) else None
    grid = grid_key(task["grid_id"].iat[0]) if len(task) and "grid_id" in task else ""
    return public.public_status(report, status, grid)
