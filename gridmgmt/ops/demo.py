"""``gridmgmt demo``: every operation on one district, in order, and the synthetic demo data."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rich.console import Console

from gridmgmt import io
from gridmgmt.demo import generate_demo
from gridmgmt.demo.province import generate_province
from gridmgmt.inputs.district import District
from gridmgmt.loop.district_loop import responsibility
from gridmgmt.ops.district import first_planning_day, load_district
from gridmgmt.ops.grids import run_grids
from gridmgmt.ops.loop import write_overview, write_responsibility
from gridmgmt.ops.patrol import plan_patrol
from gridmgmt.ops.risk import run_risk
from gridmgmt.risk.district_risk import score_risk
from gridmgmt.store import open_store

__all__ = ["generate_demo", "generate_province", "run_demo"]


def run_demo(
    district_path: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    console: Console | None = None,
    patrol_time_limit_s: float = 12.0,
    lang: str | None = None,
) -> list[Path]:
    """Run every capability on one district and write its outputs into ``out_dir``.

    Maps, sheets and the overview are labelled in ``lang`` (default the district's ``[district] lang``).
    Returns the paths written, in order.
    """
    console = console or Console(stderr=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    started = time.perf_counter()

    def step(text: str) -> None:
        console.print(f"[cyan]{time.perf_counter() - started:6.1f}s[/cyan] {text}", highlight=False)

    step("loading and validating the district")
    district = load_district(district_path)
    lang = lang or district.settings.district.lang
    step(
        f"{district.settings.name}: {len(district.retailers)} retailers, {len(district.events)} events, "
        f"{len(district.staff)} staff"
    )
    step("loading the road network")
    graph = district.graph
    step(f"road network: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")

    store = out / "store.sqlite"
    with open_store(store, create=True) as shared:
        if not shared.is_initialised():
            step("loading the inputs and the event log into the shared store (once)")
            shared.init_district(district, events_source=str(district.settings.path("events")))
    written.append(store)
    written.append(io.write_csv(inputs_summary(district), out / "inputs_summary.csv"))
    step("inputs stored")

    as_of = first_planning_day(district)
    step(f"risk scores as of {as_of}")
    scores = score_risk(district, as_of)
    step("balanced service grids (workload from risk levels and the road network)")
    grids = run_grids(
        district,
        out / "grids",
        seed=seed,
        risk=scores,
        map_path=out / "grid_map.html",
        lang=lang,
        store=store,
        valid_from=as_of,
    )
    written += grids.attrs["written"]
    step(f"{len(grids)} grids, max/min workload {grids['workload_min'].max() / grids['workload_min'].min():.3f}")

    step("hotspots and the risk map")
    risk = run_risk(
        district,
        as_of,
        out / "risk",
        lang=lang,
        seed=seed,
        map_path=out / "risk_map.html",
        grids=grids,
        scores=scores,
        store=store,
    )
    written += risk.written

    step(f"joint patrol routes for {as_of} (OR-Tools)")
    plan, paths = plan_patrol(
        district,
        as_of,
        out / "patrol",
        grids=grids,
        risk=scores,
        lang=lang,
        seed=seed,
        time_limit_s=patrol_time_limit_s,
        store=store,
        progress=lambda text: step(f"  {text}"),
    )
    written += paths
    step(
        f"{len(plan.stops)} visits planned for {plan.summary.shape[0]} squads, {len(plan.unplanned)} left for "
        "later days"
    )

    step("responsibility report and the managers' overview")
    report = responsibility(district, as_of=as_of, risk=scores, grids=grids)
    written += write_responsibility(report, out / "responsibility")
    written.append(
        write_overview(
            district,
            out / "overview.html",
            as_of=as_of,
            risk=scores,
            grids=grids,
            hotspot_cells=risk.hotspot_cells,
            report=report,
            links={"risk_map": "risk_map.html", "grid_map": "grid_map.html"},
            lang=lang,
        )
    )
    step("every current layer of the store as one GeoPackage (for QGIS/ArcGIS)")
    with open_store(store) as shared:
        written.append(shared.export(out / "store.gpkg")[0])
    step("done")
    return written


def inputs_summary(district: District) -> pd.DataFrame:
    """One row per subdistrict: retailers and density (per km2)."""
    retailers = district.retailers
    if district.subdistricts is None or "subdistrict" not in retailers:
        return pd.DataFrame({"retailers": [len(retailers)]})
    areas = district.subdistricts.to_crs(district.crs)
    areas = gpd.GeoDataFrame({"subdistrict": areas["name_zh"], "area_km2": areas.area / 1e6})
    counts = retailers.groupby("subdistrict").size().rename("retailers").reset_index()
    table = areas.merge(counts, on="subdistrict", how="left").fillna({"retailers": 0})
    table["retailers_per_km2"] = (table["retailers"] / table["area_km2"]).round(1)
    table["area_km2"] = table["area_km2"].round(3)
    return pd.DataFrame(table)
