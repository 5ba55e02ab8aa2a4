"""province.html: one self-contained page over every district, with a province-wide Gi* hotspot map.

The table reads each district's outputs on disk (risk.csv, grids.gpkg, hotspots.geojson, the
responsibility tables); the map pools every district's last-year violations
(``<district>/risk/violations.csv``) into one Gi* analysis over the union of the district
boundaries, so a hotspot that straddles a district border shows as one.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmgmt import io, maps
from gridmgmt.config import load_settings
from gridmgmt.coords import WGS84
from gridmgmt.grids.plan import load_grids
from gridmgmt.inputs.tables import load_boundary
from gridmgmt.ops.province import STEPS, district_name
from gridmgmt.risk.hotspots import MIN_POINTS, HotspotResult, find_hotspots, points_from_table
from gridmgmt.risk.risk_map import HOTSPOT_COLORS

__all__ = ["district_summary", "province_hotspots", "write_province_overview"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_COLUMNS = {
    "district": "区县 District",
    "name": "名称 Name",
    "retailers": "零售户 Retailers",
    "grids": "网格 Grids",
    "balance": "工作量均衡 Balance (max/min)",
    "high_risk": "高风险 High risk",
    "hotspot_cells": "热点格 Hot cells (95%)",
    "tasks_overdue": "超期任务 Tasks overdue",
    "steps": "步骤 Steps",
}


def _read(path: Path, reader: Callable[[Path], T]) -> T | None:
    """``reader(path)``, or None when the file is missing or unreadable (a failed or skipped step)."""
    if not path.exists():
        return None
    try:
        return reader(path)
    except Exception as exc:  # one district's broken output must not hide the province's page
        log.warning("province overview: cannot read %s: %s", path, exc)
        return None


def district_summary(out_dir: str | Path, districts: Sequence[Path], status: pd.DataFrame) -> pd.DataFrame:
    """One row per district: retailers, grids and balance, high-risk retailers, hot cells, overdue tasks, steps."""
    out = Path(out_dir)
    rows = []
    for toml in districts:
        name = district_name(toml)
        d = out / name
        settings = _read(toml, load_settings)
        risk = _read(d / "risk" / "risk.csv", lambda p: pd.read_csv(p, usecols=["retailer_id", "level"]))
        grids = _read(d / "grids", load_grids)
        cells = _read(d / "risk" / "hotspots.geojson", io.read_layer)
        overdue = _read(d / "responsibility" / "overdue_tasks.csv", pd.read_csv)
        mine = status.loc[status["district"] == name].set_index("step")["status"]
        rows.append(
            {
                "district": name,
                "name": getattr(settings, "name", ""),
                "retailers": len(risk) if risk is not None else None,
                "grids": len(grids) if grids is not None else None,
                "balance": round(grids["workload_min"].max() / grids["workload_min"].min(), 3)
                if grids is not None
                else None,
                "high_risk": int((risk["level"] == "high").sum()) if risk is not None else None,
                "hotspot_cells": int(cells["hotspot_class"].isin(["hot_99", "hot_95"]).sum())
                if cells is not None and "hotspot_class" in cells
                else None,
                "tasks_overdue": len(overdue) if overdue is not None else None,
                "steps": " ".join(f"{s}:{mine[s]}" for s in STEPS if s in mine.index),
            }
        )
    return pd.DataFrame(rows)


def province_hotspots(
    out_dir: str | Path, districts: Sequence[Path], *, seed: int = 0
) -> tuple[HotspotResult, BaseGeometry | None]:
    """Gi* over every district's pooled violations, within the union of the district boundaries.

    Returns the hotspot result and the province outline (a shapely geometry in WGS-84, or None).
    """
    out = Path(out_dir)
    tables, outlines = [], []
    for toml in districts:
        table = _read(out / district_name(toml) / "risk" / "violations.csv", pd.read_csv)
        if table is not None and len(table):
            tables.append(table[["lon", "lat"]])
        settings = _read(toml, load_settings)
        boundary = _read(settings.path("boundary"), load_boundary) if settings is not None else None
        if boundary is not None:
            outlines.append(shapely.union_all(boundary.to_crs(WGS84).geometry.to_numpy()))
    outline = shapely.union_all(outlines) if outlines else None
    points = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame({"lon": [], "lat": []})
    if len(points) < MIN_POINTS:
        return HotspotResult.none_found(len(points), f"{len(points)} violations in the province"), outline
    frame = points_from_table(points, file="province violations")
    boundary = gpd.GeoSeries([outline], crs=WGS84) if outline is not None else None
    return find_hotspots(frame, boundary=boundary, seed=seed, source="province violations"), outline


def _province_map(result: HotspotResult, outline: BaseGeometry | None, districts: gpd.GeoDataFrame, lang: str) -> str:
    """The hotspot map as a self-contained HTML document (no request to any host)."""
    if outline is not None:
        c = shapely.centroid(outline)
        centre = (c.x, c.y)
    else:
        centre = (106.71, 26.58)
    m = maps.new_map(centre, zoom=9, lang=lang, title="province hotspots")
    if len(districts):
        maps.add_geojson(
            m,
            districts,
            name="区县 Districts",
            tooltip_fields={"district": "区县 District", "name": "名称 Name"},
            style={"color": "#444444", "weight": 1.5, "fillOpacity": 0.0},
        )
    cells = result.cells
    cells = cells.loc[cells["hotspot_class"] != "not_significant"].copy() if len(cells) else cells
    if len(cells):  # folium refuses tooltips on an empty layer
        cells["fill"] = cells["hotspot_class"].map(HOTSPOT_COLORS)
        maps.add_geojson(
            m,
            cells,
            name="Gi* 热点 hotspots (FDR)",
            tooltip_fields={"hotspot_class": "类别 Class", "count": "违规 Violations", "gi_z": "Gi* z"},
            style=lambda f: {
                "color": f["properties"]["fill"],
                "fillColor": f["properties"]["fill"],
                "weight": 0.5,
                "fillOpacity": 0.6,
            },
            keep_columns=["fill"],
        )
    if outline is not None:
        minx, miny, maxx, maxy = outline.bounds
        maps.fit_to(m, [minx, maxx], [miny, maxy])
    maps.add_layer_control(m)
    return maps.to_offline_html(m)


def write_province_overview(
    out_dir: str | Path, districts: Sequence[Path], status: pd.DataFrame, *, seed: int = 0, lang: str = "zh"
) -> Path:
    """Write ``out_dir/province.html``: the district table (links to each overview) and the hotspot map."""
    out = Path(out_dir)
    table = district_summary(out, districts, status)
    result, outline = province_hotspots(out, districts, seed=seed)
    tiles = []
    for toml, row in zip(districts, table.itertuples(index=False), strict=True):
        settings = _read(toml, load_settings)
        boundary = _read(settings.path("boundary"), load_boundary) if settings is not None else None
        if boundary is not None:
            tiles.append({"district": row.district, "name": row.name, "geometry": boundary.union_all()})
    tile_frame = gpd.GeoDataFrame(tiles, geometry="geometry", crs=WGS84) if tiles else gpd.GeoDataFrame()
    page = _page(out, table, result, _province_map(result, outline, tile_frame, lang), status)
    return io.write_text(page, out / "province.html")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return html.escape(str(value))


def _page(out: Path, table: pd.DataFrame, result: HotspotResult, map_html: str, status: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in _COLUMNS.values())
    body = []
    for row in table.to_dict("records"):
        cells = []
        for key in _COLUMNS:
            text = _cell(row[key])
            if key == "district" and (out / row["district"] / "overview.html").exists():
                text = f'<a href="{html.escape(row["district"])}/overview.html">{text}</a>'
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    failed = status.loc[status["status"] == "failed"]
    problems = "".join(
        f"<li>{html.escape(f'{r.district} {r.step}: {r.message}')}</li>" for r in failed.itertuples(index=False)
    )
    totals = {
        "districts": len(table),
        "retailers": int(pd.to_numeric(table["retailers"]).sum()) if len(table) else 0,
        "violations": result.n_points,
    }
    hot = result.summary() if len(result.cells) else {}
    summary = (
        f"{totals['districts']} 区县 districts · {totals['retailers']:,} 零售户 retailers · "
        f"{totals['violations']:,} 近一年违规 violations in the last year · "
        f"Gi* {hot.get('hot_99', 0) + hot.get('hot_95', 0)} 热点格 hot cells (95%+)"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8">
<title>全省概览 Province overview</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }}
td:nth-child(1), td:nth-child(2), td:nth-child(9) {{ text-align: left; }}
iframe {{ width: 100%; height: 640px; border: 1px solid #ccc; }}
.failed {{ color: #b00; }}
</style></head><body>
<h1>全省概览 Province overview</h1>
<p>{html.escape(summary)}</p>
{f'<h2 class="failed">失败 Failed</h2><ul class="failed">{problems}</ul>' if problems else ""}
<h2>区县 Districts</h2>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<h2>全省热点 Province-wide hotspots (Gi*, all districts' violations pooled)</h2>
<iframe title="province hotspots" srcdoc="{html.escape(map_html, quote=True)}"></iframe>
<ul>{notes}</ul>
</body></html>
"""
