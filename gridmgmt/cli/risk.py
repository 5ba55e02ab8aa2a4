"""`gridmgmt risk`: scores, hotspots and the risk map."""

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
    MapOutOpt,
    SeedOpt,
    StoreOpt,
    TilesOpt,
    app,
    command,
    console,
    current_grid_frame,
    day_or_first,
    district_out,
    district_store,
    out_file,
)

risk_app = typer.Typer(
    name="risk", help="Risk scores, hotspots and the managers' offline risk map (风险).", no_args_is_help=True
)
app.add_typer(risk_app, name="risk")


@command(risk_app, "score")
def risk_score(
    district: DistrictOpt = DEMO_DISTRICT,
    date: DateOpt = None,
    out: DistrictOutOpt = None,
    store: StoreOpt = None,
) -> None:
    """Score every retailer 0-100 as of a date, with level and top three reasons (zh/en); writes risk.csv."""
    out = district_out(district, out, "risk")
    store = district_store(district, store)
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.risk import score

    d = load_district(district, store=store)
    date = day_or_first(date, d)
    scores, path = score(d, date, out, store=store)
    levels = scores["level"].value_counts()
    console.print(
        f"{len(scores)} retailers scored as of {date}: high {levels.get('high', 0)}, medium "
        f"{levels.get('medium', 0)}, low {levels.get('low', 0)} -> {path}"
    )


@command(risk_app, "hotspots")
def risk_hotspots_cmd(
    points: Annotated[
        Path, typer.Option("--points", help="Any point layer: CSV with lon/lat, GeoJSON, GPKG, Parquet.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for cells.geojson and cells.json (default: the district's out/, else here)."
        ),
    ] = None,
    weight: Annotated[str | None, typer.Option("--weight", help="Numeric column weighting each point.")] = None,
    lon: Annotated[str, typer.Option("--lon", help="Longitude column (WGS-84).")] = "lon",
    lat: Annotated[str, typer.Option("--lat", help="Latitude column (WGS-84).")] = "lat",
    district: Annotated[
        Path | None, typer.Option("--district", "-d", help="district.toml: its boundary limits the hexagons.")
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Getis-Ord Gi* hotspots (FDR-corrected, hot/cold at 90/95/99%) and the KDE peak of any point layer."""
    from gridmgmt.ops.risk import point_hotspots

    out = out_file(out, district_out(district, None, "") if district is not None else Path(), "cells.geojson")
    result = point_hotspots(points, out, weight=weight, lon=lon, lat=lat, district_path=district, seed=seed)
    console.print(result.summary(), highlight=False)
    console.print(f"cells -> {out}; scale and KDE peak -> {out.with_suffix('.json')}")


@command(risk_app, "map")
def risk_map_cmd(
    district: DistrictOpt = DEMO_DISTRICT,
    date: DateOpt = None,
    out: MapOutOpt = None,
    grids: Annotated[
        Path | None,
        typer.Option(
            "--grids",
            help="grids.gpkg (or its folder) to colour grids by risk (default: the district's current grids).",
        ),
    ] = None,
    lang: LangOpt = None,
    tiles: TilesOpt = "none",
    seed: SeedOpt = 0,
    store: StoreOpt = None,
) -> None:
    """Write the managers' self-contained offline risk map (heat, Gi* hotspots, grids, retailers by level).

    Into the --out folder: risk_map.html, and risk.csv and hotspots.geojson in its risk/ (as `gridmgmt demo`).
    """
    map_path = out_file(out, district_out(district, None, ""), "risk_map.html")
    tables = map_path.parent if map_path == out else map_path.parent / "risk"  # --out FILE.html (older form)
    store = district_store(district, store)
    from gridmgmt.ops.district import has_own_grids, load_district
    from gridmgmt.ops.risk import run_risk

    d = load_district(district, store=store)
    date = day_or_first(date, d)
    plan_grids = current_grid_frame(grids, district, store)
    if plan_grids is None and not has_own_grids(d):
        console.print(
            f"note: no grids yet, so the map shows none: run `gridmgmt grids build --district {district}` first",
            highlight=False,
        )
    written = run_risk(
        d,
        date,
        tables,
        lang=lang,
        tiles=tiles,
        seed=seed,
        map_path=map_path,
        grids=plan_grids,
        store=store,
    ).written
    for path in written:
        console.print(f"wrote {path}", highlight=False)
