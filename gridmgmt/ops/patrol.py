"""Patrol operations: plan a day (files and a ``plan`` run), simulate days, the service's draft plans."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridmgmt import io
from gridmgmt._errors import GridMgmtError, InputError, Problem
from gridmgmt.inputs.district import District
from gridmgmt.ops.runs import existing_store, record_run
from gridmgmt.ops.streets import map_streets
from gridmgmt.patrol.day_model import PATROL_PARAMS
from gridmgmt.patrol.plan import DETERMINISTIC_SOLUTIONS, OTHER_GRID_PREFIX, PatrolPlan, plan_day
from gridmgmt.patrol.sheets import plan_layers, write_plan
from gridmgmt.patrol.simulate import SimulationReport, simulate
from gridmgmt.risk.district_risk import score_risk
from gridmgmt.store import SharedStore, open_store

__all__ = [
    "DETERMINISTIC_SOLUTIONS",
    "ONE_CORE_SEARCH",
    "OTHER_GRID_PREFIX",
    "PLAN_KIND",
    "AlreadyPublished",
    "NotADraft",
    "check_pairs_exist",
    "draft_plan",
    "plan_patrol",
    "publish_draft",
    "run_simulation",
]

PLAN_KIND = "plan"
#: The search of one worker (a province task runs on one core: a second solver worker would oversubscribe it).
ONE_CORE_SEARCH = dataclasses.replace(PATROL_PARAMS, workers=1)


def plan_patrol(
    district: District,
    date: str,
    out_dir: str | Path,
    *,
    grids: gpd.GeoDataFrame | None = None,
    risk: pd.DataFrame | None = None,
    lang: str | None = None,
    store: str | Path | None = None,
    **options: Any,
) -> tuple[PatrolPlan, list[Path]]:
    """Plan one day (:func:`gridmgmt.patrol.plan.plan_day`) and write its files; returns (plan, paths).

    Route sheets and the map are labelled in ``lang`` (default the district's ``[district] lang``).

    With ``store``, the plan is also kept there as a ``plan`` run (stops and routes).
    """
    if store:
        check_pairs_exist(date, store)
    risk = risk if risk is not None else score_risk(district, date)
    plan = plan_day(district, date, risk=risk, grids=grids, **options)
    lang = lang or district.settings.district.lang
    written = write_plan(plan, out_dir, depots=district.depots, lang=lang, streets=map_streets(district))
    if store:
        parameters = {"date": date, **{k: v for k, v in options.items() if isinstance(v, int | float | str)}}
        record_run(store, PLAN_KIND, plan_layers(plan), district=district, parameters=parameters)
    return plan, written


def check_pairs_exist(day: str, store: str | Path) -> None:
    """Refuse a day before the store's staff pairs begin: nobody was responsible for the retailers yet.

    Raises
    ------
    InputError
        Naming the first day of the pairs and how to plan anyway.
    """
    existing = existing_store(store)
    if existing is None:
        return
    with open_store(existing) as shared:
        first = shared.first_pairs_day()
    if first is None or pd.Timestamp(day).date() >= first:
        return
    raise InputError(
        Problem(
            file=str(store),
            field="date",
            value=day,
            message=f"the staff pairs are valid from {first} (the day the store was first loaded: `store init`, "
            "or the first `events add` or `events import`), so nobody was responsible before",
            hint=f"plan a day on or after {first} (--date {first}); to start them earlier, load a new store with "
            f"`gridmgmt store init --valid-from YYYY-MM-DD`",
        )
    )


def run_simulation(
    district: District, start: str, days: int, out_dir: str | Path, **options: Any
) -> tuple[SimulationReport, list[Path]]:
    """Simulate ``days`` working days of patrols; write the daily table, task outcomes and blind spots."""
    report = simulate(district, start, days, **options)
    out = Path(out_dir)
    written = [
        io.write_csv(report.daily, out / "daily.csv"),
        io.write_csv(report.tasks, out / "tasks.csv"),
        io.write_csv(report.blind_spots, out / "blind_spots.csv"),
        io.write_text(report.summary() + "\n", out / "summary.txt"),
    ]
    return report, written


# ----------------------------------------------------------------------------- the service's day plans

DRAFT_KIND = "plan_draft"


class NotADraft(GridMgmtError):
    """The run to publish is not a draft day plan."""


class AlreadyPublished(GridMgmtError):
    """The draft day plan was published already."""


def draft_plan(
    store: SharedStore,
    district: District,
    day: str,
    *,
    events: pd.DataFrame,
    assignment: pd.DataFrame,
    squads: list[str],
    solutions: int,
    time_limit_s: float,
    by: str,
    progress: Callable[[str], None],
    cover_other_grids: bool = False,
) -> str:
    """Plan ``day`` on the events known before it and keep it as a draft plan run; return the run id.

    ``events`` is the whole event log (the store's), ``assignment`` today's (retailer_id, integer grid_id).
    A plan of some ``squads`` visits only their grids unless ``cover_other_grids``
    (:class:`gridmgmt.patrol.plan.PlanOptions`).
    """
    before = events.loc[pd.to_datetime(events["time"]) < pd.Timestamp(day)]
    district = dataclasses.replace(district, events=before)
    progress("scoring risk")
    risk = score_risk(district, day)
    plan = plan_day(
        district,
        day,
        risk=risk,
        grids=assignment,
        squads=tuple(squads) or None,
        time_limit_s=time_limit_s,
        solution_limit=solutions,
        cover_other_grids=cover_other_grids,
        progress=progress,
    )
    for failure in plan.failures:  # a route search died in its helper process; the server and the rest go on
        progress(f"route search failed: {failure}; the other squads are in the draft")
    progress("storing the draft")
    layers = {"stops": plan.stops, "unplanned": plan.unplanned, "summary": plan.summary}
    if len(plan.routes):
        layers["routes"] = plan.routes
    parameters = {"date": day, "squads": list(squads), "solution_limit": solutions, "by": by,
                  "cover_other_grids": cover_other_grids}  # fmt: skip
    run_id = record_run(store, DRAFT_KIND, layers, parameters=parameters)
    progress(f"draft {run_id}: {len(plan.stops)} stops, {len(plan.unplanned)} left out")
    return run_id


def publish_draft(store: SharedStore, run_id: str, *, by: str) -> str:
    """Publish a draft plan run as the day's plan (a new ``plan`` run); return its id.

    Raises
    ------
    NotADraft
        When ``run_id`` is not a draft day plan.
    AlreadyPublished
        When it was published before.
    """
    draft = store.read_run(run_id)
    if draft.kind != DRAFT_KIND:
        raise NotADraft(f"run {run_id} is not a draft day plan")
    if any((params or {}).get("from_run") == run_id for params in store.list_runs(kind=PLAN_KIND)["parameters"]):
        raise AlreadyPublished(f"draft {run_id} is already published")
    parameters = {**draft.parameters, "from_run": run_id, "published_by": by}
    return record_run(store, PLAN_KIND, draft.layers, parameters=parameters)
