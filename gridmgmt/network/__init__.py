"""Road network (osmnx/PBF), access per travel mode, snapping, travel-time matrices and route lines.

The road network is an osmnx ``MultiDiGraph`` in WGS-84 with ``length`` in metres and one
travel-time attribute per travel mode (``time_s_walk``, ``time_s_ebike``, ``time_s_car``;
seconds; ``time_s_<mode>_back`` against one-way edges). Modules: ``load`` (OSM XML/PBF,
GraphML, place names; travel times), ``access`` (which mode may use which street in which
direction, from OSM tags), ``modes`` (highway class defaults, car speeds, attribute names),
``arrays`` (per-mode sparse form on the mode's largest strongly connected component), ``snap``
(points onto street edges), ``reach`` (how points join each mode's network: directly, by
parking and walking, or not at all, and why), ``matrix`` (travel-time and distance matrices),
``paths`` (route lines), ``cache`` (per-graph cache).
"""

from __future__ import annotations

from gridmgmt.network.access import way_access
from gridmgmt.network.load import (
    GRAPHML_SUFFIXES,
    NETWORK_SUFFIXES,
    OSM_XML_SUFFIXES,
    PBF_SUFFIXES,
    add_travel_times,
    graph_from_place,
    load_network,
)
from gridmgmt.network.matrix import NetworkArrays, Points, distance_matrix, network_arrays, travel_time_matrix
from gridmgmt.network.modes import (
    ACCESS_PRESETS,
    DEFAULT_CAR_KMH,
    MODE_HIGHWAYS,
    ROUTABLE_HIGHWAYS,
    back_attr,
    time_attr,
)
from gridmgmt.network.paths import route_geometries, shortest_path_geometry
from gridmgmt.network.reach import PARK_S, point_access, reachability
from gridmgmt.network.snap import snap_points

__all__ = [
    "ACCESS_PRESETS",
    "DEFAULT_CAR_KMH",
    "GRAPHML_SUFFIXES",
    "MODE_HIGHWAYS",
    "NETWORK_SUFFIXES",
    "OSM_XML_SUFFIXES",
    "PARK_S",
    "PBF_SUFFIXES",
    "ROUTABLE_HIGHWAYS",
    "NetworkArrays",
    "Points",
    "add_travel_times",
    "back_attr",
    "distance_matrix",
    "graph_from_place",
    "load_network",
    "network_arrays",
    "point_access",
    "reachability",
    "route_geometries",
    "shortest_path_geometry",
    "snap_points",
    "time_attr",
    "travel_time_matrix",
    "way_access",
]
