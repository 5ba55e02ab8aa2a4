"""A light street layer from a district's own road network: simplified GeoJSON lines by zoom band, offline.

The same layer lies under every map: the service's Leaflet pages fetch one band at a time
(``static/map.js``), and the self-contained folium maps carry every band and show the one for
the current zoom (:func:`add_streets`). No tile server: the streets are the district's extract.

Each band keeps the street classes worth drawing at its zooms (major roads only when zoomed
out, every street close in), merges a class's street segments into long lines, drops the
vertices a Douglas-Peucker simplification with the band's tolerance (metres) allows, and rounds
coordinates to 5 decimals (about 1 m). Lines carry only their class: no names, no text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import folium
import networkx as nx
import numpy as np
import shapely
from folium.template import Template

from gridmgmt.labels import label, register_labels
from gridmgmt.maps.base import map_info, to_map_lonlat
from gridmgmt.maps.escape import check_color, esc, js_json

#: Street classes, drawn from the least to the most important; every other highway value is ``minor``.
STREET_CLASSES = ("minor", "street", "major")
_CLASS_OF = {
    **{h: "major" for h in ("motorway", "trunk", "primary", "secondary")},
    **{f"{h}_link": "major" for h in ("motorway", "trunk", "primary", "secondary")},
    **{h: "street" for h in ("tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road")},
}
LAYER_VERSION = 1  # bump when the bands or the output change: cached layers are rebuilt
COORD_DECIMALS = 5  # 1e-5 degree is about 1.1 m of latitude
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True)
class Band:
    """One zoom band of the street layer: the classes drawn at zooms ``min_zoom..max_zoom``, simplified."""

    name: str
    min_zoom: int
    max_zoom: int
    classes: tuple[str, ...]
    tolerance_m: float
    min_length_m: float  # shorter merged lines are left out (stubs invisible at these zooms)


#: The bands: major roads when a whole district is in view, every street from a block's scale on.
BANDS = (
    Band("low", 0, 13, ("major",), tolerance_m=12.0, min_length_m=60.0),
    Band("mid", 14, 15, ("major", "street"), tolerance_m=4.0, min_length_m=15.0),
    Band("high", 16, 22, STREET_CLASSES, tolerance_m=1.0, min_length_m=0.0),
)
#: How each class is drawn (Leaflet path options), on Leaflet's light grey background.
STYLES: dict[str, dict[str, Any]] = {
    "major": {"color": "#ffffff", "weight": 4, "opacity": 1.0},
    "street": {"color": "#ffffff", "weight": 2, "opacity": 1.0},
    "minor": {"color": "#f7f7f7", "weight": 1, "opacity": 0.9},
}


def street_class(highway: object) -> str:
    """The drawing class of an OSM ``highway`` value (a list, as osmnx merges ways, takes its most important)."""
    values = highway if isinstance(highway, list | tuple) else [highway]
    ranks = [STREET_CLASSES.index(_CLASS_OF.get(str(v), "minor")) for v in values]
    return STREET_CLASSES[max(ranks, default=0)]


def street_bands(graph: nx.MultiDiGraph, *, bands: Iterable[Band] = BANDS) -> dict[str, dict[str, Any]]:
    """The street layer of a road network: one GeoJSON FeatureCollection per zoom band.

    Parameters
    ----------
    graph
        An osmnx graph in WGS-84 (node ``x`` = lon, ``y`` = lat; edge ``highway``, optional
        ``geometry`` and ``length`` in metres). A street both ways is drawn once.
    bands
        The zoom bands (default :data:`BANDS`).

    Returns
    -------
    dict
        ``{band name: FeatureCollection}``; each collection has one MultiLineString feature per
        street class present (``properties``: ``class``), coordinates [lon, lat] rounded to
        :data:`COORD_DECIMALS`, and ``min_zoom``/``max_zoom`` members naming its band's zooms.
    """
    lines = _class_lines(graph)
    lat0 = float(np.mean([y for _, y in graph.nodes(data="y")])) if graph.number_of_nodes() else 0.0
    scale = np.array([_M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0)), _M_PER_DEG_LAT])
    out = {}
    for band in bands:
        features = []
        for cls in sorted(band.classes, key=STREET_CLASSES.index):
            coords = _simplified(lines.get(cls, []), scale, band.tolerance_m, band.min_length_m)
            if coords:
                features.append({"type": "Feature", "properties": {"class": cls},
                                 "geometry": {"type": "MultiLineString", "coordinates": coords}})  # fmt: skip
        out[band.name] = {"type": "FeatureCollection", "min_zoom": band.min_zoom, "max_zoom": band.max_zoom,
                          "features": features}  # fmt: skip
    return out


def band_bytes(bands: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Bytes of each band as compact JSON (what the service sends, before compression)."""
    return {name: len(to_json(collection)) for name, collection in bands.items()}


def to_json(collection: Mapping[str, Any]) -> bytes:
    """A band as compact UTF-8 JSON."""
    return json.dumps(collection, separators=(",", ":"), allow_nan=False).encode()


def band_for_zoom(bands: Mapping[str, Mapping[str, Any]], zoom: float) -> str:
    """The name of the band drawn at ``zoom`` (the nearest band outside every band's zooms)."""
    names = list(bands)
    for name in names:
        if bands[name]["min_zoom"] <= zoom <= bands[name]["max_zoom"]:
            return name
    return names[0] if zoom < bands[names[0]]["min_zoom"] else names[-1]


def _class_lines(graph: nx.MultiDiGraph) -> dict[str, list[list[shapely.LineString]]]:
    """Each street once (not once per direction), as WGS-84 lines by class, grouped by street.

    A street is its name, else its OSM way: a group's segments merge into lines running through
    the crossings, where the graph cuts every street (fewer, longer lines: less JSON).
    """
    xs = dict(graph.nodes(data="x"))
    ys = dict(graph.nodes(data="y"))
    seen: set[tuple[Any, Any, float]] = set()
    groups: dict[tuple[str, str], list[shapely.LineString]] = {}
    for u, v, data in graph.edges(data=True):
        key = (min(u, v), max(u, v), round(float(data.get("length", 0.0)), 1))
        if key in seen:
            continue
        seen.add(key)
        geometry = data.get("geometry")
        line = geometry if geometry is not None else shapely.LineString([(xs[u], ys[u]), (xs[v], ys[v])])
        street = data.get("name") or data.get("osmid")
        groups.setdefault((street_class(data.get("highway")), str(street)), []).append(line)
    lines: dict[str, list[list[shapely.LineString]]] = {}
    for (cls, _), members in groups.items():
        lines.setdefault(cls, []).append(members)
    return lines


def _simplified(
    streets: list[list[shapely.LineString]], scale: np.ndarray, tolerance_m: float, min_length_m: float
) -> list[list[list[float]]]:
    """Each street's lines merged end to end, simplified in local metres, rounded: MultiLineString coordinates."""
    if not streets:
        return []
    merged = [shapely.line_merge(shapely.MultiLineString(lines)) for lines in streets]
    parts = shapely.transform(shapely.get_parts(merged), lambda xy: xy * scale)
    parts = parts[shapely.length(parts) >= min_length_m] if min_length_m > 0 else parts
    simple = shapely.simplify(parts, tolerance_m, preserve_topology=False)
    out = []
    for part in simple:
        xy = np.round(shapely.get_coordinates(part) / scale, COORD_DECIMALS)
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = (np.diff(xy, axis=0) != 0).any(axis=1)  # points made equal by rounding
        xy = xy[keep]
        if len(xy) >= 2:
            out.append(xy.tolist())
    return out


# ----------------------------------------------------------------------------- the layer on a folium map

_LABELS = {"streets": {"zh": "道路", "en": "Streets"}}


class _StreetLayer(folium.map.Layer):
    """Every band in the page; the band of the current zoom drawn in a pane beneath every other layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var d = {{ this.payload }}, group = L.layerGroup(), drawn = null, layers = null, map = null;
            function show() {
                var z = map.getZoom(), i = d.bands.length - 1;
                for (var j = 0; j < d.bands.length; j++) { if (z <= d.bands[j].max_zoom) { i = j; break; } }
                if (i === drawn) { return; }
                group.clearLayers(); group.addLayer(layers[i]); drawn = i;
            }
            group.on("add", function () {
                map = group._map;
                if (!map.getPane("gmStreets")) {
                    var pane = map.createPane("gmStreets"); pane.style.zIndex = 250; pane.style.pointerEvents = "none";
                }
                if (!layers) {
                    var r = L.canvas({pane: "gmStreets"});
                    layers = d.bands.map(function (b) {
                        return L.geoJSON(b, {renderer: r, pane: "gmStreets", interactive: false,
                                             style: function (f) { return d.styles[f.properties["class"]]; }});
                    });
                }
                drawn = null; show(); map.on("zoomend", show);
            });
            group.on("remove", function () { map.off("zoomend", show); group.clearLayers(); drawn = null; });
            return group;
        })();
        {% endmacro %}
        """
    )

    def __init__(self, payload: str, *, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "GmStreets"
        self.payload = payload


def add_streets(m: folium.Map, bands: Mapping[str, Mapping[str, Any]]) -> folium.map.Layer:
    """Draw a street layer (:func:`street_bands`) under everything else on a gridmgmt map, offline.

    The page carries every band and draws the one for the current zoom, on a canvas in a pane
    beneath the map's other layers, without pointer events. Coordinates follow the map's
    coordinate system (shifted to GCJ-02 under Amap tiles). The layer holds no text but its name.
    """
    register_labels(_LABELS)
    shifted = [_in_map_coords(m, band) for band in bands.values()]
    styles = {
        cls: {k: (check_color(v) if k == "color" else v) for k, v in style.items()} for cls, style in STYLES.items()
    }
    layer = _StreetLayer(js_json({"bands": shifted, "styles": styles}), name=esc(label("streets", map_info(m).lang)))
    layer.add_to(m)
    return layer


def _in_map_coords(m: folium.Map, band: Mapping[str, Any]) -> dict[str, Any]:
    """A band in the map's display coordinates (WGS-84 bands unchanged)."""
    if map_info(m).crs == "wgs84":
        return dict(band)
    features = []
    for feature in band["features"]:
        lines = []
        for line in feature["geometry"]["coordinates"]:
            xy = np.asarray(line, dtype=float)
            x, y = to_map_lonlat(m, xy[:, 0], xy[:, 1])
            lines.append(np.round(np.column_stack([x, y]), COORD_DECIMALS).tolist())
        features.append({**feature, "geometry": {"type": "MultiLineString", "coordinates": lines}})
    return {**band, "features": features}
