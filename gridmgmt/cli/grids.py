"""`gridmgmt grids`: build, rebalance, report and map the service grids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gridmgmt.cli.common import (
    DEMO_DISTRICT,
    DistrictOpt,
    DistrictOutOpt,
    GridPlanOpt,
    LangOpt,
    MapOutOpt,
    PlanDistrictOpt,
    SeedOpt,
    TilesOpt,
    app,
    command,
    console,
    district_out,
    out_file,
    plan_and_district,
)

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
    console.print(table, markup=False, emoji=False)


@command(grids_app, "build")
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
    """Partition all retailers into K contiguous, compact grids of equal workload; writes grids.gpkg and CSVs.

    Each grid is priced for its pair's travel mode and depot. The build then routes every grid's
    month of visits on the streets (OR-Tools) and, where the workload model misses grids, prices
    them on their routes and balances again (metrics.json: max_min_routed, max_min_routed_model;
    grids.csv: routed_factor). About 25 s for the demo's 5,000 retailers, 9 min for 50,000.
    """
    out = district_out(district, out, "grids")
    from gridmgmt.ops import grids as grid_ops

    with console.status("building grids...") as status:
        result = grid_ops.build(district, out, k=grids, seed=seed, tolerance=tolerance, pins=pin,
                                progress=lambda text: status.update(f"building grids: {text}"))  # fmt: skip
    _print_metrics(f"{len(result.plan.grids)} grids", result.plan.metrics)
    _warn(result.warnings)  # pairs without grids and what the routed check found (grids.verify.check_plan)
    for path in result.written.values():
        console.print(f"wrote {path}", highlight=False)


def _warn(lines: list[str]) -> None:
    for line in lines:
        console.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, emoji=False)


@command(grids_app, "rebalance")
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
    current_plan, district = plan_and_district(current, district)
    out = district_out(district, out, "grids_rebalanced")
    from gridmgmt.ops import grids as grid_ops

    locked: list[int] | None = None
    if lock_grids:
        try:
            locked = [int(x) for x in lock_grids.split(",") if x.strip()]
        except ValueError:
            raise typer.BadParameter(f"{lock_grids!r}: write grid ids separated by commas, e.g. 3,7") from None
    with console.status("rebalancing grids..."):
        result = grid_ops.rebalance(
            current_plan,
            district,
            out,
            k=grids,
            lock_retailers=lock_retailers,
            lock_grids=locked,
            seed=seed,
            tolerance=tolerance,
            pins=pin,
        )
    before, after = result.metrics.get("before", {}), result.metrics.get("after", {})
    _print_metrics("before -> after", {k: f"{_fmt(before.get(k, ''))} -> {_fmt(after.get(k, ''))}" for k in after})
    moved = 0 if result.moves is None else len(result.moves)
    console.print(f"{moved} retailers moved; moves.csv lists each with its reason")
    _warn(result.warnings)
    for path in result.written.values():
        console.print(f"wrote {path}", highlight=False)


@command(grids_app, "report")
def grids_report(
    grids: GridPlanOpt = None,
    district: PlanDistrictOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the report as grid_report.csv into this folder.")
    ] = None,
) -> None:
    """Per-grid table: retailers, workload hours (service and travel), area, density, compactness, staff pair."""
    from rich.table import Table

    from gridmgmt.ops import grids as grid_ops
    from gridmgmt.text import text_or_blank  # pandas: not at start-up (`gridmgmt --help`, `events add`)

    plan = plan_and_district(grids, district, need_district=False)[0]
    report, written = grid_ops.report(plan, out_file(out, out, "grid_report.csv") if out is not None else None)
    if written is not None:
        console.print(f"wrote {written}", highlight=False)
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
    Console(markup=False, emoji=False).print(table)
    w = report["workload_h"]
    console.print(f"max/min workload {w.max() / w.min():.3f}")


@command(grids_app, "map")
def grids_map(
    grids: GridPlanOpt = None,
    district: PlanDistrictOpt = None,
    out: MapOutOpt = None,
    lang: LangOpt = None,
    tiles: TilesOpt = "none",
) -> None:
    """Write the self-contained offline grid map: grids with labels and popups, retailers, subdistricts."""
    from gridmgmt.ops import grids as grid_ops

    plan, district = plan_and_district(grids, district)
    out = out_file(out, district_out(district, None, ""), "grid_map.html")
    path = grid_ops.draw_map(plan, district, out, lang=lang, tiles=tiles)
    console.print(f"wrote {path}", highlight=False)
