"""Wires inputs -> grids -> risk -> patrol -> outputs; used by the CLI and the notebooks."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
from rich.console import Console

from gridmgmt import io
from gridmgmt.district import District, load_district
from gridmgmt.store import Store

log = logging.getLogger(__name__)


def run_demo(
    district_path: str | Path, out_dir: str | Path, *, seed: int = 0, console: Console | None = None
) -> list[Path]:
    """Run every capability on one district and write its outputs into ``out_dir``.

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
    step(
        f"{district.settings.name}: {len(district.retailers)} retailers, {len(district.events)} events, "
        f"{len(district.staff)} staff"
    )
    step("loading the road network")
    graph = district.graph
    step(f"road network: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")

    store = Store(out / "store.gpkg")
    store.write({"retailers": district.retailers, "boundary": district.boundary})
    written.append(store.path)
    written.append(io.write_csv(_inputs_summary(district), out / "inputs_summary.csv"))
    step("inputs stored")
    return written


def _inputs_summary(district: District) -> pd.DataFrame:
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
