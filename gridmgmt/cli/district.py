"""Commands on a whole district: demo-data, validate, demo, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gridmgmt.cli.common import (
    DEMO_DISTRICT,
    DistrictOpt,
    DistrictOutOpt,
    LangOpt,
    OutDirOpt,
    SeedOpt,
    app,
    check_date,
    command,
    console,
    district_out,
)


@command(app, "demo-data")
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
    from gridmgmt.ops.demo import generate_demo, generate_province

    if province is not None:
        with console.status("generating the province...") as status:
            files = generate_province(
                out,
                province,
                retailers_per_district=retailers_per_district,
                seed=seed,
                history_end=check_date(history_end),
                history_days=history_days,
                progress=lambda k, n, name: status.update(f"generating the province: {k}/{n} districts ({name})"),
            )
        console.print(f"wrote {province} districts to {out}/ (table: {files['province']})", highlight=False)
        return
    files = generate_demo(
        out, seed=seed, n_retailers=retailers, history_end=check_date(history_end), history_days=history_days
    )
    console.print(f"wrote {len(files)} files to {out}")


@command(app)
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
    from gridmgmt.ops.district import validate_files

    report = validate_files(retailers, events=events, district=district, coords=coords)
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{problem.severity}:[/{colour}] {escape(str(problem))}", highlight=False, emoji=False)
    console.print(report.summary(), highlight=False)
    raise typer.Exit(code=0 if report.ok else 1)


@command(app)
def demo(
    out: DistrictOutOpt = None,
    district: DistrictOpt = DEMO_DISTRICT,
    seed: SeedOpt = 0,
    lang: LangOpt = None,
) -> None:
    """Run the whole loop on the bundled demo district and write every output into OUT.

    By default OUT is the district folder's out/ (data/demo/out/), where every other command looks
    for the district's store, grids and plans: after the demo, `gridmgmt patrol plan` or
    `gridmgmt serve` work on what it wrote without --store or --grids.
    """
    from gridmgmt.ops.demo import run_demo

    out = district_out(district, out, "")
    written = run_demo(district, out, seed=seed, console=console, lang=lang)
    console.print(f"[green]done[/green]: {len(written)} outputs in {out}/")
    for path in written:
        console.print(f"  {path}", highlight=False)


@command(app, "init")
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
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Label language of its maps and sheets, [district] lang: zh or en (default: zh when the "
            "retailers are in China, else en).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing district folder (its outputs too) once done.")
    ] = False,
) -> None:
    """Create a district folder from a retailer table and an OSM extract, deriving what is missing."""
    from gridmgmt.ops.init import init_district

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
            lang=lang,
            force=force,
        )
    for note in result.notes:
        console.print(note, highlight=False, markup=False, soft_wrap=True)
    console.print(f"[green]done[/green]: {len(result.files)} files in {folder}/; next:", highlight=False)
    for line in result.next_commands():  # one line each, unwrapped, to copy and paste
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
