"""Command line: a thin typer shell over the gridmgmt API.

Every command takes ``--district path/to/district.toml``; errors become one clear line per
problem (file, row, field, fix) and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec

import typer
from rich.console import Console
from rich.logging import RichHandler

from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.text import text_or_blank

app = typer.Typer(
    help="gridmgmt: balanced service grids, daily joint patrol routes and risk hotspots for a district "
    "tobacco monopoly bureau (烟草专卖局网格化管理).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
P = ParamSpec("P")

DEMO_DISTRICT = Path("data/demo/district.toml")

DistrictOpt = Annotated[
    Path, typer.Option("--district", "-d", help="The district's settings file (names every input file).")
]
OutDirOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder the outputs are written to (created if missing).")]
DistrictOutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Where to write (default: the district folder's out/, never the current folder)."),
]
LangOpt = Annotated[str, typer.Option("--lang", help="Label language of maps and sheets: zh or en.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same inputs and seed give the same outputs.")]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The shared store: a SQLite file or postgresql://user@host/db (default: $GRIDMGMT_STORE, else "
        "the district folder's out/store.sqlite).",
    ),
]
TilesOpt = Annotated[
    str, typer.Option("--tiles", help="Basemap: none (offline), osm or amap (both need internet to show tiles).")
]


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("fiona", "pyogrio", "matplotlib", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _command(group: typer.Typer, name: str | None = None) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Register a command on ``group`` whose errors end as one line each and exit code 1.

    A :class:`GridMgmtError` prints its problems (file, row, field, fix). Anything unexpected prints
    one line naming the command and the failure, with the full traceback written to a log file.
    """

    def register(func: Callable[P, None]) -> Callable[P, None]:
        command = " ".join(filter(None, [group.info.name, name or func.__name__.replace("_", "-")]))

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                func(*args, **kwargs)
            except GridMgmtError as exc:
                _fail(exc)
            except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
                raise
            except Exception as exc:  # the CLI boundary: never a bare traceback
                _crash(command, exc)

        group.command(name)(run)
        return run

    return register


def _crash(command: str, exc: Exception) -> NoReturn:
    """One line for an unexpected failure; the traceback goes to a log file the line names."""
    log_dir = Path(tempfile.gettempdir()) / "gridmgmt-logs"
    log_file = log_dir / f"{command.replace(' ', '-')}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"details in {log_file}"
    except OSError:
        where = "run with --verbose for details"
    console.print(f"[red]error:[/red] {command} failed: {type(exc).__name__}: {exc} ({where})", highlight=False)
    raise typer.Exit(code=1)


GridPlanOpt = Annotated[
    Path | None,
    typer.Option("--grids", help="grids.gpkg (or its folder) from `grids build` (default: the district's out/grids)."),
]
PlanDistrictOpt = Annotated[
    Path | None,
    typer.Option("--district", "-d", help="district.toml (default: the one the grids were built for, else the demo)."),
]


def _plan_and_district(grids: Path | None, district: Path | None, *, need_district: bool = True):
    """The grid plan and its district: a grids.gpkg records the district.toml it was built for."""
    from gridmgmt.grids.plan import read_grid_plan

    if grids is None:
        district = district or DEMO_DISTRICT
        grids = _district_out(district, None, "grids")
    plan = read_grid_plan(grids)
    if district is None and plan.district:
        district = Path(plan.district)
    if district is None and need_district:
        raise GridMgmtError(f"{grids}: the plan does not say which district it is for; give --district")
    return plan, district


def _district_out(district: Path, out: Path | None, name: str) -> Path:
    """``out`` when given, else ``<district folder>/out/<name>``: results belong to their district."""
    return out if out is not None else district.resolve().parent / "out" / name


def _district_store(district: Path, store: str | None) -> str:
    """``--store``, else ``$GRIDMGMT_STORE``, else ``<district folder>/out/store.sqlite``."""
    return store or os.environ.get("GRIDMGMT_STORE") or str(district.resolve().parent / "out" / "store.sqlite")


def _fail(exc: GridMgmtError) -> NoReturn:
    problems = getattr(exc, "problems", None)
    if isinstance(exc, InputError) and problems:
        for problem in problems:
            console.print(f"[red]error:[/red] {problem}", highlight=False, markup=True)
        if len(problems) > 1:
            console.print(f"[red]{len(problems)} problems[/red]; nothing was written.")
    else:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(code=1)


@_command(app, "demo-data")
def demo_data(
    out: OutDirOpt = Path("data/demo"),
    seed: SeedOpt = 7,
    retailers: Annotated[int, typer.Option(help="Number of retailers to generate.")] = 5000,
    history_end: Annotated[str, typer.Option(help="Last day of the generated history (YYYY-MM-DD).")] = "2026-11-30",
    history_days: Annotated[int, typer.Option(help="Days of history before --history-end.")] = 730,
    province: Annotated[
        int | None, typer.Option("--province", help="Write a synthetic province of N districts instead (OUT/dNN_*/).")
    ] = None,
    retailers_per_district: Annotated[
        int, typer.Option(help="With --province: mean retailers per district (40 x 7500 = 300,000).")
    ] = 7500,
) -> None:
    """Generate the synthetic Yunyan District demo (boundary, streets, retailers, staff, two years of history)."""
    from gridmgmt.demo import generate_demo

    if province is not None:
        from gridmgmt.demo.province import generate_province

        with console.status("generating the province...") as status:
            files = generate_province(
                out,
                province,
                retailers_per_district=retailers_per_district,
                seed=seed,
                history_end=_check_date(history_end),
                history_days=history_days,
                progress=lambda k, n, name: status.update(f"generating the province: {k}/{n} districts ({name})"),
            )
        console.print(f"wrote {province} districts to {out}/ (table: {files['province']})", highlight=False)
        return
    files = generate_demo(
        out, seed=seed, n_retailers=retailers, history_end=_check_date(history_end), history_days=history_days
    )
    console.print(f"wrote {len(files)} files to {out}")


@_command(app)
def validate(
    retailers: Annotated[
        Path | None,
        typer.Option(
            "--retailers", help="Retailer table (CSV UTF-8/GBK, GeoJSON, GPKG, Parquet); default: the district's."
        ),
    ] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Event log to check against the retailers.")] = None,
    district: Annotated[
        Path | None, typer.Option("--district", "-d", help="district.toml: boundary and settings.")
    ] = None,
    coords: Annotated[
        str | None, typer.Option("--coords", help="Coordinate system of the input: wgs84, gcj02 or bd09.")
    ] = None,
) -> None:
    """Check input files and report ALL problems at once; exit 0 only when the input is usable."""
    from gridmgmt.inputs.validate import validate_inputs

    report = validate_inputs(retailers, events=events, district=district, coords=coords)
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{problem.severity}:[/{colour}] {problem}", highlight=False)
    console.print(report.summary(), highlight=False)
    raise typer.Exit(code=0 if report.ok else 1)


@_command(app)
def demo(
    out: OutDirOpt = Path("out"),
    district: DistrictOpt = DEMO_DISTRICT,
    seed: SeedOpt = 0,
) -> None:
    """Run the whole loop on the bundled demo district and write every output into OUT."""
    from gridmgmt.pipeline import run_demo

    written = run_demo(district, out, seed=seed, console=console)
    console.print(f"[green]done[/green]: {len(written)} outputs in {out}/")
    for path in written:
        console.print(f"  {path}", highlight=False)


grids_app = typer.Typer(
    name="grids", help="Balanced service grids: build, rebalance, report and map (网格划分).", no_args_is_help=True
)
app.add_typer(grids_app, name="grids")


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_metrics(title: str, metrics: dict) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        if isinstance(value, (str, int, float, bool)):
            table.add_row(str(key), str(value))
    console.print(table)


@_command(grids_app, "build")
def grids_build(
    district: DistrictOpt = DEMO_DISTRICT,
    grids: Annotated[int | None, typer.Option("--grids", "-k", help="Number of grids (default: staff pairs).")] = None,
    out: DistrictOutOpt = None,
    tolerance: Annotated[
        float | None, typer.Option("--tolerance", help="Max/min workload allowed (default grids.balance_tolerance).")
    ] = None,
    seed: SeedOpt = 0,
    pin: Annotated[
        list[str] | None, typer.Option("--pin", help="Pair to grid, by a member: M03=5 (repeatable or M03=5,Z07=2).")
    ] = None,
) -> None:
    """Partition all retailers into K contiguous, compact grids of equal workload; writes grids.gpkg and CSVs."""
    out = _district_out(district, out, "grids")
    from gridmgmt.grids.build import build_grids
    from gridmgmt.grids.pairs import parse_pins
    from gridmgmt.grids.plan import write_grid_plan
    from gridmgmt.inputs.district import load_district

    pins = parse_pins(pin)
    d = load_district(district)
    with console.status("building grids..."):
        plan = build_grids(d, grids, seed=seed, tolerance=tolerance, pins=pins)
    written = write_grid_plan(plan, out)
    _print_metrics(f"{len(plan.grids)} grids", plan.metrics)
    for path in written.values():
        console.print(f"wrote {path}", highlight=False)


@_command(grids_app, "rebalance")
def grids_rebalance(
    current: Annotated[
        Path | None, typer.Option("--current", help="The current grids.gpkg or its folder (default: the district's).")
    ] = None,
    district: PlanDistrictOpt = None,
    out: DistrictOutOpt = None,
    grids: Annotated[
        int | None, typer.Option("--grids", "-k", help="New number of grids (default: unchanged).")
    ] = None,
    lock_retailers: Annotated[
        Path | None, typer.Option("--lock-retailers", help="CSV with a retailer_id column: these never move.")
    ] = None,
    lock_grids: Annotated[
        str | None, typer.Option("--lock-grids", help="Comma-separated grid ids that neither give nor take retailers.")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option("--tolerance", help="Max/min workload to reach (default grids.routed_tolerance).")
    ] = None,
    seed: SeedOpt = 0,
    pin: Annotated[
        list[str] | None, typer.Option("--pin", help="Pair to current grid, by a member: M03=5 (repeatable).")
    ] = None,
) -> None:
    """Restore balance after retailers open or close or staff change, moving as few retailers as possible."""
    _, district = _plan_and_district(current, district)
    current = current or _district_out(district, None, "grids")
    out = _district_out(district, out, "grids_rebalanced")
    from gridmgmt.grids.build import rebalance_grids
    from gridmgmt.grids.pairs import parse_pins
    from gridmgmt.grids.plan import write_grid_plan
    from gridmgmt.inputs.district import load_district

    pins = parse_pins(pin)
    locked: list[int] | None = None
    if lock_grids:
        try:
            locked = [int(x) for x in lock_grids.split(",") if x.strip()]
        except ValueError:
            raise typer.BadParameter(f"{lock_grids!r}: write grid ids separated by commas, e.g. 3,7") from None
    d = load_district(district)
    with console.status("rebalancing grids..."):
        plan, moves, metrics = rebalance_grids(
            d,
            current,
            k=grids,
            lock_retailers=lock_retailers,
            lock_grids=locked,
            seed=seed,
            tolerance=tolerance,
            pins=pins,
        )
    written = write_grid_plan(plan, out, moves=moves)
    before, after = metrics.get("before", {}), metrics.get("after", {})
    _print_metrics("before -> after", {k: f"{_fmt(before.get(k, ''))} -> {_fmt(after.get(k, ''))}" for k in after})
    console.print(f"{len(moves)} retailers moved; moves.csv lists each with its reason")
    for path in written.values():
        console.print(f"wrote {path}", highlight=False)


@_command(grids_app, "report")
def grids_report(
    grids: GridPlanOpt = None,
    district: PlanDistrictOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the report as CSV.")] = None,
) -> None:
    """Per-grid table: retailers, workload hours (service and travel), area, density, compactness, staff pair."""
    from rich.table import Table

    from gridmgmt import io
    from gridmgmt.grids.report import grid_report

    report = grid_report(_plan_and_district(grids, district, need_district=False)[0])
    if out is not None:
        io.write_csv(report, out)
    table = Table(title=f"{len(report)} grids")
    columns = [
        "grid_id",
        "retailers",
        "workload_h",
        "service_h",
        "travel_h",
        "area_km2",
        "polsby_popper",
        "customer_manager_name",
        "monopoly_officer_name",
    ]
    for column in columns:
        table.add_column(column.replace("_name", ""))
    for row in report.itertuples():
        table.add_row(*(text_or_blank(getattr(row, c, ""), whole_as_int=True) for c in columns))
    Console().print(table)
    w = report["workload_h"]
    console.print(f"max/min workload {w.max() / w.min():.3f}")


@_command(grids_app, "map")
def grids_map(
    grids: GridPlanOpt = None,
    district: PlanDistrictOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The HTML file to write (default: the district folder's out/grid_map.html)."),
    ] = None,
    lang: LangOpt = "zh",
    tiles: TilesOpt = "none",
) -> None:
    """Write the self-contained offline grid map: grids with labels and popups, retailers, subdistricts."""
    from gridmgmt.grids.grid_map import grid_map
    from gridmgmt.inputs.district import load_district
    from gridmgmt.maps import save_map

    plan, district = _plan_and_district(grids, district)
    out = _district_out(district, out, "grid_map.html")
    path = save_map(grid_map(plan, load_district(district), lang=lang, tiles=tiles), out)
    console.print(f"wrote {path}", highlight=False)


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


def _split(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


@_command(patrol_app, "plan")
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
    lang: LangOpt = "zh",
    seed: SeedOpt = 0,
) -> None:
    """Plan one day: who visits which retailers, in what order and when; writes stops, route sheets and map."""
    out = _district_out(district, out, "patrol")
    store = _district_store(district, store)
    from gridmgmt.grids.plan import load_grids, stored_grids
    from gridmgmt.inputs.district import load_district
    from gridmgmt.patrol.plan import DETERMINISTIC_SOLUTIONS
    from gridmgmt.pipeline import plan_patrol

    if deterministic and solution_limit is None:
        solution_limit = DETERMINISTIC_SOLUTIONS
    if time_limit is None and solution_limit is None:
        time_limit = 15.0

    date = _check_date(date)
    d = load_district(district, store=store)
    plan_grids = load_grids(grids) if grids else stored_grids(store)
    with console.status("planning routes...") as status:
        plan, written = plan_patrol(
            d,
            date,
            out,
            grids=plan_grids,
            squads=_split(squads),
            absent=_split(absent) or (),
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


@_command(patrol_app, "simulate")
def patrol_simulate(
    start: Annotated[str, typer.Option("--start", help="First day to plan, YYYY-MM-DD.")] = "2026-12-01",
    days: Annotated[int, typer.Option("--days", help="Working days to plan one after another.")] = 20,
    district: DistrictOpt = DEMO_DISTRICT,
    out: DistrictOutOpt = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver seconds per day.")] = 6.0,
    seed: SeedOpt = 0,
) -> None:
    """Plan consecutive days, mark visits done, and report cycle coverage, deadlines met and blind spots."""
    out = _district_out(district, out, "simulation")
    from gridmgmt.inputs.district import load_district
    from gridmgmt.pipeline import run_simulation

    start = _check_date(start)
    d = load_district(district)
    with console.status("simulating...") as status:
        report, written = run_simulation(
            d, start, days, out, time_limit_s=time_limit, seed=seed, progress=lambda text: status.update(text)
        )
    console.print(report.summary(), highlight=False)
    for path in written:
        console.print(f"wrote {path}", highlight=False)


risk_app = typer.Typer(
    name="risk", help="Risk scores, hotspots and the managers' offline risk map (风险).", no_args_is_help=True
)
app.add_typer(risk_app, name="risk")

DateOpt = Annotated[str, typer.Option("--date", help="As-of date YYYY-MM-DD: only what was known before it is used.")]


def _check_date(value: str) -> str:
    import pandas as pd

    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError):
        raise typer.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-01") from None


@_command(risk_app, "score")
def risk_score(
    district: DistrictOpt = DEMO_DISTRICT,
    date: DateOpt = "2026-12-01",
    out: DistrictOutOpt = None,
    store: StoreOpt = None,
) -> None:
    """Score every retailer 0-100 as of a date, with level and top three reasons (zh/en); writes risk.csv."""
    out = _district_out(district, out, "risk")
    store = _district_store(district, store)
    from gridmgmt import io
    from gridmgmt.inputs.district import load_district
    from gridmgmt.pipeline import district_inputs
    from gridmgmt.risk.district_risk import risk_layer, score_risk
    from gridmgmt.store import open_store

    date = _check_date(date)
    d = load_district(district, store=store)
    scores = score_risk(d, date)
    path = io.write_csv(scores, out / "risk.csv")
    with open_store(store) as shared:
        shared.write_run("risk", {"risk": risk_layer(d, scores)}, inputs=district_inputs(d), parameters={"as_of": date})
    levels = scores["level"].value_counts()
    console.print(
        f"{len(scores)} retailers scored as of {date}: high {levels.get('high', 0)}, medium "
        f"{levels.get('medium', 0)}, low {levels.get('low', 0)} -> {path}"
    )


@_command(risk_app, "hotspots")
def risk_hotspots_cmd(
    points: Annotated[
        Path, typer.Option("--points", help="Any point layer: CSV with lon/lat, GeoJSON, GPKG, Parquet.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output cells (GeoJSON).")] = Path("cells.geojson"),
    weight: Annotated[str | None, typer.Option("--weight", help="Numeric column weighting each point.")] = None,
    lon: Annotated[str, typer.Option("--lon", help="Longitude column (WGS-84).")] = "lon",
    lat: Annotated[str, typer.Option("--lat", help="Latitude column (WGS-84).")] = "lat",
    district: Annotated[
        Path | None, typer.Option("--district", "-d", help="district.toml: its boundary limits the hexagons.")
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Getis-Ord Gi* hotspots (FDR-corrected, hot/cold at 90/95/99%) and the KDE peak of any point layer."""
    from gridmgmt import io
    from gridmgmt.inputs.tables import load_boundary
    from gridmgmt.risk.hotspots import find_hotspots, points_from_table

    boundary = None
    if district is not None:
        from gridmgmt.config import load_settings

        boundary = load_boundary(load_settings(district).path("boundary"))
    frame = points_from_table(io.read_table(points), lon=lon, lat=lat, weight=weight, file=str(points))
    result = find_hotspots(frame, weight=weight, boundary=boundary, seed=seed, source=str(points))
    io.write_vector(result.cells, out)
    io.write_json(
        {"kde_peak": result.kde_peak, "scale_info": result.scale_info, "notes": result.notes},
        out.with_suffix(".json"),
    )
    console.print(result.summary(), highlight=False)
    console.print(f"cells -> {out}; scale and KDE peak -> {out.with_suffix('.json')}")


@_command(risk_app, "map")
def risk_map_cmd(
    district: DistrictOpt = DEMO_DISTRICT,
    date: DateOpt = "2026-12-01",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The HTML file to write (default: the district folder's out/risk_map.html)."),
    ] = None,
    grids: Annotated[
        Path | None, typer.Option("--grids", help="grids.gpkg from `grids build`, to colour grids by mean risk.")
    ] = None,
    lang: LangOpt = "zh",
    tiles: TilesOpt = "none",
    seed: SeedOpt = 0,
    store: StoreOpt = None,
) -> None:
    """Write the managers' self-contained offline risk map (heat, Gi* hotspots, grids, retailers by level)."""
    out = _district_out(district, out, "risk_map.html")
    store = _district_store(district, store)
    from gridmgmt.grids.plan import load_grids
    from gridmgmt.inputs.district import load_district
    from gridmgmt.pipeline import run_risk

    date = _check_date(date)
    d = load_district(district, store=store)
    written = run_risk(
        d,
        date,
        out.parent,
        lang=lang,
        tiles=tiles,
        seed=seed,
        map_path=out,
        grids=load_grids(grids) if grids else None,
        store=store,
    ).written
    for path in written:
        console.print(f"wrote {path}", highlight=False)


events_app = typer.Typer(
    name="events", help="The shared event log both departments write (共享事件日志).", no_args_is_help=True
)
app.add_typer(events_app, name="events")
tasks_app = typer.Typer(
    name="tasks", help="Joint-visit tasks opened by tip-offs, complaints and reports (联合任务).", no_args_is_help=True
)
app.add_typer(tasks_app, name="tasks")


@_command(events_app, "add")
def events_add(
    type_: Annotated[
        str, typer.Option("--type", help="inspection, violation, complaint, tip_off, marketing_report or visit.")
    ],
    retailer: Annotated[str, typer.Option("--retailer", help="The retailer's licence number (retailer_id).")],
    department: Annotated[str, typer.Option("--department", help="monopoly, marketing or public.")] = "",
    time: Annotated[str, typer.Option("--time", help="When it happened, YYYY-MM-DDTHH:MM (default: now).")] = "",
    outcome: Annotated[str, typer.Option("--outcome", help="For inspections: ok or violation.")] = "",
    severity: Annotated[str, typer.Option("--severity", help="For violations: minor, serious or criminal.")] = "",
    note: Annotated[str, typer.Option("--note", help="Free text: what was reported or found.")] = "",
    corrects: Annotated[str, typer.Option("--corrects", help="event_id of an earlier event this one corrects.")] = "",
    event_id: Annotated[str, typer.Option("--event-id", help="Own id for the event (default: generated).")] = "",
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Append one event to the shared log; an inspection with outcome violation also records the violation."""
    store = _district_store(district, store)
    import pandas as pd

    from gridmgmt.pipeline import add_events

    default_department = {
        "inspection": "monopoly",
        "violation": "monopoly",
        "visit": "marketing",
        "marketing_report": "marketing",
    }.get(type_, "public")
    row = {
        "event_id": event_id,
        "retailer_id": retailer,
        "time": time or pd.Timestamp.now().strftime("%Y-%m-%dT%H:%M"),
        "type": type_,
        "department": department or default_department,
        "outcome": outcome,
        "severity": severity,
        "note": note,
        "corrects": corrects,
    }
    added = add_events(district, store, pd.DataFrame([row]), file="command line", derive_violations=True)
    for event in added.itertuples():
        console.print(f"added {event.event_id}: {event.type} at {event.retailer_id} ({event.time:%Y-%m-%d %H:%M})")


@_command(events_app, "import")
def events_import(
    file: Annotated[Path, typer.Argument(help="Events to append: CSV (UTF-8/GBK), GeoJSON, GPKG or Parquet.")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Append many events from a file, all or nothing: one bad row adds nothing and names the row."""
    store = _district_store(district, store)
    from gridmgmt.pipeline import import_events

    result = import_events(district, store, file)
    console.print(result.summary(str(file)), highlight=False)


@_command(events_app, "list")
def events_list(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    since: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (default: none).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only these types, comma-separated.")] = None,
    retailer: Annotated[str | None, typer.Option("--retailer", help="Only this retailer's events.")] = None,
    format_: Annotated[str, typer.Option("--format", help="table, csv or json (to standard output).")] = "table",
) -> None:
    """List events of the shared log (indexed reads: fast on millions of events)."""
    import pandas as pd

    from gridmgmt.store import open_store

    store = _district_store(district, store)
    if format_ not in ("table", "csv", "json"):
        raise typer.BadParameter(f"{format_!r}: use table, csv or json")
    start = _check_date(since) if since else (pd.Timestamp.now().normalize() - pd.Timedelta(days=30)).date().isoformat()
    with open_store(store) as shared:
        events = shared.events_between(
            start, _check_date(until) if until else None, types=_split(type_), retailer_ids=_split(retailer)
        )
    if format_ == "csv":
        typer.echo(events.to_csv(index=False), nl=False)
    elif format_ == "json":
        typer.echo(events.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        from rich.table import Table

        table = Table(title=f"{len(events)} events since {start}")
        columns = ["event_id", "time", "retailer_id", "type", "department", "outcome", "severity", "note"]
        for column in columns:
            table.add_column(column)
        for row in events.itertuples():
            table.add_row(*(text_or_blank(getattr(row, c, "")) for c in columns))
        Console().print(table)


store_app = typer.Typer(
    name="store",
    help="The shared store both departments write: init, backup, export (共享数据库).",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")


@_command(store_app, "init")
def store_init(district: DistrictOpt = DEMO_DISTRICT, store: StoreOpt = None) -> None:
    """Load the district's files (retailers, staff, pairs, layers, events) into the shared store, once."""
    from gridmgmt.inputs.district import load_district
    from gridmgmt.store import open_store

    store = _district_store(district, store)
    d = load_district(district)
    with open_store(store) as shared, console.status("loading the district into the store..."):
        counts = shared.init_district(d, events_source=str(d.settings.path("events")))
    console.print(f"{shared.label}: " + ", ".join(f"{n:,} {name}" for name, n in counts.items()), highlight=False)


@_command(store_app, "backup")
def store_backup(
    to: Annotated[Path, typer.Option("--to", help="The backup file to write.")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """An online backup: a consistent copy of the store while others go on writing."""
    from gridmgmt.store import open_store

    with open_store(_district_store(district, store)) as shared:
        path = shared.backup(to)
    console.print(f"backed up {shared.label} to {path}", highlight=False)


@_command(store_app, "export")
def store_export(
    to: Annotated[Path, typer.Option("--to", help="The GeoPackage to write (FILE.gpkg).")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Every current layer of the store in one GeoPackage, for QGIS or ArcGIS users."""
    from gridmgmt.store import open_store

    with open_store(_district_store(district, store)) as shared:
        path, layers = shared.export(to)
    console.print(f"wrote {len(layers)} layers to {path}: {', '.join(layers)}", highlight=False)


@_command(tasks_app, "list")
def tasks_list(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    date: DateOpt = "2026-12-01",
    overdue: Annotated[bool, typer.Option("--overdue", help="Only tasks past their deadline and still open.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also closed tasks (default: open ones only).")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the list as CSV.")] = None,
) -> None:
    """List joint-visit tasks with deadline, status and the responsible pair."""
    store = _district_store(district, store)
    from rich.table import Table

    from gridmgmt import io
    from gridmgmt.loop.district_loop import district_tasks

    date = _check_date(date)
    tasks = district_tasks(district, store, as_of=date)
    if overdue:
        tasks = tasks.loc[tasks["status"] == "overdue"]
    elif not all_:
        tasks = tasks.loc[tasks["status"].isin(("open", "overdue"))]
    if out is not None:
        io.write_csv(tasks, out)
    table = Table(title=f"tasks as of {date}: {len(tasks)}")
    for column in (
        "task_id",
        "retailer_id",
        "type",
        "opened",
        "deadline",
        "status",
        "grid_id",
        "customer_manager",
        "monopoly_officer",
    ):
        table.add_column(column)
    for task in tasks.itertuples():
        table.add_row(
            task.task_id,
            task.retailer_id,
            task.type,
            f"{task.opened:%Y-%m-%d %H:%M}",
            f"{task.deadline:%Y-%m-%d}",
            task.status,
            str(getattr(task, "grid_id", "")),
            str(getattr(task, "customer_manager", "")),
            str(getattr(task, "monopoly_officer", "")),
        )
    Console().print(table)


report_app = typer.Typer(
    name="report", help="Reports for managers: responsibility and blind spots (责任落实).", no_args_is_help=True
)
app.add_typer(report_app, name="report")


@_command(report_app, "responsibility")
def report_responsibility(
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
    date: DateOpt = "2026-12-01",
    grids: Annotated[
        Path | None,
        typer.Option("--grids", help="grids.gpkg (default: the store's grids, else the retailers' grid_id)."),
    ] = None,
    out: DistrictOutOpt = None,
) -> None:
    """Grids without a full pair, retailers outside any grid or past their cycle, overdue tasks; per grid and person."""
    out = _district_out(district, out, "responsibility")
    store = _district_store(district, store)
    from gridmgmt.grids.plan import load_grids, stored_grids
    from gridmgmt.inputs.district import load_district
    from gridmgmt.loop.district_loop import responsibility
    from gridmgmt.pipeline import write_responsibility

    date = _check_date(date)
    d = load_district(district, store=store)
    plan = load_grids(grids) if grids else stored_grids(store)
    report = responsibility(d, as_of=date, grids=plan)
    written = write_responsibility(report, out)
    console.print(report.summary(), highlight=False)
    console.print(f"{len(written)} tables in {out}/")


def main() -> None:
    """Entry point of the ``gridmgmt`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted; earlier outputs are intact")
        sys.exit(130)


@_command(app, "init")
def init(
    folder: Annotated[Path, typer.Argument(help="The district folder to create.")],
    retailers: Annotated[
        Path, typer.Option("--retailers", help="Retailer table (CSV UTF-8/GBK, GeoJSON, GPKG, Parquet).")
    ],
    network: Annotated[
        Path, typer.Option("--network", help="OSM extract (.osm, .osm.gz, .osm.bz2, .osm.pbf) or osmnx .graphml.")
    ],
    boundary: Annotated[
        Path | None,
        typer.Option("--boundary", help="District polygon; default the retailers' hull + 300 m within the extract."),
    ] = None,
    pairs: Annotated[
        int | None,
        typer.Option("--pairs", help="Placeholder staff pairs when no --staff (default retailers / 420, at least 1)."),
    ] = None,
    staff: Annotated[Path | None, typer.Option("--staff", help="Staff table (like data/demo/staff.csv).")] = None,
    depot: Annotated[
        str | None, typer.Option("--depot", help="The bureau's depot as LON,LAT (default: the retailers' centre).")
    ] = None,
    depots: Annotated[Path | None, typer.Option("--depots", help="Depot table: depot_id, name, lon, lat.")] = None,
    coords: Annotated[
        str, typer.Option("--coords", help="Coordinate system of the retailers and depots: wgs84, gcj02 or bd09.")
    ] = "wgs84",
    name: Annotated[str | None, typer.Option("--name", help="District name (default: the folder's name).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing district folder (its outputs too) once done.")
    ] = False,
) -> None:
    """Create a district folder from a retailer table and an OSM extract, deriving what is missing."""
    from gridmgmt.init_district import init_district

    with console.status("creating the district..."):
        result = init_district(
            folder,
            retailers,
            network,
            boundary=boundary,
            pairs=pairs,
            staff=staff,
            depot=depot,
            depots=depots,
            coords=coords,
            name=name,
            force=force,
        )
    for note in result.notes:
        console.print(note, highlight=False, markup=False, soft_wrap=True)
    console.print(f"[green]done[/green]: {len(result.files)} files in {folder}/; next:", highlight=False)
    for command in result.next_commands():  # one line each, unwrapped, to copy and paste
        console.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)


# ----------------------------------------------------------------------------- province (issue 15)

province_app = typer.Typer(
    name="province", help="A whole province on Dask: every district's steps as distributed tasks.", no_args_is_help=True
)
app.add_typer(province_app, name="province")


@_command(province_app, "run")
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

    from gridmgmt.patrol.plan import DETERMINISTIC_SOLUTIONS
    from gridmgmt.province import StepOptions, find_districts, parse_steps, run_province

    tomls = find_districts(districts)
    options = StepOptions(seed=seed, solution_limit=solution_limit or DETERMINISTIC_SOLUTIONS, lang=lang)
    when = _check_date(date) if date else None
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
                console.print(f"[red]failed:[/red] {row['district']} {row['step']}: {row['message']}", highlight=False)

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
        console.print(f"note: {note}", highlight=False)
    counts = result.status["status"].value_counts()
    console.print(
        f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped -> "
        f"{result.status_path}" + (f", {result.overview_path}" if result.overview_path else ""),
        highlight=False,
    )
    if not result.ok:
        console.print("[red]some districts failed[/red]: fix them and rerun with --retry-failed")
        raise typer.Exit(code=1)


# ----------------------------------------------------------------------------- the web service (issue 14)

users_app = typer.Typer(name="users", help="Users and roles of the web service (用户与角色).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@_command(app, "serve")
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
) -> None:
    """Run the bureau's shared web service (pages in zh/en and a JSON API at /openapi.json) over the store."""
    import uvicorn

    from gridmgmt.inputs.district import load_district
    from gridmgmt.service import ServiceOptions, create_app
    from gridmgmt.store import open_store

    shared = open_store(_district_store(district, store))
    if not shared.is_initialised():
        raise GridMgmtError(f"{shared.label}: the store holds no district yet; run `gridmgmt store init` first")
    options = ServiceOptions(
        today=_check_date(today) if today else None, trust_proxy=proxy, secure_cookies=secure_cookies
    )
    web = create_app(load_district(district), shared, options=options)
    console.print(f"serving {shared.label} on http://{host}:{port}/ (Ctrl+C stops)", highlight=False)
    uvicorn.run(web, host=host, port=port, proxy_headers=proxy, forwarded_allow_ips="127.0.0.1" if proxy else None)


@_command(users_app, "add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    role: Annotated[
        str, typer.Option("--role", help="marketing, monopoly, squad_leader, planner, manager, mediator or admin.")
    ],
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
    from gridmgmt.service.accounts import add_user
    from gridmgmt.store import open_store

    if not password_stdin:
        raise typer.BadParameter("give --password-stdin and the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    with open_store(_district_store(district, store)) as shared:
        user = add_user(shared.engine, name, role, password, staff_id=staff_id)
    console.print(f"added {user.username} ({user.role})", highlight=False)


@_command(users_app, "list")
def users_list(district: DistrictOpt = DEMO_DISTRICT, store: StoreOpt = None) -> None:
    """List users: name, role, staff id, enabled or disabled."""
    from gridmgmt.service.accounts import list_users
    from gridmgmt.store import open_store

    with open_store(_district_store(district, store)) as shared:
        for user in list_users(shared.engine):
            state = "disabled" if user.disabled else "enabled"
            print(f"{user.username}\t{user.role}\t{user.staff_id}\t{state}")


@_command(users_app, "disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable (their sessions end at once).")],
    district: DistrictOpt = DEMO_DISTRICT,
    store: StoreOpt = None,
) -> None:
    """Disable a user: they cannot log in any more and their open sessions end."""
    from gridmgmt.service.accounts import disable_user
    from gridmgmt.store import open_store

    with open_store(_district_store(district, store)) as shared:
        disable_user(shared.engine, name)
    console.print(f"disabled {name}", highlight=False)
