"""Shared machinery of every gridmgmt map: offline, escaped, light folium HTML.

Domain maps (grids, risk, routes, overview) build on four ideas kept here:

* **Offline.** :func:`to_offline_html` renders a folium map and replaces every CDN
  ``<script src>``/``<link href>`` by the vendored file's content (see :mod:`gridmgmt.maps.offline_assets`),
  drops what our maps never use (Bootstrap, Font Awesome, awesome-markers) and fails loudly
  when any external reference remains. Tile URL templates are the only exception, and only
  when a map asks for tiles (``tiles="osm"`` or ``"amap"``); the default ``tiles="none"``
  makes a file that opens anywhere, with no request to any host.
* **Escaped.** folium inserts popup HTML, tooltip text, GeoJSON tooltip values and layer
  names into the page raw (some inside JavaScript template literals), so a shop named
  ``<img src=x onerror=...>`` or ``${...}`` would run script. Every text a person typed goes
  through :func:`esc`; the helpers here do it for you.
* **Light.** :func:`add_points` ships thousands of points as one compact JSON array
  (coordinates rounded to :data:`COORD_DECIMALS`, popup values without repeated labels) and
  builds circle markers, popups and tooltips in the browser, inside one MarkerCluster group.
* **One coordinate system per map.** Data is WGS-84; Amap tiles are GCJ-02, so a map with
  ``tiles="amap"`` shifts every coordinate the helpers add (:func:`to_map_lonlat`,
  :func:`to_map_geometry`). Code that adds folium objects directly must call them too.

Labels a person reads come in Chinese and English: :func:`label` with :data:`LABELS`, which
domain modules extend with :func:`register_labels`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import folium
import folium.plugins
import numpy as np
import pandas as pd
from folium.elements import JSCSSMixin
from folium.template import Template

from gridmgmt._errors import GridMgmtError
from gridmgmt.maps.offline_assets import FETCH_COMMAND, load_assets

logger = logging.getLogger(__name__)

COORD_DECIMALS = 6  # 1e-6 degree is about 0.1 m: far below what a map shows
LANGS = ("zh", "en")
TILES = ("none", "osm", "amap")
DEFAULT_MAX_ZOOM = 19  # MarkerCluster needs a finite maxZoom even without a tile layer

# Tile providers. Amap serves GCJ-02 tiles: data must be shifted (see to_map_lonlat).
_TILE_PROVIDERS: dict[str, dict[str, Any]] = {
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attr": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        "allowed": ("https://tile.openstreetmap.org/", "https://www.openstreetmap.org/copyright"),
        "subdomains": "abc",
        "crs": "wgs84",
    },
    "amap": {
        "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang={lang}&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "attr": "&copy; 高德地图 AutoNavi",
        "allowed": ("https://webrd0{s}.is.autonavi.com/",),
        "subdomains": "1234",
        "crs": "gcj02",
    },
}

# ----------------------------------------------------------------------------- labels

LABELS: dict[str, dict[str, str]] = {
    "retailers": {"zh": "零售户", "en": "Retailers"},
    "retailer": {"zh": "零售户", "en": "Retailer"},
    "retailer_id": {"zh": "许可证号", "en": "Licence no."},
    "name": {"zh": "名称", "en": "Name"},
    "address": {"zh": "地址", "en": "Address"},
    "business_type": {"zh": "业态", "en": "Business type"},
    "customer_class": {"zh": "客户档位", "en": "Customer class"},
    "subdistrict": {"zh": "街道", "en": "Subdistrict"},
    "grid": {"zh": "网格", "en": "Grid"},
    "grids": {"zh": "网格", "en": "Grids"},
    "grid_id": {"zh": "网格编号", "en": "Grid no."},
    "risk": {"zh": "风险", "en": "Risk"},
    "risk_score": {"zh": "风险分", "en": "Risk score"},
    "risk_level": {"zh": "风险等级", "en": "Risk level"},
    "hotspots": {"zh": "热点", "en": "Hotspots"},
    "heat": {"zh": "热力图", "en": "Heat map"},
    "route": {"zh": "路线", "en": "Route"},
    "routes": {"zh": "巡查路线", "en": "Patrol routes"},
    "depot": {"zh": "驻点", "en": "Depot"},
    "schools": {"zh": "学校", "en": "Schools"},
    "boundary": {"zh": "辖区边界", "en": "District boundary"},
    "legend": {"zh": "图例", "en": "Legend"},
    "basemap": {"zh": "底图", "en": "Base map"},
    "open_time": {"zh": "营业时间", "en": "Opening hours"},
    "workload_min": {"zh": "工作量（分钟）", "en": "Workload (min)"},
    "count": {"zh": "数量", "en": "Count"},
    "high": {"zh": "高", "en": "High"},
    "medium": {"zh": "中", "en": "Medium"},
    "low": {"zh": "低", "en": "Low"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "exit_fullscreen": {"zh": "退出全屏", "en": "Exit full screen"},
}


def label(key: str, lang: str = "zh") -> str:
    """The label of ``key`` in ``lang`` (``"zh"`` or ``"en"``), unescaped.

    Raises
    ------
    KeyError
        For an unknown key (add it with :func:`register_labels`) or language.
    """
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    try:
        return LABELS[key][lang]
    except KeyError:
        raise KeyError(f"no {lang!r} label for {key!r}; add it with gridmgmt.maps.register_labels") from None


def register_labels(labels: Mapping[str, Mapping[str, str]]) -> None:
    """Add or replace labels: ``{"key": {"zh": "...", "en": "..."}}``, both languages required."""
    for key, texts in labels.items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            raise ValueError(f"label {key!r} lacks {', '.join(missing)}")
        LABELS[key] = {lang: str(texts[lang]) for lang in LANGS}


# ----------------------------------------------------------------------------- escaping

_JS_TEMPLATE_CHARS = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def esc(text: object) -> str:
    """Escape any value for HTML text or attributes, and for folium's JS template literals.

    Besides ``& < > " '`` this escapes `` ` ``, ``$`` and ``\\`` as character references,
    because folium puts popup and tooltip HTML inside JavaScript template literals, where
    ``${...}`` would run and a backslash could break the script. Browsers show the escaped
    text exactly as typed. ``None`` and NaN become the empty string.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA or text is pd.NaT:
        return ""
    return html.escape(str(text), quote=True).translate(_JS_TEMPLATE_CHARS)


_COLOR_RE = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9., %]+\)|hsla?\([0-9., %deg]+\))$")


def check_color(color: str) -> str:
    """Return ``color`` if it is a plain CSS colour (hex, name, rgb(), hsl()); else raise.

    Colours go into ``style`` attributes, so anything else could inject markup.
    """
    if not isinstance(color, str) or not _COLOR_RE.match(color.strip()):
        raise GridMgmtError(f"not a CSS colour: {color!r}; use e.g. '#d62728', 'red' or 'rgb(214,39,40)'")
    return color.strip()


def _js_json(obj: object) -> str:
    """JSON safe to embed in a <script>: no '<', '>' that could close the element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def popup_html(title: object | None, fields: Mapping[str, object]) -> str:
    """Escaped popup HTML: a bold title and a two-column table of label -> value."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in fields.items())
    head = f"<b>{esc(title)}</b>" if title is not None else ""
    return f'<div class="gm-popup">{head}<table>{rows}</table></div>'


def escape_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy with text columns escaped by :func:`esc` (numbers and geometry untouched).

    Use before handing a frame to ``folium.GeoJson`` with ``GeoJsonTooltip``/``GeoJsonPopup``:
    folium inserts property values into the page as HTML.
    """
    out = frame.copy()
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in columns if columns is not None else list(out.columns):
        if column == geometry:
            continue
        series = out[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        out[column] = series.map(esc).astype(object)
    return out


# ----------------------------------------------------------------------------- the map


@dataclass
class MapInfo:
    """What gridmgmt knows about a map it created (stored on the folium.Map)."""

    tiles: str = "none"
    lang: str = "zh"
    crs: str = "wgs84"  # "gcj02" for Amap tiles: helpers shift coordinates
    allowed_urls: tuple[str, ...] = field(default_factory=tuple)


def map_info(m: folium.Map) -> MapInfo:
    """The :class:`MapInfo` of a map; defaults (no tiles, WGS-84) for a map made elsewhere."""
    return getattr(m, "_gridmgmt", None) or MapInfo()


_BASE_CSS = """
.gm-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
background:rgba(255,255,255,.9);padding:4px 12px;border-radius:4px;font:bold 16px/1.4 sans-serif;
box-shadow:0 1px 4px rgba(0,0,0,.3);pointer-events:none}
.gm-legend{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:4px;font:12px/1.5 sans-serif;
box-shadow:0 1px 4px rgba(0,0,0,.3);max-height:60vh;overflow:auto}
.gm-legend .gm-legend-title{font-weight:bold;margin-bottom:2px}
.gm-legend i{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border:1px solid #555}
.gm-legend i.gm-circle{border-radius:50%}.gm-legend i.gm-line{height:4px;border:0;vertical-align:3px}
.gm-popup{font:12px/1.4 sans-serif}.gm-popup table{border-collapse:collapse;margin-top:3px}
.gm-popup th{text-align:left;padding:1px 8px 1px 0;font-weight:normal;color:#555;white-space:nowrap}
.gm-popup td{padding:1px 0}
"""


def new_map(
    center_lonlat: tuple[float, float],
    *,
    zoom: int = 13,
    tiles: str = "none",
    lang: str = "zh",
    title: str | None = None,
    max_zoom: int = DEFAULT_MAX_ZOOM,
    fullscreen: bool = True,
    prefer_canvas: bool = False,
) -> folium.Map:
    """A folium map set up for offline use, escaping and bilingual labels.

    Parameters
    ----------
    center_lonlat
        Centre as (longitude, latitude), WGS-84 degrees.
    zoom
        Initial zoom level.
    tiles
        ``"none"`` (default: no background, no request to any host), ``"osm"``
        (OpenStreetMap) or ``"amap"`` (Amap/AutoNavi, GCJ-02: every helper shifts data
        coordinates for it). Tiles need internet when the file is opened.
    lang
        ``"zh"`` or ``"en"``: language of labels and of Amap tiles.
    title
        Shown at the top of the map and as the page title (escaped).
    max_zoom
        Maximum zoom level; always set, since clustering needs it even without tiles.
    fullscreen
        Add a full-screen button.
    prefer_canvas
        Draw vector layers on a canvas instead of SVG (faster with many visible shapes).

    Raises
    ------
    GridMgmtError
        For an unknown ``tiles`` or ``lang``.
    """
    if tiles not in TILES:
        raise GridMgmtError(f"unknown tiles {tiles!r}; use one of {', '.join(TILES)}")
    if lang not in LANGS:
        raise GridMgmtError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    provider = _TILE_PROVIDERS.get(tiles)
    info = MapInfo(
        tiles=tiles,
        lang=lang,
        crs=provider["crs"] if provider else "wgs84",
        allowed_urls=provider["allowed"] if provider else (),
    )
    lon, lat = _shift(info, [center_lonlat[0]], [center_lonlat[1]])
    m = folium.Map(
        location=[float(lat[0]), float(lon[0])],
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        prefer_canvas=prefer_canvas,
        maxZoom=max_zoom,
    )
    m._gridmgmt = info
    if provider:
        url = provider["url"].replace("{lang}", "zh_cn" if lang == "zh" else "en")
        folium.TileLayer(
            tiles=url,
            attr=provider["attr"],
            name=esc(label("basemap", lang)),
            max_zoom=max_zoom,
            max_native_zoom=18,
            subdomains=provider["subdomains"],
            control=False,
        ).add_to(m)
    figure = m.get_root()
    figure.header.add_child(folium.Element(f"<style>{_BASE_CSS}</style>"), name="gridmgmt_css")
    if title:
        figure.title = esc(title)
        figure.html.add_child(folium.Element(f'<div class="gm-title">{esc(title)}</div>'), name="gridmgmt_title")
    if fullscreen:
        folium.plugins.Fullscreen(
            position="topleft", title=label("fullscreen", lang), title_cancel=label("exit_fullscreen", lang)
        ).add_to(m)
    return m


def _shift(info: MapInfo, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if info.crs == "gcj02":
        from gridmgmt.coords import wgs84_to_gcj02

        return wgs84_to_gcj02(lon, lat)
    return lon, lat


def to_map_lonlat(m: folium.Map, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray):
    """WGS-84 lon/lat arrays -> the map's display coordinates (GCJ-02 for Amap tiles).

    Returns
    -------
    tuple of numpy arrays
        ``(lon, lat)`` in degrees, rounded to :data:`COORD_DECIMALS`.
    """
    x, y = _shift(map_info(m), lon, lat)
    return np.round(x, COORD_DECIMALS), np.round(y, COORD_DECIMALS)


def to_map_geometry(m: folium.Map, geometry):
    """Shapely geometries (array or GeoSeries, WGS-84) in the map's display coordinates, rounded."""
    import shapely

    info = map_info(m)

    def transform(xy: np.ndarray) -> np.ndarray:
        x, y = _shift(info, xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), COORD_DECIMALS)

    values = shapely.transform(np.asarray(geometry), transform)
    if isinstance(geometry, pd.Series):
        return type(geometry)(values, index=geometry.index, crs=getattr(geometry, "crs", None))
    return values


# ----------------------------------------------------------------------------- layers


class _PointLayer(JSCSSMixin, folium.map.Layer):
    """Many points as one JSON array -> circle markers in one (clustered) group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var d = {{ this.payload }};
            var group = d.cluster ? L.markerClusterGroup(d.clusterOptions) : L.featureGroup();
            var markers = new Array(d.xy.length);
            for (var i = 0; i < d.xy.length; i++) {
                var c = d.palette[d.color.length ? d.color[i] : 0];
                var mk = L.circleMarker(d.xy[i], {radius: d.radius, color: d.stroke, weight: 1,
                                                  fillColor: c, fillOpacity: 0.85});
                mk._gmIndex = i;
                markers[i] = mk;
            }
            if (d.labels.length || d.title >= 0) {
                group.bindPopup(function (layer) {
                    var row = d.values[layer._gmIndex], out = '<div class="gm-popup">';
                    if (d.title >= 0) { out += '<b>' + row[d.title] + '</b>'; }
                    out += '<table>';
                    for (var j = 0; j < d.labels.length; j++) {
                        out += '<tr><th>' + d.labels[j] + '</th><td>' + row[d.fields[j]] + '</td></tr>';
                    }
                    return out + '</table></div>';
                }, {maxWidth: 360});
            }
            if (d.tooltip >= 0) {
                for (var k = 0; k < markers.length; k++) {
                    markers[k].bindTooltip(d.values[k][d.tooltip]);
                }
            }
            if (d.cluster) { group.addLayers(markers); } else { markers.forEach(function (x) { group.addLayer(x); }); }
            return group;
        })();
        {% endmacro %}
        """
    )

    default_js = folium.plugins.MarkerCluster.default_js
    default_css = folium.plugins.MarkerCluster.default_css

    def __init__(self, payload: str, *, name: str, show: bool, control: bool, cluster: bool) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "GmPoints"
        self.payload = payload
        if not cluster:  # no plugin needed
            self.default_js = []
            self.default_css = []


def _cell(value: object) -> str:
    if isinstance(value, float) and not math.isnan(value):
        return esc(f"{value:.6g}")
    return esc(value)


def add_points(
    m: folium.Map,
    frame: pd.DataFrame,
    *,
    name: str,
    lon: str = "lon",
    lat: str = "lat",
    popup_fields: Mapping[str, str] | None = None,
    popup_title: str | None = None,
    tooltip: str | None = None,
    color: str = "#1f77b4",
    color_column: str | None = None,
    stroke: str = "#333333",
    radius_px: float = 5.0,
    cluster: bool = True,
    disable_clustering_at_zoom: int | None = 17,
    show: bool = True,
    control: bool = True,
    parent: folium.map.Layer | folium.Map | None = None,
) -> folium.map.Layer:
    """Add many points (e.g. 5,000 retailers) as light circle markers with escaped popups.

    Coordinates and values travel as one JSON array; the browser builds the markers,
    popups (on click) and tooltips, all from values escaped here.

    Parameters
    ----------
    m
        Map made by :func:`new_map` (its coordinate system is used).
    frame
        One row per point, WGS-84 ``lon``/``lat`` columns in degrees.
    name
        Layer name in the layer control (plain text; escaped here).
    popup_fields
        ``{column: label}`` shown as a table in the popup, in this order.
    popup_title, tooltip
        Column shown in bold at the top of the popup / on hover.
    color, color_column
        One CSS colour for all points, or a column of CSS colours per point.
    radius_px
        Marker radius in screen pixels.
    cluster
        Group points into MarkerCluster bubbles; ``disable_clustering_at_zoom`` shows
        single points from that zoom level on (``None``: cluster at every zoom).
    parent
        Layer to add to (default: the map).

    Returns
    -------
    folium.map.Layer
        The added layer (a FeatureGroup-like layer for LayerControl).

    Raises
    ------
    GridMgmtError
        For missing columns, coordinates that are not finite, or an invalid colour.
    """
    popup_fields = dict(popup_fields or {})
    needed = [lon, lat, *popup_fields, *(c for c in (popup_title, tooltip, color_column) if c)]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise GridMgmtError(f"add_points({name!r}): missing columns {', '.join(missing)}")
    x = pd.to_numeric(frame[lon], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(frame[lat], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise GridMgmtError(
            f"add_points({name!r}): {int(bad.sum())} rows without valid coordinates (first at position "
            f"{int(np.flatnonzero(bad)[0])}); drop or fix them before mapping"
        )
    x, y = to_map_lonlat(m, x, y)
    value_columns = list(dict.fromkeys([*popup_fields, *(c for c in (popup_title, tooltip) if c)]))
    position = {c: i for i, c in enumerate(value_columns)}
    values = [[_cell(v) for v in row] for row in frame[value_columns].itertuples(index=False, name=None)]
    if color_column:
        colors = frame[color_column].astype(str).to_numpy()
        palette = [check_color(c) for c in pd.unique(colors)]
        index = {c: i for i, c in enumerate(palette)}
        color_index = [index[c.strip()] for c in colors]
    else:
        palette, color_index = [check_color(color)], []
    cluster_options: dict[str, object] = {"chunkedLoading": True, "showCoverageOnHover": False}
    if disable_clustering_at_zoom is not None:
        cluster_options["disableClusteringAtZoom"] = int(disable_clustering_at_zoom)
    payload = {
        "xy": np.column_stack([y, x]).tolist(),
        "values": values,
        "fields": [position[c] for c in popup_fields],
        "labels": [esc(v) for v in popup_fields.values()],
        "title": position[popup_title] if popup_title else -1,
        "tooltip": position[tooltip] if tooltip else -1,
        "palette": palette,
        "color": color_index,
        "stroke": check_color(stroke),
        "radius": float(radius_px),
        "cluster": bool(cluster),
        "clusterOptions": cluster_options,
    }
    layer = _PointLayer(_js_json(payload), name=esc(name), show=show, control=control, cluster=cluster)
    layer.add_to(parent if parent is not None else m)
    return layer


def add_heat(
    m: folium.Map,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    weight: Sequence[float] | np.ndarray | None = None,
    *,
    name: str,
    radius_px: int = 18,
    blur_px: int = 15,
    show: bool = True,
    parent: folium.map.Layer | folium.Map | None = None,
) -> folium.plugins.HeatMap:
    """Add a heat layer of points (WGS-84 degrees) with optional weights."""
    x, y = to_map_lonlat(m, lon, lat)
    columns = [y, x] if weight is None else [y, x, np.round(np.asarray(weight, dtype=float), 4)]
    data = np.column_stack(columns)
    data = data[np.isfinite(data).all(axis=1)]
    layer = folium.plugins.HeatMap(
        data.tolist(), name=esc(name), radius=radius_px, blur=blur_px, show=show, max_zoom=DEFAULT_MAX_ZOOM
    )
    layer.add_to(parent if parent is not None else m)
    return layer


def add_geojson(
    m: folium.Map,
    frame,
    *,
    name: str,
    tooltip_fields: Mapping[str, str] | None = None,
    popup_fields: Mapping[str, str] | None = None,
    style: Mapping[str, object] | Callable[[dict], dict] | None = None,
    keep_columns: Sequence[str] = (),
    show: bool = True,
    control: bool = True,
    parent: folium.map.Layer | folium.Map | None = None,
) -> folium.GeoJson:
    """Add polygons or lines (a GeoDataFrame) with escaped tooltips and popups.

    Only the columns shown (plus ``keep_columns``, e.g. for ``style``) go into the page;
    text values are escaped, coordinates converted to WGS-84 (then GCJ-02 for Amap) and
    rounded.

    Parameters
    ----------
    frame
        GeoDataFrame in any CRS.
    tooltip_fields, popup_fields
        ``{column: label}`` shown on hover / click.
    style
        Leaflet path options for every feature, or a function of a feature (dict with
        ``properties``) returning them.
    """
    tooltip_fields = dict(tooltip_fields or {})
    popup_fields = dict(popup_fields or {})
    columns = list(dict.fromkeys([*tooltip_fields, *popup_fields, *keep_columns]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GridMgmtError(f"add_geojson({name!r}): missing columns {', '.join(missing)}")
    gdf = frame[[*columns, frame.geometry.name]]
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf = escape_frame(gdf, columns)
    gdf = gdf.set_geometry(to_map_geometry(m, gdf.geometry))
    data = json.loads(gdf.to_json(drop_id=True))
    style_options = dict(style) if isinstance(style, Mapping) else None
    style_function = style if callable(style) else (lambda _feature: style_options or {})
    tooltip = (
        folium.GeoJsonTooltip(fields=list(tooltip_fields), aliases=[esc(a) for a in tooltip_fields.values()])
        if tooltip_fields
        else None
    )
    popup = (
        folium.GeoJsonPopup(fields=list(popup_fields), aliases=[esc(a) for a in popup_fields.values()])
        if popup_fields
        else None
    )
    layer = folium.GeoJson(
        data,
        name=esc(name),
        style_function=style_function,
        tooltip=tooltip,
        popup=popup,
        show=show,
        control=control,
        zoom_on_click=False,
    )
    layer.add_to(parent if parent is not None else m)
    return layer


class _Legend(folium.MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: {{ this.position|tojson }}});
            legend.onAdd = function () {
                var div = L.DomUtil.create('div', 'gm-legend');
                div.innerHTML = {{ this.content }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content_html: str, position: str) -> None:
        super().__init__()
        self._name = "GmLegend"
        self.content = _js_json(content_html)
        self.position = position


def add_legend(
    m: folium.Map,
    title: str | None,
    items: Sequence[tuple[str, str]],
    *,
    shape: str = "square",
    position: str = "bottomright",
) -> folium.MacroElement:
    """Add a legend box: ``items`` are (label, CSS colour) pairs; labels are escaped.

    ``shape`` is ``"square"`` (areas), ``"circle"`` (points) or ``"line"`` (routes).
    """
    if shape not in ("square", "circle", "line"):
        raise GridMgmtError(f"unknown legend shape {shape!r}; use square, circle or line")
    if position not in ("topleft", "topright", "bottomleft", "bottomright"):
        raise GridMgmtError(f"unknown legend position {position!r}")
    rows = "".join(
        f'<div><i class="gm-{shape}" style="background:{check_color(color)}"></i>{esc(text)}</div>'
        for text, color in items
    )
    head = f'<div class="gm-legend-title">{esc(title)}</div>' if title else ""
    legend = _Legend(head + rows, position)
    m.add_child(legend)
    return legend


def add_layer_control(m: folium.Map, *, collapsed: bool = False) -> folium.LayerControl:
    """Add the layer switcher (add it last, after every layer)."""
    control = folium.LayerControl(collapsed=collapsed)
    control.add_to(m)
    return control


# ----------------------------------------------------------------------------- offline HTML

_SCRIPT_SRC_RE = re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.IGNORECASE)
_LINK_RE = re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*?/?>", re.IGNORECASE)
_CSS_URL_RE = re.compile(r"url\(\s*([\"']?)([^\"')]+)\1\s*\)")
_ASSET_BLOCK_RE = re.compile(r"<(script|style) data-gm-asset=[^>]*>.*?</\1>", re.DOTALL)
_URL_RE = re.compile(r"https?://[^\s\"'<>`)\\]+")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".jpg": "image/jpeg"}

# CDN file name (lower case) -> vendored file; None = never needed by gridmgmt maps.
_ASSET_FOR_FILE: dict[str, str | None] = {
    "leaflet.js": "leaflet@1.9.4/dist/leaflet.js",
    "leaflet.css": "leaflet@1.9.4/dist/leaflet.css",
    "leaflet.markercluster.js": "leaflet.markercluster@1.5.3/dist/leaflet.markercluster.js",
    "markercluster.css": "leaflet.markercluster@1.5.3/dist/MarkerCluster.css",
    "markercluster.default.css": "leaflet.markercluster@1.5.3/dist/MarkerCluster.Default.css",
    "control.fullscreen.min.js": "leaflet.fullscreen@3.0.0/Control.FullScreen.js",
    "control.fullscreen.js": "leaflet.fullscreen@3.0.0/Control.FullScreen.js",
    "control.fullscreen.css": "leaflet.fullscreen@3.0.0/Control.FullScreen.css",
    "leaflet_heat.min.js": "folium-heat/leaflet_heat.min.js",
    "jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "jquery.min.js": "jquery@3.7.1/dist/jquery.min.js",
    # folium's defaults for awesome-markers icons (folium.Icon): not used by gridmgmt maps
    "bootstrap.bundle.min.js": None,
    "bootstrap.min.css": None,
    "bootstrap-glyphicons.css": None,
    "all.min.css": None,
    "leaflet.awesome-markers.js": None,
    "leaflet.awesome-markers.css": None,
    "leaflet.awesome.rotate.min.css": None,
}
_JQUERY = "jquery@3.7.1/dist/jquery.min.js"
_LEAFLET_JS = "leaflet@1.9.4/dist/leaflet.js"


def _data_uri(rel: str, assets: Mapping[str, bytes]) -> str:
    mime = _MIME[PurePosixPath(rel).suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(assets[rel]).decode('ascii')}"


def _inline_css(rel: str, assets: Mapping[str, bytes]) -> str:
    folder = PurePosixPath(rel).parent
    text = assets[rel].decode("utf-8")

    def replace(match: re.Match) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#")):
            return match.group(0)
        resolved = os.path.normpath(str(folder / target)).replace(os.sep, "/")
        if resolved not in assets:
            raise GridMgmtError(f"{rel} refers to {target!r}, which is not vendored")
        return f"url({_data_uri(resolved, assets)})"

    return _CSS_URL_RE.sub(replace, text).replace("</style", "<\\/style")


def _icon_default_patch(assets: Mapping[str, bytes]) -> str:
    # Leaflet finds its default marker images through a CSS url(); point them at data: URIs.
    images = "leaflet@1.9.4/dist/images/"
    options = {
        "iconUrl": _data_uri(images + "marker-icon.png", assets),
        "iconRetinaUrl": _data_uri(images + "marker-icon-2x.png", assets),
        "shadowUrl": _data_uri(images + "marker-shadow.png", assets),
    }
    return f'L.Icon.Default.imagePath="";L.Icon.Default.mergeOptions({json.dumps(options)});'


def _asset_for(url: str) -> str | None:
    file_name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    if file_name not in _ASSET_FOR_FILE:
        raise GridMgmtError(
            f"the map refers to {url}, which gridmgmt has not vendored; "
            "use the helpers in gridmgmt.maps or add the asset to gridmgmt.maps.offline_assets"
        )
    return _ASSET_FOR_FILE[file_name]


def external_urls(page: str, *, allowed: Sequence[str] = ()) -> list[str]:
    """http(s) URLs in ``page`` outside the inlined vendored assets, except ``allowed`` prefixes.

    Vendored files are pinned and reviewed; they name URLs that are never requested (SVG
    namespaces, Leaflet's attribution link), so they are not searched.
    """
    outside = _ASSET_BLOCK_RE.sub("", page)
    found = [u.replace("\\u0026", "&") for u in _URL_RE.findall(outside)]
    return sorted({u for u in found if not u.startswith(tuple(allowed))})


def to_offline_html(m: folium.Map, *, assets_folder: Path | None = None) -> str:
    """Render ``m`` as one self-contained HTML page: every script and style inline.

    Parameters
    ----------
    m
        The map (preferably from :func:`new_map`).
    assets_folder
        Vendor folder (default :func:`gridmgmt.maps.offline_assets.assets_dir`).

    Returns
    -------
    str
        The page. With ``tiles="none"`` it makes no request to any host.

    Raises
    ------
    GridMgmtError
        When vendored assets are missing (run ``python -m gridmgmt.maps.offline_assets``), when the map
        uses a library gridmgmt has not vendored (e.g. ``folium.Icon``), or when any
        reference to another host remains (other than the map's tile templates).
    """
    assets = load_assets(assets_folder)
    page = m.get_root().render()
    if "L.AwesomeMarkers" in page:
        raise GridMgmtError(
            "the map uses folium.Icon (awesome-markers, Font Awesome), which is not available offline; "
            "use add_points, folium.CircleMarker or folium.DivIcon"
        )
    own_script = _SCRIPT_SRC_RE.sub("", page)
    needs_jquery = re.search(r"\$\(", own_script) is not None
    done: set[str] = set()

    def script(match: re.Match) -> str:
        rel = _asset_for(match.group(1))
        if rel is None or rel in done or (rel == _JQUERY and not needs_jquery):
            return ""
        done.add(rel)
        code = assets[rel].decode("utf-8").replace("</script", "<\\/script")
        if rel == _LEAFLET_JS:
            code += "\n" + _icon_default_patch(assets)
        return f'<script data-gm-asset="{esc(rel)}">\n{code}\n</script>'

    def link(match: re.Match) -> str:
        tag = match.group(0)
        if "stylesheet" not in tag.lower():
            raise GridMgmtError(f"the map links to {match.group(1)}; only stylesheets can be inlined")
        rel = _asset_for(match.group(1))
        if rel is None or rel in done:
            return ""
        done.add(rel)
        return f'<style data-gm-asset="{esc(rel)}">\n{_inline_css(rel, assets)}\n</style>'

    page = _SCRIPT_SRC_RE.sub(script, page)
    page = _LINK_RE.sub(link, page)
    leftovers = _SCRIPT_SRC_RE.findall(page) + _LINK_RE.findall(page)
    remaining = leftovers + external_urls(page, allowed=map_info(m).allowed_urls)
    if remaining:
        raise GridMgmtError(
            f"the map still refers to other hosts: {', '.join(sorted(set(remaining))[:5])}; "
            "offline maps must not (use tiles='none' or the helpers in gridmgmt.maps)"
        )
    if _LEAFLET_JS not in done:
        raise GridMgmtError("the rendered map does not load Leaflet; is it a folium.Map?")
    return page


def save_map(m: folium.Map, path: str | os.PathLike, *, assets_folder: Path | None = None) -> Path:
    """Write ``m`` as one self-contained offline HTML file, atomically; return the path."""
    from gridmgmt.io import write_text

    page = to_offline_html(m, assets_folder=assets_folder)
    written = write_text(page, path)
    logger.info("wrote map %s (%.0f kB)", written, len(page.encode("utf-8")) / 1024)
    return written


__all__ = [
    "COORD_DECIMALS",
    "FETCH_COMMAND",
    "LABELS",
    "MapInfo",
    "add_geojson",
    "add_heat",
    "add_layer_control",
    "add_legend",
    "add_points",
    "check_color",
    "esc",
    "escape_frame",
    "external_urls",
    "label",
    "map_info",
    "new_map",
    "popup_html",
    "register_labels",
    "save_map",
    "to_map_geometry",
    "to_map_lonlat",
    "to_offline_html",
]
