"""`gridmgmt patrol`: plan a day, simulate days."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmgmt.cli.common import (
    DEMO_DISTRICT,
    DateOpt,
    DistrictOpt,
    DistrictOutOpt,
    LangOpt,
    SeedOpt,
    StoreOpt,
    app,
    check_date,
    command,
    console,
    district_out,
    district_store,
    split_list,
)

patrol_app = typer.Typer(
    name="patrol", help="Daily joint patrol routes with OR-Tools (联合巡查路线).", no_args_is_help=True
)
app.add_typer(patrol_app, name="patrol")
SquadsOpt = Annotated[
    str | None, typer.Option("--squads", help="Plan only these squads (comma-separated squad ids or grid numbers).")
]
AbsentOpt = Annotated[
    str | None, typer.Option("--absent", help="Staff ids absent that day (comma-separated); their squad is dropped.")
]
GridsFileOpt = Annotated[
    Path | None,
    typer.Option("--grids", help="grids.gpkg from `grids build` (default: the store's, else staff.grid_id)."),
]


@command(patrol_app, "plan")
def patrol_plan(
    date: DateOpt = "2026-12-01",
    district: DistrictOpt = DEMO_DISTRICT,
    out: DistrictOutOpt = None,
    store: StoreOpt = None,
    grids: GridsFileOpt = None,
    squads: SquadsOpt = None,
    absent: AbsentOpt = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit", help="Solver time in seconds for the whole day (default 15 without a solution limit)."
        ),
    ] = None,
    solution_limit: Annotated[
        int | None,
        typer.Option(
            "--solution-limit",
            help="Solutions for the whole day, no time limit: the same files every run (deterministic).",
        ),
    ] = None,
    deterministic: Annotated[
        bool, typer.Option("--deterministic", help="Deterministic plan with the default solution limit.")
    ] = False,
    lang: LangOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Plan one day: who visits which retailers, in what order and when; writes stops, route sheets and map."""
    out = district_out(district, out, "patrol")
    store = district_store(district, store)
    from gridmgmt.grids.plan import load_grids, stored_grids
    from gridmgmt.inputs.district import load_district
    from gridmgmt.patrol.plan import DETERMINISTIC_SOLUTIONS
    from gridmgmt.pipeline import plan_patrol

    if deterministic and solution_limit is None:
        solution_limit = DETERMINISTIC_SOLUTIONS
    if time_limit is None and solution_limit is None:
        time_limit = 15.0

    date = check_date(date)
    d = load_district(district, store=store)
    plan_grids = load_grids(grids) if grids else stored_grids(store)
    with console.status("planning routes...") as status:
        plan, written = plan_patrol(
            d,
            date,
            out,
            grids=plan_grids,
            squads=split_list(squads),
            absent=split_list(absent) or (),
            time_limit_s=time_limit,
            solution_limit=solution_limit,
            seed=seed,
            lang=lang,
            store=store,
            progress=lambda text: status.update(text),
        )
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(plan.summary.to_string(index=False), highlight=False)
    console.print(f"{len(plan.stops)} visits planned, {len(plan.unplanned)} left out (reasons in unplanned.csv)")
    for path in written:
        console.print(f"wrote {path}", highlight=False)


@command(patrol_app, "simulate")
def patrol_simulate(
    start: Annotated[str, typer.Option("--start", help="First day to plan, YYYY-MM-DD.")] = "2026-12-01",
    days: Annotated[int, typer.Option("--days", help="Working days to plan one after another.")] = 20,
    district: DistrictOpt = DEMO_DISTRICT,
    out: DistrictOutOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver seconds per day.")] = 6.0,
    seed: SeedOpt = 0,
) -> None:
    """Plan consecutive days, mark visits done, and report cycle coverage, deadlines met and blind spots."""
    out = district_out(district, out, "simulation")
    from gridmgmt.inputs.district import load_district
    from gridmgmt.pipeline import run_simulation

    start = check_date(start)
    d = load_district(district)
    with console.status("simulating...") as status:
        report, written = run_simulation(
            d, start, days, out, time_limit_s=time_limit, seed=seed, progress=lambda text: status.update(text)
        )
    console.print(report.summary(), highlight=False)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
