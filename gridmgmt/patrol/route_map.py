"""The patrol route map: grid boundaries, each squad's route along the streets, its numbered stops, unplanned visits.

Offline folium map built with :mod:`gridmgmt.maps` (every text escaped, no external request
with the default ``tiles="none"``). The only module of :mod:`gridmgmt.patrol` that imports
folium: the planner and the solver never load it, and :func:`gridmgmt.patrol.sheets.write_plan`
imports this module only when it renders the map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import folium
import pandas as pd

from gridmgmt.maps import (
    add_geojson,
    add_layer_control,
    add_legend,
    add_points,
    add_streets,
    esc,
    fit_to,
    label,
    new_map,
    register_labels,
)

#: One colour per squad, cycled (Tableau 20, dark half first: readable on white).
SQUAD_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
)  # fmt: skip

register_labels(
    {
        "patrol_title": {"zh": "联合巡查路线", "en": "Joint patrol routes"},
        "squad": {"zh": "小组", "en": "Squad"},
        "route": {"zh": "路线", "en": "Route"},
        "stops": {"zh": "走访点", "en": "Stops"},
        "seq": {"zh": "顺序", "en": "Order"},
        "arrival": {"zh": "到达", "en": "Arrive"},
        "departure": {"zh": "离开", "en": "Leave"},
        "purpose": {"zh": "事由", "en": "Purpose"},
        "retailer": {"zh": "零售户", "en": "Retailer"},
        "licence": {"zh": "许可证号", "en": "Licence no."},
        "address": {"zh": "地址", "en": "Address"},
        "checklist": {"zh": "检查要点", "en": "What to check"},
        "unplanned": {"zh": "未安排", "en": "Not planned"},
        "reason": {"zh": "原因", "en": "Reason"},
        "visits": {"zh": "走访数", "en": "Visits"},
        "travel_mode": {"zh": "交通方式", "en": "Travel mode"},
        "depots": {"zh": "站点", "en": "Depots"},
        "grid_bounds": {"zh": "网格边界", "en": "Grid boundaries"},
        "grid": {"zh": "网格", "en": "Grid"},
        "cross_grid": {"zh": "跨网格原因", "en": "Outside own grid"},
    }
)

#: Grid boundaries: thin dark outlines with a faint fill, drawn under the routes.
GRID_STYLE = {"color": "#444444", "weight": 1.5, "opacity": 0.7, "dashArray": "4 3", "fillOpacity": 0.04}


def patrol_map(
    plan: Any,
    depots: pd.DataFrame,
    *,
    lang: str = "zh",
    tiles: str = "none",
    streets: Mapping[str, Mapping[str, Any]] | None = None,
) -> folium.Map:
    """Draw a :class:`gridmgmt.patrol.plan.PatrolPlan` as a folium map.

    Parameters
    ----------
    plan : PatrolPlan
        The day's plan (stops, routes, unplanned; ``grids``, when set, are drawn under the routes).
    depots : DataFrame
        ``depot_id``, ``name``, ``lon``, ``lat`` (WGS-84 degrees).
    lang : str
        ``"zh"`` or ``"en"``.
    tiles : str
        Background (see :func:`gridmgmt.maps.new_map`); ``"none"`` works offline.
    streets : dict, optional
        The district's street layer (:func:`gridmgmt.maps.street_bands`), drawn under everything.

    Returns
    -------
    folium.Map
    """
    stops = plan.stops
    points = stops if len(stops) else depots
    center = (float(points["lon"].mean()), float(points["lat"].mean()))
    m = new_map(center, zoom=13, tiles=tiles, lang=lang, title=f"{label('patrol_title', lang)} {plan.date}")
    fit_to(m, [*points["lon"], *depots["lon"]], [*points["lat"], *depots["lat"]])
    if streets:
        add_streets(m, streets)
    squads = sorted(set(stops["squad_id"])) if len(stops) else []
    colors = {s: SQUAD_COLORS[i % len(SQUAD_COLORS)] for i, s in enumerate(squads)}
    checklist = "checklist_zh" if lang == "zh" else "checklist_en"
    grids = getattr(plan, "grids", None)
    if grids is not None and len(grids):  # first, so the routes and stops lie on top
        add_geojson(
            m,
            grids.assign(grid_label=grids["grid_id"].astype(str)),
            name=label("grid_bounds", lang),
            tooltip_fields={"grid_label": label("grid", lang)},
            style=GRID_STYLE,
        )
    for squad in squads:
        group = folium.FeatureGroup(name=esc(f"{label('squad', lang)} {squad}"), show=True)
        group.add_to(m)
        routes = plan.routes.loc[plan.routes["squad_id"] == squad] if len(plan.routes) else plan.routes
        if len(routes):
            add_geojson(
                m,
                routes,
                name=f"{label('route', lang)} {squad}",
                tooltip_fields={"squad_id": label("squad", lang), "visits": label("visits", lang)},
                style={"color": colors[squad], "weight": 4, "opacity": 0.8},
                parent=group,
                control=False,
            )
        mine = stops.loc[stops["squad_id"] == squad].assign(
            label=lambda f: f["squad_id"] + " #" + f["seq"].astype(str) + " " + f["name"].astype(str)
        )
        add_points(
            m,
            mine,
            name=f"{label('stops', lang)} {squad}",
            popup_title="label",
            tooltip="label",
            popup_fields={
                "retailer_id": label("licence", lang),
                "address": label("address", lang),
                "arrival": label("arrival", lang),
                "departure": label("departure", lang),
                "purpose": label("purpose", lang),
                "cross_grid_reason": label("cross_grid", lang),
                checklist: label("checklist", lang),
            },
            color=colors[squad],
            radius_px=7,
            cluster=False,
            parent=group,
            control=False,
        )
    unplanned = plan.unplanned.merge(
        plan.candidates[["retailer_id", "lon", "lat"]], on="retailer_id", how="left"
    ).dropna(subset=["lon", "lat"])
    if len(unplanned):
        add_points(
            m,
            unplanned.assign(mandatory=unplanned["mandatory"].astype(bool).astype(str)),
            name=label("unplanned", lang),
            popup_title="name",
            tooltip="name",
            popup_fields={
                "retailer_id": label("licence", lang),
                "purpose": label("purpose", lang),
                "reason": label("reason", lang),
            },
            color="#999999",
            radius_px=4,
            cluster=True,
            show=False,
        )
    add_points(
        m,
        depots,
        name=label("depots", lang),
        popup_title="name",
        tooltip="name",
        popup_fields={"depot_id": "ID"},
        color="#000000",
        radius_px=9,
        cluster=False,
    )
    if squads:
        add_legend(m, label("squad", lang), [(s, colors[s]) for s in squads], shape="line")
    add_layer_control(m)
    return m
