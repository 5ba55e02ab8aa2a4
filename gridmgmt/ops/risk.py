"""Risk operations: score a district, its hotspots and risk map, the hotspots of any point layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmgmt import io
from gridmgmt.config import load_settings
from gridmgmt.inputs.district import District
from gridmgmt.inputs.tables import load_boundary
from gridmgmt.maps import save_map
from gridmgmt.ops.runs import record_run
from gridmgmt.ops.streets import map_streets
from gridmgmt.risk.district_risk import risk_hotspots, risk_layer, score_risk, violation_points
from gridmgmt.risk.hotspots import HotspotResult, find_hotspots, points_from_table
from gridmgmt.risk.risk_map import risk_map

RISK_KIND = "risk"


def score(district: District, as_of: str, out_dir: str | Path, *, store: str | Path) -> tuple[pd.DataFrame, Path]:
    """``risk score``: every retailer 0-100 as of a day; writes risk.csv and a ``risk`` run (layer ``risk``).

    Returns the scores and the file written.
    """
    scores = score_risk(district, as_of)
    path = io.write_csv(scores, Path(out_dir) / "risk.csv")
    record_run(store, RISK_KIND, {"risk": risk_layer(district, scores)}, district=district,
               parameters={"as_of": as_of})  # fmt: skip
    return scores, path


@dataclass
class RiskRun:
    """What :func:`run_risk` wrote and computed."""

    written: list[Path]
    scores: pd.DataFrame
    hotspot_cells: gpd.GeoDataFrame


def run_risk(
    district: District,
    as_of: str,
    out_dir: str | Path,
    *,
    lang: str | None = None,
    tiles: str = "none",
    grids: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    map_path: str | Path | None = None,
    scores: pd.DataFrame | None = None,
    store: str | Path | None = None,
) -> RiskRun:
    """Score (unless ``scores`` are given), find hotspots and draw the risk map.

    Writes risk.csv, hotspots.geojson and the map (labelled in ``lang``, default the district's
    ``[district] lang``); with ``store``, a ``risk`` run (layers ``risk`` and ``hotspots``) in the shared store.
    """
    out = Path(out_dir)
    scores = scores if scores is not None else score_risk(district, as_of)
    hot = risk_hotspots(district, as_of, seed=seed)
    retailers = district.retailers
    if grids is not None and "grid_id" in grids and "assignment" in grids.attrs:
        retailers = retailers.drop(columns="grid_id", errors="ignore").merge(
            grids.attrs["assignment"], on="retailer_id"
        )
    m = risk_map(
        retailers,
        scores,
        as_of=as_of,
        boundary=district.boundary,
        hotspot_cells=hot.cells,
        violation_points=violation_points(district, as_of),
        grids=grids,
        weights=district.settings.risk_weights,
        lang=lang or district.settings.district.lang,
        tiles=tiles,
        streets=map_streets(district),
    )
    written = [
        io.write_csv(scores, out / "risk.csv"),
        io.write_vector(hot.cells, out / "hotspots.geojson"),
        save_map(m, Path(map_path) if map_path else out / "risk_map.html"),
    ]
    if store:
        record_run(
            store,
            RISK_KIND,
            {"risk": risk_layer(district, scores), "hotspots": hot.cells},
            district=district,
            parameters={"as_of": as_of, "seed": seed},
        )
    return RiskRun(written=written, scores=scores, hotspot_cells=hot.cells)


def point_hotspots(
    points: str | Path,
    out_path: str | Path,
    *,
    weight: str | None = None,
    lon: str = "lon",
    lat: str = "lat",
    district_path: str | Path | None = None,
    seed: int = 0,
) -> HotspotResult:
    """``risk hotspots``: Gi* hotspots and the KDE peak of any point layer, within the district's boundary
    when given; writes the cells (``out_path``) and their scale and KDE peak beside them (``.json``)."""
    boundary = load_boundary(load_settings(district_path).path("boundary")) if district_path is not None else None
    frame = points_from_table(io.read_table(points), lon=lon, lat=lat, weight=weight, file=str(points))
    result = find_hotspots(frame, weight=weight, boundary=boundary, seed=seed, source=str(points))
    out = Path(out_path)
    io.write_vector(result.cells, out)
    io.write_json(
        {"kde_peak": result.kde_peak, "scale_info": result.scale_info, "notes": result.notes},
        out.with_suffix(".json"),
    )
    return result
