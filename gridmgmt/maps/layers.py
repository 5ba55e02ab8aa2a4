"""Layers of a gridmgmt map: many points, heat, GeoJSON shapes, legends and the layer switcher, all escaped.

:func:`add_points` ships thousands of points as one compact JSON array (coordinates rounded to
:data:`gridmgmt.maps.base.COORD_DECIMALS`, popup values without repeated labels) and builds
circle markers, popups and tooltips in the browser, inside one MarkerCluster group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

import folium
import folium.plugins
import numpy as np
import pandas as pd
from folium.elements import JSCSSMixin
from folium.template import Template

from gridmgmt._errors import GridMgmtError
from gridmgmt.coords import WGS84
from gridmgmt.maps.base import DEFAULT_MAX_ZOOM, to_map_geometry, to_map_lonlat
from gridmgmt.maps.escape import check_color, esc, escape_frame, js_json


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
    """A popup value: floats with 6 significant digits, escaped."""
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
    layer = _PointLayer(js_json(payload), name=esc(name), show=show, control=control, cluster=cluster)
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
    if gdf.crs is not None and not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
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
        self.content = js_json(content_html)
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


def add_note(m: folium.Map, text: str, *, position: str = "bottomleft") -> folium.MacroElement:
    """Add a note box stating what the map cannot show (e.g. "no history yet"); ``text`` is escaped."""
    if position not in ("topleft", "topright", "bottomleft", "bottomright"):
        raise GridMgmtError(f"unknown note position {position!r}")
    note = _Legend(f'<div class="gm-note" style="max-width:260px;font-weight:bold">{esc(text)}</div>', position)
    m.add_child(note)
    return note


def add_layer_control(m: folium.Map, *, collapsed: bool = False) -> folium.LayerControl:
    """Add the layer switcher (add it last, after every layer)."""
    control = folium.LayerControl(collapsed=collapsed)
    control.add_to(m)
    return control
