"""What the service's pages and API do beyond reading: day plans and grid previews as jobs, publishing, public reports.

Shared by :mod:`gridmgmt.service.api` and the pages so both faces do exactly the same.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pandas as pd
from fastapi import HTTPException, Request

from gridmgmt._errors import InputError
from gridmgmt.labels import register_labels, translator
from gridmgmt.ops import grids as grid_ops
from gridmgmt.ops import patrol as patrol_ops
from gridmgmt.service import public
from gridmgmt.service.accounts import User
from gridmgmt.service.jobs import Job
from gridmgmt.service.live import LiveDistrict, grid_key
from gridmgmt.store import audit

if TYPE_CHECKING:
    from gridmgmt.service.deps import Service

#: A day plan started from the page stops at its solution count or after this long, whichever
#: comes first: a small problem can take minutes to reach a large solution count, and the job
#: pool runs one job at a time. (The CLI's --solution-limit alone gives byte-identical plans.)
PLAN_JOB_TIME_LIMIT_S = 60.0

GRIDS_PREVIEW_KIND = grid_ops.GRIDS_PREVIEW_KIND

#: Why a mandatory visit was left out of a plan, by the start of the planner's reason (first match wins).
LEFT_OUT_KINDS = (
    (patrol_ops.OTHER_GRID_PREFIX, "other_grid"),
    ("unreachable", "unreachable"),
    ("not open long enough", "not_open"),
    ("not planned:", "search_failed"),
    ("", "no_time"),
)

register_labels(
    {
        "left_out": {"zh": "计划未安排的必办走访", "en": "Mandatory visits left out"},
        "none_left_out": {"zh": "必办走访均已安排", "en": "Every mandatory visit is planned"},
        "left_out.other_grid": {"zh": "其他中队的网格（未允许代管）", "en": "another squad's grid (cover not allowed)"},
        "left_out.unreachable": {"zh": "道路不可达", "en": "unreachable by road"},
        "left_out.not_open": {"zh": "班次内营业时间不够走访", "en": "not open long enough during the shift"},
        "left_out.search_failed": {"zh": "路线求解失败", "en": "the route search failed"},
        "left_out.no_time": {
            "zh": "时间不够（班次、营业时间或其他必办走访）",
            "en": "no time (shifts, opening hours or other mandatory visits)",
        },
        "left_out.why": {"zh": "原因", "en": "Why"},
        "left_out.detail": {"zh": "详情", "en": "Detail"},
        "ack_left_out": {
            "zh": "我已知悉本计划未安排 {n} 项必办走访，仍然发布",
            "en": "I know this plan leaves out {n} mandatory visit(s); publish it anyway",
        },
        "left_out_refused": {
            "zh": "本计划未安排 {n} 项必办走访：请先查看清单并勾选确认，再发布",
            "en": "This plan leaves out {n} mandatory visit(s): review them and tick the acknowledgement to publish",
        },
        "cover_other_grids": {"zh": "允许代管其他网格", "en": "Allow cover of other grids"},
        "show_squad": {"zh": "查看该中队", "en": "Show this squad"},
        "no_moves": {"zh": "网格已均衡，无需调整零售户", "en": "The grids are balanced: no retailer needs to move"},
        "balance": {"zh": "工作量最大/最小比（调整前 → 调整后）", "en": "Workload max/min (before → after)"},
        "move.new": {"zh": "新开业", "en": "new shop"},
        "move.closed": {"zh": "已停业", "en": "closed"},
        "move.grid_removed": {"zh": "所在网格撤销", "en": "its grid removed"},
        "move.rebalance": {"zh": "均衡工作量", "en": "rebalance"},
    },
    prefix="page.",
)


def _assignment(live: LiveDistrict) -> pd.DataFrame:
    """Today's assignment with integer grid ids, as the planners' functions take it."""
    owners = live.owners()
    table = owners.loc[owners["grid_id"].str.isdigit(), ["retailer_id", "grid_id"]]
    return table.astype({"grid_id": int})


def plan_job(
    service: Service, user: User, *, day: str, squads: list[str], solutions: int, cover_other_grids: bool = False
) -> Job:
    """Start planning ``day`` for ``squads`` (empty: all) in the background; the job's result is the draft run id.

    Some squads visit only their own grids unless ``cover_other_grids``.
    """
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
            cover_other_grids=cover_other_grids,
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


def left_out(live: LiveDistrict, run: Any) -> pd.DataFrame:
    """The mandatory visits a stored day plan left out: retailer, name, grid, purpose, deadline, why (a
    :data:`LEFT_OUT_KINDS` word) and the planner's reason, most urgent first."""
    columns = ["retailer_id", "name", "grid_id", "purpose", "deadline", "why", "reason"]
    unplanned = pd.DataFrame(run.layers.get("unplanned", pd.DataFrame()))
    if unplanned.empty or "mandatory" not in unplanned:
        return pd.DataFrame(columns=columns)
    table = unplanned.loc[unplanned["mandatory"].astype(bool)].copy()
    table["retailer_id"] = table["retailer_id"].astype(str)
    table["grid_id"] = table["retailer_id"].map(live.grid_of_retailer)
    table["reason"] = table["reason"].fillna("").astype(str)
    table["why"] = table["reason"].map(lambda text: next(k for start, k in LEFT_OUT_KINDS if text.startswith(start)))
    table["deadline"] = pd.to_datetime(table["deadline"]).dt.strftime("%Y-%m-%d").fillna("")
    return table.sort_values(["deadline", "retailer_id"]).reindex(columns=columns).reset_index(drop=True)


def publish_plan(
    service: Service, user: User, run_id: str, *, acknowledged: bool = False, lang: str = "en", address: str = ""
) -> str:
    """Publish a draft plan run as the day's plan (a new ``plan`` run); return its id.

    A draft that leaves mandatory visits out is published only ``acknowledged``; the audit row
    says how many were left out and that the user acknowledged them.

    Raises
    ------
    HTTPException
        400 not a draft, 409 published already or mandatory visits left out without acknowledgement
        (the message in ``lang``).
    """
    live = service.live
    draft = live.store.read_run(run_id)
    missing = len(left_out(live, draft)) if draft.kind == patrol_ops.DRAFT_KIND else 0
    if missing and not acknowledged:
        audit.record(live.store.engine, username=user.username, action=f"publish plan {run_id}", outcome="refused",
                     detail=f"{missing} mandatory visit(s) left out, not acknowledged", address=address)  # fmt: skip
        raise HTTPException(409, translator(lang)("left_out_refused").replace("{n}", str(missing)))
    try:
        published = patrol_ops.publish_draft(live.store, run_id, by=user.username)
    except patrol_ops.NotADraft as error:
        raise HTTPException(400, str(error)) from error
    except patrol_ops.AlreadyPublished as error:
        raise HTTPException(409, str(error)) from error
    live.invalidate_owners()
    note = f"; {missing} mandatory visit(s) left out, acknowledged by {user.username}" if missing else ""
    audit.record(live.store.engine, username=user.username, action=f"publish plan {run_id}", outcome="ok",
                 detail=published + note, address=address)  # fmt: skip
    return published


# ------------------------------------------------------------------ grids


def grids_preview_job(service: Service, user: User, *, k: int | None, lock_grids: list[int]) -> Job:
    """Start a what-if rebalance of today's grids in the background; the result is a preview run id."""
    live = service.live

    def work(progress) -> str:
        # every preview on the one loaded road network: the grids' street blocks and their pricing are
        # cached per network, and a fresh load prices the same grids differently (the test district's
        # published rebalance: 1.157 max/min instead of 1.050, 3 shops moved with nothing changed)
        district = dataclasses.replace(live.live_district(), _graph=live.district.graph)  # loaded once, shared
        progress("reading today's grids")
        assignment = _assignment(live)
        level = live.risk().set_index("retailer_id")["level"]  # as the grids were built: priced with the risk
        return grid_ops.preview_rebalance(live.store, district, assignment, k=k, lock_grids=lock_grids,
                                          by=user.username, risk_level=level, progress=progress)  # fmt: skip

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
