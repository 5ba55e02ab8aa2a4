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
    command,
    console,
    crash,
    current_grid_frame,
    day_or_first,
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
    typer.Option(
        "--grids",
        help="grids.gpkg (or its folder) from `grids build` (default: the district's current grids: its last "
        "build or the store's last published grids, else the retailers' grid_id).",
    ),
]


def _grids_of(grids: Path | None, district: Path, d, store: str):
    """The grids to plan with; an error saying to build grids when the district has none at all."""
    from gridmgmt.ops.district import has_own_grids, no_grids_error

    frame = current_grid_frame(grids, district, store)
    if frame is None and not has_own_grids(d):
        raise no_grids_error(district)
    return frame


@command(patrol_app, "plan")
def patrol_plan(
    date: DateOpt = None,
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
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.patrol import DETERMINISTIC_SOLUTIONS, plan_patrol

    if deterministic and solution_limit is None:
        solution_limit = DETERMINISTIC_SOLUTIONS
    if time_limit is None and solution_limit is None:
        time_limit = 15.0

    d = load_district(district, store=store)
    date = day_or_first(date, d)
    plan_grids = _grids_of(grids, district, d, store)
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
        console.print(f"note: {note}", highlight=False, markup=False, emoji=False)
    console.print(plan.summary.to_string(index=False), highlight=False)
    console.print(
        f"{date}: {len(plan.stops)} visits planned, {len(plan.unplanned)} left out (reasons in unplanned.csv)",
        highlight=False,
    )
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if (failure := plan.failure()) is not None:  # a route search died: one line and a log file, exit 1
        crash("patrol plan", failure)


@command(patrol_app, "simulate")
def patrol_simulate(
    start: Annotated[
        str | None,
        typer.Option("--start", help="First day to plan, YYYY-MM-DD (default: the day after the history, else today)."),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Working days to plan one after another.")] = 20,
    district: DistrictOpt = DEMO_DISTRICT,
    out: DistrictOutOpt = None,
    grids: GridsFileOpt = None,
    store: StoreOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver seconds per day.")] = 6.0,
    seed: SeedOpt = 0,
) -> None:
    """Plan consecutive days, mark visits done, and report cycle coverage, deadlines met and blind spots."""
    out = district_out(district, out, "simulation")
    store = district_store(district, store)
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.patrol import run_simulation

    d = load_district(district)
    start = day_or_first(start, d)
    plan_grids = _grids_of(grids, district, d, store)
    with console.status("simulating...") as status:
        report, written = run_simulation(
            d,
            start,
            days,
            out,
            grids=plan_grids,
            time_limit_s=time_limit,
            seed=seed,
            progress=lambda text: status.update(text),
        )
    console.print(report.summary(), highlight=False)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
