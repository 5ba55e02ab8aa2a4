"""The managers' risk map: scores, heat, Gi* hotspots and grids in one offline HTML page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gridmgmt import maps
from gridmgmt.config import RiskWeights
from gridmgmt.coords import WGS84, metric_crs
from gridmgmt.risk.scores import NO_HISTORY_REASON, risk_levels

LEVEL_COLORS = {"high": "#d7301f", "medium": "#fc8d59", "low": "#91bfdb"}
NO_RETAILERS_COLOR = "#999999"  # a grid without scored retailers
HOTSPOT_COLORS = {
    "hot_99": "#b2182b",
    "hot_95": "#ef8a62",
    "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0",
    "cold_95": "#67a9cf",
    "cold_99": "#2166ac",
}
maps.register_labels(
    {
        "risk_map_title": {"zh": "零售户风险地图", "en": "Retailer risk map"},
        "as_of": {"zh": "截至", "en": "as of"},
        "top_reasons": {"zh": "主要原因", "en": "Top reasons"},
        "last_inspection": {"zh": "最近检查", "en": "Last inspection"},
        "violation_heat": {"zh": "近一年违规热力", "en": "Violations, last 12 months (heat)"},
        "gi_hotspots": {"zh": "Gi* 热点(FDR校正)", "en": "Gi* hotspots (FDR-corrected)"},
        "grid_mean_risk": {"zh": "网格平均风险", "en": "Grid mean risk"},
        "grid_level": {"zh": "平均分所属等级", "en": "Level of the mean"},
        "no_history_note": {
            "zh": "尚无历史记录：风险分仅按静态信息（档位、学校）计算",
            "en": "No history yet: risk scores use static evidence only (credit class, schools)",
        },
        "mean_risk": {"zh": "平均风险分", "en": "Mean risk score"},
        "hot_99": {"zh": "热点 99%", "en": "Hot spot 99%"},
        "hot_95": {"zh": "热点 95%", "en": "Hot spot 95%"},
        "hot_90": {"zh": "热点 90%", "en": "Hot spot 90%"},
        "cold_90": {"zh": "冷点 90%", "en": "Cold spot 90%"},
        "cold_95": {"zh": "冷点 95%", "en": "Cold spot 95%"},
        "cold_99": {"zh": "冷点 99%", "en": "Cold spot 99%"},
        "gi_z": {"zh": "Gi* z 值", "en": "Gi* z-score"},
        "p_fdr": {"zh": "FDR校正p值", "en": "FDR-adjusted p"},
        "hotspot_class": {"zh": "类别", "en": "Class"},
        "violations": {"zh": "违规数", "en": "Violations"},
    }
)


def risk_map(
    retailers: gpd.GeoDataFrame,
    scores: pd.DataFrame,
    *,
    as_of: str,
    boundary: gpd.GeoDataFrame,
    hotspot_cells: gpd.GeoDataFrame | None = None,
    violation_points: pd.DataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    weights: RiskWeights | None = None,
    lang: str = "zh",
    tiles: str = "none",
    streets: Mapping[str, Mapping[str, Any]] | None = None,
) -> folium.Map:
    """Build the risk map (not yet saved; see :func:`gridmgmt.maps.save_map`).

    Layers: violation heat, Gi* hexes by class, grids by mean risk, retailers clustered and
    coloured by level with popups (name, class, score, top reasons, last inspection).

    A grid is drawn in the colour of the level its retailers' mean score has on the retailers'
    own absolute scale (``weights.medium_min_score``, ``weights.high_min_score``; default the
    :class:`gridmgmt.config.RiskWeights` defaults), so a district of low-risk shops shows low-risk
    grids. When the scores say there is no history yet, a note on the map says so. ``streets``, the
    district's street layer (:func:`gridmgmt.maps.street_bands`), is drawn under everything, offline.
    """
    table = retailers.drop(columns="geometry").merge(scores, on="retailer_id", how="left")
    reason = f"reason_1_{lang}"
    table["reasons"] = (
        table[[f"reason_{i}_{lang}" for i in (1, 2, 3)]].apply(lambda r: "; ".join(x for x in r if x), axis=1)
        if reason in table
        else ""
    )
    table["level_label"] = table["level"].map(lambda v: maps.label(v, lang))
    table["color"] = table["level"].map(LEVEL_COLORS)
    table["last_inspection"] = pd.to_datetime(table["last_inspection"]).dt.strftime("%Y-%m-%d").fillna("-")
    centre = boundary.to_crs(metric_crs(boundary)).union_all().centroid
    centre_wgs = gpd.GeoSeries([centre], crs=metric_crs(boundary)).to_crs(WGS84).iloc[0]
    title = f"{maps.label('risk_map_title', lang)} · {maps.label('as_of', lang)} {as_of}"
    m = maps.new_map((centre_wgs.x, centre_wgs.y), zoom=13, tiles=tiles, lang=lang, title=title)
    b = boundary.to_crs(WGS84).total_bounds
    maps.fit_to(m, [b[0], b[2], *retailers["lon"]], [b[1], b[3], *retailers["lat"]])
    if streets:
        maps.add_streets(m, streets)
    maps.add_geojson(
        m,
        boundary,
        name=maps.label("boundary", lang),
        style={"color": "#444", "weight": 2, "fill": False},
        control=False,
    )
    if violation_points is not None and len(violation_points):
        maps.add_heat(m, violation_points["lon"], violation_points["lat"], name=maps.label("violation_heat", lang))
    cells = None if hotspot_cells is None else hotspot_cells.loc[hotspot_cells["hotspot_class"] != "not_significant"]
    if cells is not None and len(cells):  # no significant cell: no hotspot layer (folium needs rows to style)
        cells = cells.copy()
        cells["class_label"] = cells["hotspot_class"].map(lambda c: maps.label(c, lang))
        cells["fill"] = cells["hotspot_class"].map(HOTSPOT_COLORS)
        cells["gi_z"] = cells["gi_z"].round(2)
        cells["p_fdr"] = cells["p_fdr"].map(lambda p: f"{p:.3g}")
        maps.add_geojson(
            m,
            cells,
            name=maps.label("gi_hotspots", lang),
            tooltip_fields={
                "class_label": maps.label("hotspot_class", lang),
                "count": maps.label("violations", lang),
                "gi_z": maps.label("gi_z", lang),
                "p_fdr": maps.label("p_fdr", lang),
            },
            keep_columns=["fill"],
            style=lambda f: {
                "color": f["properties"]["fill"],
                "fillColor": f["properties"]["fill"],
                "weight": 1,
                "fillOpacity": 0.45,
            },
        )
        maps.add_legend(
            m,
            maps.label("gi_hotspots", lang),
            [(maps.label(k, lang), c) for k, c in HOTSPOT_COLORS.items()],
            position="bottomleft",
        )
    if grids is not None and len(grids):
        joined = table.dropna(subset=["grid_id"]) if "grid_id" in table else None
        g = grids.copy()
        if joined is not None and len(joined):
            mean = joined.groupby(joined["grid_id"].astype(int))["score"].mean()
            g["mean_risk"] = g["grid_id"].astype(int).map(mean).round(1)
        else:
            g["mean_risk"] = np.nan
        levels = risk_levels(g["mean_risk"], weights)
        g["stroke"] = levels.map(LEVEL_COLORS).fillna(NO_RETAILERS_COLOR)
        g["grid_level"] = levels.map(lambda v: maps.label(v, lang), na_action="ignore").fillna("-")
        g["grid_label"] = g["grid_id"].astype(str)
        maps.add_geojson(
            m,
            g,
            name=maps.label("grid_mean_risk", lang),
            tooltip_fields={
                "grid_label": maps.label("grid", lang),
                "mean_risk": maps.label("mean_risk", lang),
                "grid_level": maps.label("grid_level", lang),
            },
            keep_columns=["stroke"],
            style=lambda f: {"color": f["properties"]["stroke"], "weight": 3, "fillOpacity": 0.0},
        )
        w = weights or RiskWeights()
        medium, high = f"{w.medium_min_score:g}", f"{w.high_min_score:g}"
        scale = {"high": f"≥ {high}", "medium": f"{medium}–{high}", "low": f"< {medium}"}
        maps.add_legend(
            m,
            maps.label("grid_mean_risk", lang),
            [(f"{maps.label(k, lang)} ({scale[k]})", c) for k, c in LEVEL_COLORS.items()],
            shape="line",
        )
    fields = {
        "retailer_id": maps.label("retailer_id", lang),
        "customer_class": maps.label("customer_class", lang),
        "score": maps.label("risk_score", lang),
        "level_label": maps.label("risk_level", lang),
        "reasons": maps.label("top_reasons", lang),
        "last_inspection": maps.label("last_inspection", lang),
        "address": maps.label("address", lang),
    }
    maps.add_points(
        m,
        table,
        name=maps.label("retailers", lang),
        popup_fields=fields,
        popup_title="name",
        tooltip="name",
        color_column="color",
        radius_px=4,
    )
    maps.add_legend(
        m, maps.label("risk_level", lang), [(maps.label(k, lang), c) for k, c in LEVEL_COLORS.items()], shape="circle"
    )
    if _no_history(scores):
        maps.add_note(m, maps.label("no_history_note", lang))
    maps.add_layer_control(m)
    return m


def _no_history(scores: pd.DataFrame) -> bool:
    """Whether the scores say they were made without any history (the reason every retailer then carries)."""
    columns = [c for c in ("reason_1_en", "reason_2_en", "reason_3_en") if c in scores]
    return bool(scores[columns].eq(NO_HISTORY_REASON[1]).to_numpy().any())
