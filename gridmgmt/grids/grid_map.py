"""The folium grid map: coloured grids with numbers and popups, retailers, subdistricts (offline, escaped, zh/en),
and the shops a grid's pair cannot reach (the build's ``unreachable.csv``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridmgmt.coords import WGS84
from gridmgmt.grids.report import grid_report

if TYPE_CHECKING:
    import folium

    from gridmgmt.grids.plan import GridPlan
    from gridmgmt.inputs.district import District

#: Distinct fill colours (Tableau 20, reordered so neighbours in numbering differ strongly).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

_LABELS = {
    "grid_map_title": {"zh": "服务网格", "en": "Service grids"},
    "workload_h": {"zh": "月工作量（小时）", "en": "Workload (h/month)"},
    "service_h": {"zh": "其中服务（小时）", "en": "of which service (h)"},
    "travel_h": {"zh": "其中路途（小时）", "en": "of which travel (h)"},
    "area_km2": {"zh": "面积（平方公里）", "en": "Area (km²)"},
    "density_per_km2": {"zh": "密度（户/平方公里）", "en": "Density (per km²)"},
    "polsby_popper": {"zh": "紧凑度", "en": "Compactness (Polsby-Popper)"},
    "customer_manager": {"zh": "客户经理", "en": "Customer manager"},
    "monopoly_officer": {"zh": "专卖管理员", "en": "Monopoly officer"},
    "old_town_share": {"zh": "老城区占比", "en": "Old-town share"},
    "subdistricts": {"zh": "街道边界", "en": "Subdistricts"},
    "grid_labels": {"zh": "网格编号", "en": "Grid numbers"},
    "workload_vs_mean": {"zh": "相对平均", "en": "vs mean"},
    "pair_depot": {"zh": "出发站点", "en": "Depot"},
    "pair_travel_mode": {"zh": "交通方式", "en": "Travel mode"},
    "pair_mode.walk": {"zh": "步行", "en": "walk"},
    "pair_mode.ebike": {"zh": "电动车", "en": "e-bike"},
    "pair_mode.car": {"zh": "汽车", "en": "car"},
    "unreachable_shops": {"zh": "无法到达的零售户", "en": "Unreachable shops"},
    "unreachable_mode": {"zh": "无法到达的交通方式", "en": "Not reachable by"},
    "unreachable_reason": {"zh": "原因", "en": "Why"},
    "unreachable_count": {"zh": "网格搭档无法到达：{n} 户（见 unreachable.csv）",
                          "en": "Their grid's pair cannot reach them: {n} (see unreachable.csv)"},
}  # fmt: skip
#: Marker colour of the shops a grid's pair cannot reach.
UNREACHABLE_COLOUR = "#d62728"


def _register() -> None:
    from gridmgmt.maps import register_labels

    register_labels(_LABELS)


def grid_colors(k: int) -> list[str]:
    """``k`` distinct colours (cycling the palette beyond 20)."""
    return [PALETTE[i % len(PALETTE)] for i in range(k)]


def grid_map(
    plan: GridPlan,
    district: District,
    *,
    lang: str = "zh",
    tiles: str = "none",
    show_retailers: bool = True,
    streets: Mapping[str, Mapping[str, Any]] | None = None,
) -> folium.Map:
    """A folium map of the grids: coloured polygons with numbers, popups, retailers, subdistricts.

    Parameters
    ----------
    plan : GridPlan
    district : District
        For the retailer points and the subdistrict boundaries.
    lang : {"zh", "en"}
        Language of every label.
    tiles : {"none", "osm", "amap"}
        Base map; ``"none"`` makes a file that opens offline.
    show_retailers : bool, default True
        Add the retailers as clustered points coloured by grid.
    streets : dict, optional
        The district's street layer (:func:`gridmgmt.maps.street_bands`), drawn under the grids,
        so the map shows the grid boundaries following the streets without any tile server.

    The shops the build's routed check found their grid's pair cannot reach (``plan.unreachable``,
    read from ``unreachable.csv`` beside ``grids.gpkg``) are a layer of their own: red markers
    with the shop, the mode and why on hover and click, and a legend line with their count.

    Returns
    -------
    folium.Map
        Save it with :func:`gridmgmt.maps.save_map` (offline, escaped).
    """
    import folium

    from gridmgmt import maps

    _register()
    t = maps.label
    grids = plan.grids.to_crs(WGS84)
    report = grid_report(plan).set_index("grid_id")
    colours = dict(zip(report.index, grid_colors(len(report)), strict=True))
    b = grids.total_bounds
    m = maps.new_map(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), zoom=12, tiles=tiles, lang=lang,
                     title=t("grid_map_title", lang))  # fmt: skip
    maps.fit_to(m, [b[0], b[2]], [b[1], b[3]])
    if streets:
        maps.add_streets(m, streets)

    frame = grids[["grid_id", "geometry"]].copy()
    rep = report.loc[frame["grid_id"].to_numpy()]
    frame["grid"] = [f"{t('grid', lang)} {g}" for g in frame["grid_id"]]
    for col in ("retailers", "workload_h", "service_h", "travel_h", "area_km2", "density_per_km2", "polsby_popper"):
        frame[col] = rep[col].to_numpy()
    frame["old_town_share"] = [f"{v:.0%}" if np.isfinite(v) else "" for v in rep["old_town_share"]]
    for col in ("customer_manager", "monopoly_officer"):
        frame[col] = [f"{a} {b}".strip() for a, b in zip(rep[col], rep[col + "_name"], strict=True)]
    depot_names = dict(zip(district.depots["depot_id"].astype(str), district.depots["name"].astype(str), strict=False))
    frame["depot"] = [f"{d} {depot_names.get(d, '')}".strip() for d in rep["depot"]]
    modes = ("walk", "ebike", "car")
    frame["travel_mode"] = [t(f"pair_mode.{m}", lang) if m in modes else m for m in rep["travel_mode"]]
    frame["colour"] = [colours[g] for g in frame["grid_id"]]
    popup = {
        "grid": t("grid", lang), "retailers": t("retailers", lang), "workload_h": t("workload_h", lang),
        "service_h": t("service_h", lang), "travel_h": t("travel_h", lang), "area_km2": t("area_km2", lang),
        "density_per_km2": t("density_per_km2", lang), "polsby_popper": t("polsby_popper", lang),
        "customer_manager": t("customer_manager", lang), "monopoly_officer": t("monopoly_officer", lang),
        "depot": t("pair_depot", lang), "travel_mode": t("pair_travel_mode", lang),
        "old_town_share": t("old_town_share", lang),
    }  # fmt: skip

    def style(feature: dict) -> dict:
        return {"fillColor": maps.check_color(feature["properties"]["colour"]), "color": "#333333",
                "weight": 2, "fillOpacity": 0.35}  # fmt: skip

    layer = maps.add_geojson(m, frame, name=t("grids", lang), tooltip_fields={"grid": t("grid", lang)},
                             popup_fields=popup, style=style, keep_columns=["colour"])  # fmt: skip

    # grid numbers at a point inside each grid (the centroid when it lies inside)
    labels = folium.FeatureGroup(name=maps.esc(t("grid_labels", lang)), show=True)
    metric = plan.grids.to_crs(district.crs)
    for gid, geom in zip(metric["grid_id"], metric.geometry, strict=True):
        c = geom.centroid
        p = c if geom.contains(c) else geom.representative_point()
        lon, lat = _to_wgs(district, p.x, p.y)
        mlon, mlat = maps.to_map_lonlat(m, [lon], [lat])
        html = (f'<div style="font:bold 14px sans-serif;color:#111;text-shadow:0 0 3px #fff,0 0 3px #fff;'
                f'transform:translate(-50%,-50%);white-space:nowrap">{int(gid)}</div>')  # fmt: skip
        folium.Marker([float(mlat[0]), float(mlon[0])], icon=folium.DivIcon(html=html, icon_size=(0, 0))).add_to(labels)
    labels.add_to(m)

    if district.subdistricts is not None and len(district.subdistricts):
        subs = district.subdistricts.copy()
        name_col = "name_zh" if lang == "zh" and "name_zh" in subs else ("name_en" if "name_en" in subs else None)
        tips = {name_col: t("subdistrict", lang)} if name_col else None
        maps.add_geojson(m, subs, name=t("subdistricts", lang), tooltip_fields=tips,
                         style={"color": "#555555", "weight": 1.5, "dashArray": "6 4", "fill": False},
                         show=False)  # fmt: skip

    if show_retailers:
        r = district.retailers
        pts = pd.DataFrame(
            {"lon": r.geometry.x.to_numpy(), "lat": r.geometry.y.to_numpy(),
             "retailer_id": r["retailer_id"].astype(str).to_numpy(), "name": r["name"].astype(str).to_numpy(),
             "address": r["address"].astype(str).to_numpy() if "address" in r else ""}
        )  # fmt: skip
        gid = plan.assignment.set_index("retailer_id")["grid_id"].reindex(pts["retailer_id"]).to_numpy()
        pts["grid_id"] = pd.array(gid, dtype="Int64")
        pts["colour"] = [colours.get(g, "#999999") if pd.notna(g) else "#999999" for g in pts["grid_id"]]
        maps.add_points(m, pts, name=t("retailers", lang), popup_title="name",
                        popup_fields={"retailer_id": t("retailer_id", lang), "address": t("address", lang),
                                      "grid_id": t("grid_id", lang)},
                        tooltip="name", color_column="colour", radius_px=4)  # fmt: skip

    lost = _unreachable_points(plan, district, lang)
    if len(lost):
        maps.add_points(m, lost, name=t("unreachable_shops", lang), popup_title="name",
                        popup_fields={"retailer_id": t("retailer_id", lang), "grid_id": t("grid_id", lang),
                                      "mode": t("unreachable_mode", lang), "reason": t("unreachable_reason", lang)},
                        tooltip="tooltip", color=UNREACHABLE_COLOUR, stroke="#000000", radius_px=7,
                        cluster=False)  # fmt: skip

    items = [(f"{t('grid', lang)} {g}", colours[g]) for g in report.index]
    maps.add_legend(m, t("grids", lang), items, shape="square")
    if len(lost):
        text = t("unreachable_count", lang).format(n=len(lost))
        maps.add_legend(m, t("unreachable_shops", lang), [(text, UNREACHABLE_COLOUR)], shape="circle")
    maps.add_layer_control(m)
    _ = layer
    return m


def _unreachable_points(plan: GridPlan, district: District, lang: str) -> pd.DataFrame:
    """The shops of ``plan.unreachable`` (the build's routed check) with the district's positions and names.

    Columns lon, lat, retailer_id, name, grid_id, mode (as labelled), reason and tooltip (shop, mode
    and reason); empty when the plan was not checked or every shop is reachable. Shops no longer
    among the district's retailers are left out.
    """
    from gridmgmt import maps

    columns = ["lon", "lat", "retailer_id", "name", "grid_id", "mode", "reason", "tooltip"]
    if plan.unreachable is None or not len(plan.unreachable):
        return pd.DataFrame(columns=columns)
    lost = plan.unreachable.copy()
    lost["retailer_id"] = lost["retailer_id"].astype(str)
    r = district.retailers
    where = pd.DataFrame({"retailer_id": r["retailer_id"].astype(str).to_numpy(), "lon": r.geometry.x.to_numpy(),
                          "lat": r.geometry.y.to_numpy(), "name": r["name"].astype(str).to_numpy()})  # fmt: skip
    lost = lost.merge(where.drop_duplicates("retailer_id"), on="retailer_id", how="inner")
    known = ("walk", "ebike", "car")
    lost["mode"] = [maps.label(f"pair_mode.{m}", lang) if m in known else str(m) for m in lost["mode"]]
    lost["grid_id"] = lost["grid_id"].astype(str) if "grid_id" in lost else ""
    lost["reason"] = lost["reason"].astype(str)
    lost["tooltip"] = [f"{i} {n}: {m} – {why}" for i, n, m, why in
                       zip(lost["retailer_id"], lost["name"], lost["mode"], lost["reason"], strict=True)]  # fmt: skip
    return lost[columns]


def _to_wgs(district: District, x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    tr = Transformer.from_crs(district.crs, WGS84, always_xy=True)
    lon, lat = tr.transform(x, y)
    return float(lon), float(lat)
