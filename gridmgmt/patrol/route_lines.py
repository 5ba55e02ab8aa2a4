"""Route geometry: each squad's day as one line along the streets (depot -> stops -> depot, WGS-84)."""

from __future__ import annotations

import itertools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from gridmgmt.coords import WGS84
from gridmgmt.network import network_arrays, point_access, shortest_path_geometry, snap_points
from gridmgmt.patrol.squads import MODE_ORDER, SquadRoster

__all__ = ["empty_routes", "route_lines"]


def empty_routes() -> gpd.GeoDataFrame:
    """A routes frame without rows (``squad_id``, ``travel_mode``, ``visits``, line geometry)."""
    return gpd.GeoDataFrame({"squad_id": [], "travel_mode": [], "visits": []}, geometry=[], crs=WGS84)


def route_lines(district: Any, stops: pd.DataFrame, roster: SquadRoster) -> gpd.GeoDataFrame:
    """Each squad's day as one line along the streets: depot -> stops -> depot.

    Each point joins the street network at the nearer end of its snapped street edge; legs
    follow the fastest path for the squad's mode (one Dijkstra run per stop, on the cached
    array form of the network) and each street's own geometry. A leg to or from a stop that a
    car or e-bike reaches by parking and walking (see ``gridmgmt.network.reachability``) is
    drawn as the network routes it: the ride to the parking node, then the walk.

    Parameters
    ----------
    district : District
        Road network (``graph``) and ``depots`` (``depot_id``, ``lon``, ``lat``).
    stops : DataFrame
        The day's stops (``squad_id``, ``seq``, ``lon``, ``lat``).
    roster : SquadRoster
        The squads (travel mode and depot of each).

    Returns
    -------
    GeoDataFrame
        One line per squad with stops: ``squad_id``, ``travel_mode``, ``visits`` (EPSG:4326).
    """
    if stops.empty:
        return empty_routes()
    graph = district.graph
    depots = district.depots.set_index("depot_id")
    rows = []
    for mode in MODE_ORDER:
        group = [s for s in roster.squads if s.travel_mode == mode and s.squad_id in set(stops["squad_id"])]
        if not group:
            continue
        arrays = network_arrays(graph, mode, "time")
        for s in group:
            mine = stops.loc[stops["squad_id"] == s.squad_id].sort_values("seq")
            home = (float(depots.loc[s.depot, "lon"]), float(depots.loc[s.depot, "lat"]))
            points = [home, *zip(mine["lon"].astype(float), mine["lat"].astype(float), strict=True), home]
            snapped = snap_points(graph, [p[0] for p in points], [p[1] for p in points], mode=mode)
            walks = point_access(graph, [p[0] for p in points], [p[1] for p in points], mode).kind == "park_and_walk"
            nodes = np.where(snapped["frac"] < 0.5, snapped["u"], snapped["v"])
            index = arrays.index_of(nodes)
            _, pred = dijkstra(arrays.csr, indices=index[:-1], return_predecessors=True)
            coords: list[tuple[float, float]] = []
            for leg in range(len(points) - 1):
                if walks[leg] or walks[leg + 1]:
                    line = shortest_path_geometry(graph, points[leg], points[leg + 1], mode=mode)
                    coords += [(x, y) for x, y in line.coords]
                    continue
                coords.append(points[leg])
                coords.append((float(snapped["snap_lon"].iloc[leg]), float(snapped["snap_lat"].iloc[leg])))
                path = [int(index[leg + 1])]
                while path[-1] != index[leg] and path[-1] >= 0:
                    path.append(int(pred[leg, path[-1]]))
                if path[-1] < 0:  # unreachable: straight line
                    continue
                path_nodes = [arrays.nodes[k] for k in reversed(path)]
                for a, b in itertools.pairwise(path_nodes):
                    coords += _street(graph, a, b)
                coords.append((float(snapped["snap_lon"].iloc[leg + 1]), float(snapped["snap_lat"].iloc[leg + 1])))
            coords.append(points[-1])
            clean = [coords[0]] + [c for prev, c in itertools.pairwise(coords) if c != prev]
            if len(clean) < 2:
                clean.append(clean[0])
            rows.append(
                {
                    "squad_id": s.squad_id,
                    "travel_mode": mode,
                    "visits": len(mine),
                    "geometry": shapely.LineString(clean),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84).sort_values("squad_id").reset_index(drop=True)


def _street(graph: Any, a: Any, b: Any) -> list[tuple[float, float]]:
    """Coordinates of the street from node a to node b (either direction: walkers use both)."""
    data = graph.get_edge_data(a, b) or {}
    backwards = False
    if not data:
        data, backwards = graph.get_edge_data(b, a) or {}, True
    if not data:
        return [(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])]
    edge = min(data.values(), key=lambda d: float(d.get("length", 0.0)))
    if "geometry" in edge:
        coords = [tuple(c) for c in edge["geometry"].coords]
        return coords[::-1] if backwards else coords
    ends = [(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])]
    return ends
