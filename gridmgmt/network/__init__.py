"""Road network (osmnx/PBF), snapping, travel-time matrices and route lines.

The road network is an osmnx ``MultiDiGraph`` in WGS-84 with ``length`` in metres and one
travel-time attribute per travel mode (``time_s_walk``, ``time_s_ebike``, ``time_s_car``;
seconds). Modules: ``load`` (OSM XML/PBF, GraphML, place names; travel times), ``modes``
(which streets each mode may use), ``snap`` (points onto street edges), ``matrix``
(travel-time and distance matrices), ``paths`` (route lines), ``cache`` (per-graph cache).
"""

from __future__ import annotations

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
from gridmgmt.network.modes import DEFAULT_CAR_KMH, MODE_HIGHWAYS, ROUTABLE_HIGHWAYS, time_attr
from gridmgmt.network.paths import route_geometries, shortest_path_geometry
from gridmgmt.network.snap import snap_points

__all__ = [
    "DEFAULT_CAR_KMH",
    "GRAPHML_SUFFIXES",
    "MODE_HIGHWAYS",
    "NETWORK_SUFFIXES",
    "OSM_XML_SUFFIXES",
    "PBF_SUFFIXES",
    "ROUTABLE_HIGHWAYS",
    "NetworkArrays",
    "Points",
    "add_travel_times",
    "distance_matrix",
    "graph_from_place",
    "load_network",
    "network_arrays",
    "route_geometries",
    "shortest_path_geometry",
    "snap_points",
    "time_attr",
    "travel_time_matrix",
]
