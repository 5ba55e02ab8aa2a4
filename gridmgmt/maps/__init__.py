"""Shared machinery of every gridmgmt map: offline, escaped, light folium HTML with zh/en labels.

Domain maps (grids, risk, routes) build on the modules here:

* :mod:`gridmgmt.labels`: the one zh/en label registry (:func:`label`, :func:`register_labels`),
  re-exported here;
* :mod:`~gridmgmt.maps.escape`: the one escape helper (:func:`esc`) and its companions;
* :mod:`~gridmgmt.maps.base`: :func:`new_map` and the map's coordinate system (GCJ-02 for Amap
  tiles: :func:`to_map_lonlat`, :func:`to_map_geometry`);
* :mod:`~gridmgmt.maps.layers`: points, heat, GeoJSON, legends, notes, layer control;
* :mod:`~gridmgmt.maps.streets`: the light street layer from the district's own road network, by zoom band;
* :mod:`~gridmgmt.maps.offline_html`: :func:`to_offline_html` and :func:`save_map` inline the
  vendored assets of :mod:`~gridmgmt.maps.offline_assets`.
"""

from __future__ import annotations

from gridmgmt.labels import LABELS, label, labels_of, register_labels
from gridmgmt.maps.base import COORD_DECIMALS, MapInfo, fit_to, map_info, new_map, to_map_geometry, to_map_lonlat
from gridmgmt.maps.escape import check_color, esc, escape_frame, popup_html
from gridmgmt.maps.layers import add_geojson, add_heat, add_layer_control, add_legend, add_note, add_points
from gridmgmt.maps.offline_assets import FETCH_COMMAND
from gridmgmt.maps.offline_html import external_urls, save_map, to_offline_html
from gridmgmt.maps.streets import add_streets, street_bands

__all__ = [
    "COORD_DECIMALS",
    "FETCH_COMMAND",
    "LABELS",
    "MapInfo",
    "add_geojson",
    "add_heat",
    "add_layer_control",
    "add_legend",
    "add_note",
    "add_points",
    "add_streets",
    "check_color",
    "esc",
    "escape_frame",
    "external_urls",
    "fit_to",
    "label",
    "labels_of",
    "map_info",
    "new_map",
    "popup_html",
    "register_labels",
    "save_map",
    "street_bands",
    "to_map_geometry",
    "to_map_lonlat",
    "to_offline_html",
]
