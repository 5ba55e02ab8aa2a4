"""Street paths between points: route lines along the streets for route maps."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from gridmgmt.network.arrays import network_arrays
from gridmgmt.network.modes import back_attr, check_mode, time_attr
from gridmgmt.network.reach import ends_of, point_access
from gridmgmt.network.snap import snap_points

log = logging.getLogger(__name__)


def shortest_path_geometry(
    graph: nx.MultiDiGraph,
    origin: tuple[float, float],
    destination: tuple[float, float],
    *,
    mode: str = "car",
) -> shapely.LineString:
    """The fastest street route between two WGS-84 points as a line (for route maps).

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    origin, destination
        ``(lon, lat)`` in degrees.
    mode
        ``walk``, ``ebike`` or ``car``.

    Returns
    -------
    shapely.LineString
        WGS-84 line from the origin through its snapped position, along the streets, to the
        destination. Where a car or e-bike parks and walks (see ``travel_time_matrix``), the
        walks to and from the parking node follow the walk network. A straight two-point line
        with a logged warning if unreachable.
    """
    check_mode(mode)
    plan = point_access(graph, [origin[0], destination[0]], [origin[1], destination[1]], mode)
    if not plan.reachable.all():
        log.warning("no %s route from %s to %s; drawing a straight line", mode, origin, destination)
        return shapely.LineString([origin, destination])
    stops: list[tuple[tuple[float, float], str]] = [((origin[0], origin[1]), mode)]  # each stop and the mode to it
    if plan.kind[0] == "park_and_walk":
        stops.append((_node_xy(graph, plan.park_out[0]), "walk"))
    if plan.kind[1] == "park_and_walk":
        stops.append((_node_xy(graph, plan.park_in[1]), mode))
        stops.append(((destination[0], destination[1]), "walk"))
    else:
        stops.append(((destination[0], destination[1]), mode))
    coords: list[tuple[float, float]] = []
    for (a, _), (b, leg_mode) in itertools.pairwise(stops):
        coords += [(x, y) for x, y in _direct_line(graph, a, b, leg_mode).coords]
    return shapely.LineString(_dedupe(coords))


def _node_xy(graph: nx.MultiDiGraph, node: Any) -> tuple[float, float]:
    return (float(graph.nodes[node]["x"]), float(graph.nodes[node]["y"]))


def _direct_line(
    graph: nx.MultiDiGraph, origin: tuple[float, float], destination: tuple[float, float], mode: str
) -> shapely.LineString:
    """The fastest route of ``mode`` between two points that join its network at their nearest street."""
    snapped = snap_points(graph, [origin[0], destination[0]], [origin[1], destination[1]], mode=mode)
    ends = ends_of(graph, snapped, mode, "time")
    o, d = snapped.iloc[0], snapped.iloc[1]
    la, lca, lb, lcb = (x[0] for x in ends.leave())
    aa, aca, ab, acb = (x[1] for x in ends.arrive())
    best: tuple[float, list[Any], int, int] = (math.inf, [], 0, 0)  # cost, node path, leave side, arrive side
    f, g = float(o["frac"]), float(d["frac"])
    same_edge = (o["u"], o["v"], o["key"]) == (d["u"], d["v"], d["key"])
    if same_edge and (g >= f or ends.two_way[0]):
        best = (abs(g - f) * (ends.edge_w[0] if g >= f else ends.edge_w_back[0]), [], -1, -1)
    arrays = network_arrays(graph, mode, "time")
    for side, node, cost in ((0, la, lca), (1, lb, lcb)):
        if not math.isfinite(cost):
            continue
        src = int(arrays.index_of([node])[0])
        # scipy-stubs type `indices` as arrays only; scipy takes one int and returns 1-d arrays
        dist, pred = dijkstra(arrays.csr, indices=src, return_predecessors=True)  # type: ignore[call-overload]
        for arrive_side, target, tail in ((0, aa, aca), (1, ab, acb)):
            tgt = int(arrays.index_of([target])[0])
            total = cost + dist[tgt] + tail
            if math.isfinite(total) and total < best[0]:
                path = [tgt]
                while path[-1] != src:
                    path.append(int(pred[path[-1]]))
                best = (total, [arrays.nodes[i] for i in reversed(path)], side, arrive_side)
    if not math.isfinite(best[0]):
        log.warning("no %s route from %s to %s; drawing a straight line", mode, origin, destination)
        return shapely.LineString([origin, destination])
    _, path, leave_side, arrive_side = best
    coords: list[tuple[float, float]] = [(origin[0], origin[1])]
    if leave_side == -1:
        coords += _edge_piece(graph, o, f, g)
    else:
        coords += _edge_piece(graph, o, f, 1.0 if leave_side == 0 else 0.0)
        for a, b in itertools.pairwise(path):
            coords += _street_coords(graph, a, b, mode)
        coords += _edge_piece(graph, d, 0.0 if arrive_side == 0 else 1.0, g)
    coords.append((destination[0], destination[1]))
    return shapely.LineString(_dedupe(coords))


def route_geometries(
    graph: nx.MultiDiGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    mode: str = "car",
) -> list[shapely.LineString]:
    """Street lines of the legs of a route visiting the points in order (for route maps).

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        The stops in visiting order, degrees (WGS-84).
    mode
        ``walk``, ``ebike`` or ``car``.

    Returns
    -------
    list of shapely.LineString
        ``len(lon) - 1`` WGS-84 lines, leg ``i`` from stop ``i`` to stop ``i + 1``.
    """
    stops = list(zip(np.asarray(lon, float), np.asarray(lat, float), strict=True))
    return [shortest_path_geometry(graph, a, b, mode=mode) for a, b in itertools.pairwise(stops)]


def _edge_line(graph: nx.MultiDiGraph, u: Any, v: Any, key: Any) -> shapely.LineString:
    data = graph.edges[u, v, key]
    if "geometry" in data:
        return data["geometry"]
    nu, nv = graph.nodes[u], graph.nodes[v]
    return shapely.LineString([(nu["x"], nu["y"]), (nv["x"], nv["y"])])


def _edge_piece(graph: nx.MultiDiGraph, row: pd.Series, start: float, end: float) -> list[tuple[float, float]]:
    from shapely.ops import substring

    line = _edge_line(graph, row["u"], row["v"], row["key"])
    # fractions are of metres: cut on a locally equirectangular copy, so degrees of lon and
    # lat weigh as much as on the ground, then scale back
    scale = math.cos(math.radians(line.centroid.y))
    metric = shapely.transform(line, lambda xy: xy * np.array([scale, 1.0]))
    piece = substring(metric, start, end, normalized=True)
    if piece.is_empty:
        return []
    return [(x / scale, y) for x, y in piece.coords]


def _street_coords(graph: nx.MultiDiGraph, a: Any, b: Any, mode: str) -> list[tuple[float, float]]:
    time_key, back_key = time_attr(mode), back_attr(mode)
    options = [(d[time_key], (a, b, k), False) for k, d in (graph.get_edge_data(a, b) or {}).items()]
    options += [(d.get(back_key, math.inf), (b, a, k), True) for k, d in (graph.get_edge_data(b, a) or {}).items()]
    _, (u, v, k), backwards = min((o for o in options if math.isfinite(o[0])), key=lambda o: o[0])
    coords = [(x, y) for x, y in _edge_line(graph, u, v, k).coords]
    return coords[::-1] if backwards else coords


def _dedupe(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [coords[0]]
    for c in coords[1:]:
        if c != out[-1]:
            out.append(c)
    if len(out) == 1:
        out.append(out[0])
    return out
