"""`gridmgmt province run`: every district of a province as Dask tasks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from gridmgmt.cli.common import (
    DistrictOutOpt,
    LangOpt,
    SeedOpt,
    app,
    check_date,
    command,
    console,
)

# ----------------------------------------------------------------------------- province (issue 15)

province_app = typer.Typer(
    name="province", help="A whole province on Dask: every district's steps as distributed tasks.", no_args_is_help=True
)
app.add_typer(province_app, name="province")


@command(province_app, "run")
def province_run(
    districts: Annotated[
        str, typer.Option("--districts", help="Glob of district folders or district.toml files, e.g. 'province/*'.")
    ],
    out: DistrictOutOpt = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Planning day YYYY-MM-DD (default: each district's day after history).")
    ] = None,
    steps: Annotated[
        str, typer.Option("--steps", help="Comma-separated steps to run.")
    ] = "validate,risk,grids,plan,maps",
    scheduler: Annotated[
        str, typer.Option("--scheduler", help="local (a LocalCluster), none (in this process) or tcp://HOST:PORT.")
    ] = "local",
    workers: Annotated[
        int | None, typer.Option("--workers", help="LocalCluster workers (default: one per core).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Rerun only the tasks that failed or were skipped last time.")
    ] = False,
    solution_limit: Annotated[
        int | None,
        typer.Option("--solution-limit", help="Route solutions per day (default: the deterministic budget)."),
    ] = None,
    lang: LangOpt = "zh",
    seed: SeedOpt = 0,
) -> None:
    """Run validate, risk, grids, plan and maps for every district on Dask; writes status.csv and province.html."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gridmgmt.ops.patrol import DETERMINISTIC_SOLUTIONS
    from gridmgmt.province import StepOptions, find_districts, parse_steps, run_province

    tomls = find_districts(districts)
    if out is None:  # a province has no one district folder to default to
        raise typer.BadParameter("give --out DIR: the folder for the province's results")
    options = StepOptions(seed=seed, solution_limit=solution_limit or DETERMINISTIC_SOLUTIONS, lang=lang or "zh")
    when = check_date(date) if date else None
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task(f"{len(tomls)} districts", total=None)

        def started(n: int, dashboard: str | None) -> None:
            bar.update(task, total=n)
            where = f"; dashboard {dashboard}" if dashboard else ""
            console.print(f"{n} tasks on scheduler {scheduler}{where}", highlight=False)

        def finished(row: dict) -> None:
            bar.advance(task)
            if row["status"] == "failed":
                failure = escape(f"{row['district']} {row['step']}: {row['message']}")
                console.print(f"[red]failed:[/red] {failure}", highlight=False, emoji=False)

        result = run_province(
            tomls,
            out,
            steps=parse_steps(steps),
            date=when,
            scheduler=scheduler,
            workers=workers,
            retry_failed=retry_failed,
            options=options,
            on_start=started,
            on_row=finished,
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False, emoji=False)
    counts = result.status["status"].value_counts()
    console.print(
        f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped -> "
        f"{result.status_path}" + (f", {result.overview_path}" if result.overview_path else ""),
        highlight=False,
    )
    if not result.ok:
        console.print("[red]some districts failed[/red]: fix them and rerun with --retry-failed")
        raise typer.Exit(code=1)
