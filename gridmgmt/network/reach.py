"""How points (shops, depots) join each mode's routing network: directly, by parking and walking, or not.

A point joins a mode's network **directly** at its snapped position on the nearest street of
the mode's main component (``street``; ``push`` for an e-bike on a street it may only push
along). A car or e-bike whose nearest usable street is more than ``PARK_WALK_M`` farther away
than the nearest walkable street (a pedestrian zone, an old town, a footbridge island) **parks
and walks** (``park_and_walk``): it drives to the node of its network from which the walk to the
point is shortest, locks the vehicle (``PARK_S`` seconds) and walks; the next leg starts with the
walk back. A point is **unreachable** when the walk network's main component does not come near
it (an island without a footbridge, a shop beyond the last street): its matrix entries are
``inf`` and :func:`reachability` says why.

Settings (module constants; ``graph.graph["park_s"]`` overrides ``PARK_S`` per graph):

``PARK_S`` = 60 s
    Parking and locking the vehicle, once per arrival by park and walk.
``PARK_WALK_M`` = 50 m
    A vehicle parks and walks when its nearest usable street is farther than the nearest
    walkable street plus this.
``ISLAND_M`` = 50 m
    A point is on an island when the walk network's main component is farther than the
    nearest walkable street plus this.
``OFF_NETWORK_M`` = 500 m
    A point farther than this from every street of the walk network (of the vehicle's
    network for a vehicle reached directly) is beyond the last street.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

from gridmgmt.network.access import RIDE, TRAVEL_ATTR
from gridmgmt.network.arrays import network_arrays
from gridmgmt.network.cache import graph_cache
from gridmgmt.network.modes import back_attr, check_mode, mode_kmh, time_attr
from gridmgmt.network.snap import snap_points, way_key

log = logging.getLogger(__name__)

PARK_S = 60.0
PARK_WALK_M = 50.0
ISLAND_M = 50.0
OFF_NETWORK_M = 500.0
VEHICLES = ("ebike", "car")


def _part(frac: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``frac * weight`` with ``0 * inf = 0`` (a point at the node costs nothing, even on a closed edge)."""
    with np.errstate(invalid="ignore"):
        return np.where(frac == 0.0, 0.0, frac * weight)


@dataclass
class Ends:
    """Where each point joins a mode's network: two candidate nodes with the cost to/from each.

    Attributes
    ----------
    edge_u, edge_v, edge_key
        The directed edge each point is snapped onto.
    frac
        Position along the edge, 0 at ``u`` .. 1 at ``v``.
    edge_w
        The edge's weight along it (seconds or metres); ``inf`` if the mode may not.
    edge_w_back
        The weight against the edge (the edge's own ``_back`` weight or its reverse twin's);
        ``inf`` if the mode may not.
    access
        Cost of the snap distance itself (point to street), seconds or metres.
    direct
        True where the point joins at its snapped edge; elsewhere ``via`` says how.
    via
        For points not joining directly: ``(leave_node, leave_cost, arrive_node, arrive_cost)``,
        e.g. the parking node and the walk (plus parking on arrival); costs ``inf`` if unreachable.
    """

    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_key: np.ndarray
    frac: np.ndarray
    edge_w: np.ndarray
    edge_w_back: np.ndarray
    access: np.ndarray
    direct: np.ndarray
    via: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def two_way(self) -> np.ndarray:
        """Whether the mode may travel each point's edge against its direction."""
        return np.isfinite(self.edge_w_back)

    def leave(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): leave forwards via v, backwards via u (or via ``via``)."""
        cost_v = _part(1.0 - self.frac, self.edge_w)
        cost_u = _part(self.frac, self.edge_w_back)
        if self.via is None:
            return self.edge_v, cost_v, self.edge_u, cost_u
        node, cost, _, _ = self.via
        return (
            np.where(self.direct, self.edge_v, node),
            np.where(self.direct, cost_v, cost),
            np.where(self.direct, self.edge_u, node),
            np.where(self.direct, cost_u, np.inf),
        )

    def arrive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): arrive forwards from u, backwards from v (or via ``via``)."""
        cost_u = _part(self.frac, self.edge_w)
        cost_v = _part(1.0 - self.frac, self.edge_w_back)
        if self.via is None:
            return self.edge_u, cost_u, self.edge_v, cost_v
        _, _, node, cost = self.via
        return (
            np.where(self.direct, self.edge_u, node),
            np.where(self.direct, cost_u, cost),
            np.where(self.direct, self.edge_v, node),
            np.where(self.direct, cost_v, np.inf),
        )


def ends_of(graph: nx.MultiDiGraph, snapped: pd.DataFrame, mode: str, weight: str) -> Ends:
    """The ``Ends`` of points snapped by ``snap_points``, all joining directly at their edge.

    ``weight`` is ``"time"`` (seconds) or ``"length"`` (metres). Access costs are the snap
    distances at the mode's constant speed, or in metres.
    """
    along, back = time_attr(mode), back_attr(mode)
    u = snapped["u"].to_numpy()
    v = snapped["v"].to_numpy()
    k = snapped["key"].to_numpy()
    w = np.empty(len(snapped))
    w_back = np.empty(len(snapped))
    for i, (a, b, c) in enumerate(zip(u, v, k, strict=True)):
        data = graph.edges[a, b, c]
        length = float(data["length"])
        forward = data.get(along, math.inf)
        backward = data.get(back, math.inf)
        if not data.get("oneway", False):  # the reverse twin of a two-way street: same ways, same length
            ways = way_key(data.get("osmid"))
            twins = [
                d.get(along, math.inf)
                for d in (graph.get_edge_data(b, a) or {}).values()
                if not d.get("oneway", False)
                and abs(float(d["length"]) - length) < 0.01
                and way_key(d.get("osmid")) == ways
            ]
            backward = min([backward, *twins])
        if weight == "length":
            forward = length if math.isfinite(forward) else math.inf
            backward = length if math.isfinite(backward) else math.inf
        w[i], w_back[i] = forward, backward
    dist = snapped["snap_dist_m"].to_numpy(float)
    access = dist if weight == "length" else dist / (mode_kmh(graph, mode) / 3.6)
    direct = np.ones(len(snapped), bool)
    return Ends(u, v, k, snapped["frac"].to_numpy(float), w, w_back, access, direct)


@dataclass
class PointAccess:
    """How each point joins one mode's network (see the module docstring).

    Attributes
    ----------
    mode
        The travel mode.
    kind
        Per point ``"street"``, ``"push"`` (e-bike on a street it may only push along),
        ``"park_and_walk"`` or ``"unreachable"``.
    reason
        Per point why it is unreachable (``""`` otherwise).
    street
        The points snapped onto the mode's main component (``snap_points`` frame); used
        where ``kind`` is ``street`` or ``push``.
    walk
        The points snapped onto the walk network's main component.
    park_in, park_out
        Graph node where the vehicle is parked on arrival / picked up on leaving (park and
        walk only; meaningless elsewhere).
    walk_in_s, walk_out_s
        Walk from the parking node to the point / back, seconds (0 when direct, ``inf`` if
        unreachable), snap distance included.
    """

    mode: str
    kind: np.ndarray
    reason: np.ndarray
    street: pd.DataFrame
    walk: pd.DataFrame
    park_in: np.ndarray
    park_out: np.ndarray
    walk_in_s: np.ndarray
    walk_out_s: np.ndarray

    @property
    def reachable(self) -> np.ndarray:
        """True where the point can be reached at all."""
        return self.kind != "unreachable"


def _snap(graph: nx.MultiDiGraph, lon: np.ndarray, lat: np.ndarray, mode: str, main_only: bool) -> pd.DataFrame | None:
    """``snap_points`` without its warning, or None when the mode has no street at all."""
    try:
        return snap_points(graph, lon, lat, mode=mode, far_snap_m=math.inf, main_only=main_only)
    except ValueError:
        return None


def _pieces(graph: nx.MultiDiGraph) -> np.ndarray:
    """Weakly connected piece of every node over all streets, whoever may use them (cached).

    Row order as ``NetworkArrays.nodes``, plus a last entry: the piece of the walk network's
    main component (-1 if it has none).
    """
    cache = graph_cache(graph)
    key = ("pieces",)
    if key not in cache:
        walk = network_arrays(graph, "walk")
        index = pd.Index(walk.nodes)
        u, v = (index.get_indexer(np.asarray(x)) for x in zip(*graph.edges(), strict=True))
        n = len(walk.nodes)
        adjacency = sp.csr_array((np.ones(len(u)), (u, v)), shape=(n, n))
        _, labels = connected_components(adjacency, directed=True, connection="weak")
        main = labels[walk.main][0] if walk.main.any() else -1
        cache[key] = np.append(labels, main)
    return cache[key]


def _snap_any(graph: nx.MultiDiGraph, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Snapped onto any street, whoever may use it."""
    return snap_points(graph, lon, lat, far_snap_m=math.inf)


def _dist(snapped: pd.DataFrame | None, n: int) -> np.ndarray:
    return np.full(n, np.inf) if snapped is None else snapped["snap_dist_m"].to_numpy(float)


def _parking(graph: nx.MultiDiGraph, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk times from the nearest parking node to every node and back, and which node (cached).

    Parking nodes are the nodes of the vehicle's main component that are also on the walk
    network's; two multi-source Dijkstra runs on the walk network (forwards and transposed)
    give, per node, the shortest walk from / to any of them and its index (-1 if none).
    """
    cache = graph_cache(graph)
    key = ("parking", mode)
    if key not in cache:
        walk = network_arrays(graph, "walk")
        vehicle = network_arrays(graph, mode)
        sources = np.flatnonzero(walk.main & vehicle.main)
        n = len(walk.nodes)
        if len(sources) == 0:
            none = (np.full(n, np.inf), np.full(n, -1), np.full(n, np.inf), np.full(n, -1))
            cache[key] = none
        else:
            d_in, _, s_in = dijkstra(walk.csr, indices=sources, min_only=True, return_predecessors=True)
            d_out, _, s_out = dijkstra(walk.csr.T.tocsr(), indices=sources, min_only=True, return_predecessors=True)
            cache[key] = (d_in, np.where(s_in < 0, -1, s_in), d_out, np.where(s_out < 0, -1, s_out))
    return cache[key]


def point_access(
    graph: nx.MultiDiGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    mode: str,
    *,
    far_snap_m: float | None = None,
) -> PointAccess:
    """How each point joins ``mode``'s network: one snap per network and lookups in cached Dijkstra runs.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        Points, degrees (WGS-84).
    mode
        ``walk``, ``ebike`` or ``car``.
    far_snap_m
        Log a warning naming how many points lie farther than this from any street the mode
        or walking may use, m (None: no warning).

    Returns
    -------
    PointAccess
        Per point how it joins the network, in input order.
    """
    check_mode(mode)
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    n = len(lon)
    walk_main = _snap(graph, lon, lat, "walk", True)
    walk_any = _snap(graph, lon, lat, "walk", False)
    d_walk, d_walk_any = _dist(walk_main, n), _dist(walk_any, n)
    street = walk_main if mode == "walk" else _snap(graph, lon, lat, mode, True)
    d_street = _dist(street, n)
    if far_snap_m is not None:
        _warn_far(np.minimum(d_walk_any, d_street), far_snap_m)
    island = (d_walk_any <= OFF_NETWORK_M) & (d_walk > d_walk_any + ISLAND_M)
    off = ~island & (d_walk > OFF_NETWORK_M)
    kind = np.full(n, "street", dtype=object)
    reason = np.full(n, "", dtype=object)
    walk_reason = np.full(n, "", dtype=object)
    walk_reason[island] = (
        "on streets not connected to the walk network's main component (an island, or cut off at the extract's edge)"
    )
    if island.any():
        assert walk_any is not None  # island implies a walkable street nearby
        pieces = _pieces(graph)
        joined = pieces[network_arrays(graph, "walk").index_of(walk_any["u"].to_numpy()[island])] == pieces[-1]
        walk_reason[np.flatnonzero(island)[joined]] = (
            "reached only through streets closed to walking (motorway, private, access=no)"
        )
    if off.any():
        d_any = _dist(_snap_any(graph, lon[off], lat[off]), int(off.sum()))
        walk_reason[off] = np.where(
            d_any <= OFF_NETWORK_M,
            f"only streets closed to walking (motorway, private, access=no) within {OFF_NETWORK_M:.0f} m",
            f"farther than {OFF_NETWORK_M:.0f} m from any street",
        )
    zeros = np.zeros(n)
    park_in = np.full(n, None, dtype=object)
    park_out = np.full(n, None, dtype=object)
    if mode == "walk":
        bad = island | off
        kind[bad], reason[bad] = "unreachable", walk_reason[bad]
        walk = walk_main if walk_main is not None else _empty(n)
        walk_s = np.where(bad, np.inf, 0.0)
        return PointAccess(mode, kind, reason, walk, walk, park_in, park_out, walk_s, walk_s.copy())

    near = np.minimum(d_walk_any, d_street)
    direct = (d_street <= OFF_NETWORK_M) & (d_street <= near + PARK_WALK_M)
    if street is not None and mode == "ebike":
        codes = [graph.edges[a, b, c].get(TRAVEL_ATTR, "") for a, b, c in street[["u", "v", "key"]].to_numpy()]
        push = np.array([RIDE not in code[2:4] for code in codes], bool)
        kind[direct & push] = "push"
    walk_ok = ~(island | off)
    parked = ~direct & walk_ok
    walk_in = zeros.copy()
    walk_out = zeros.copy()
    if parked.any():
        assert walk_main is not None  # walk_ok implies a walk network
        d_in, s_in, d_out, s_out = _parking(graph, mode)
        arrays = network_arrays(graph, "walk")
        ends = ends_of(graph, walk_main, "walk", "time")
        rows = np.flatnonzero(parked)
        a_u, c_u, a_v, c_v = (x[rows] for x in ends.arrive())
        l_v, lc_v, l_u, lc_u = (x[rows] for x in ends.leave())
        iu, iv, ilv, ilu = (arrays.index_of(x) for x in (a_u, a_v, l_v, l_u))
        into = np.column_stack([d_in[iu] + c_u, d_in[iv] + c_v])
        out = np.column_stack([lc_v + d_out[ilv], lc_u + d_out[ilu]])
        pick_in, pick_out = into.argmin(1), out.argmin(1)
        walk_in[rows] = into[np.arange(len(rows)), pick_in] + ends.access[rows]
        walk_out[rows] = out[np.arange(len(rows)), pick_out] + ends.access[rows]
        src_in = s_in[np.where(pick_in == 0, iu, iv)]
        src_out = s_out[np.where(pick_out == 0, ilv, ilu)]
        park_in[rows] = np.where(src_in >= 0, arrays.nodes[np.maximum(src_in, 0)], None)
        park_out[rows] = np.where(src_out >= 0, arrays.nodes[np.maximum(src_out, 0)], None)
        kind[rows] = "park_and_walk"
        lost = rows[~(np.isfinite(walk_in[rows]) & np.isfinite(walk_out[rows]))]
        kind[lost], reason[lost] = "unreachable", f"no place to park a {mode} connects to it on foot"
    bad = ~direct & ~walk_ok
    kind[bad], reason[bad] = "unreachable", walk_reason[bad]
    if bad.any():
        own = _snap(graph, lon[bad], lat[bad], mode, False)
        cut_off = _dist(own, int(bad.sum())) <= np.minimum(d_walk_any[bad], OFF_NETWORK_M) + PARK_WALK_M
        rows = np.flatnonzero(bad)[cut_off]
        reason[rows] = reason[rows] + f"; its {mode} streets are cut off from the rest of the {mode} network too"
    walk_in[kind == "unreachable"] = np.inf
    walk_out[kind == "unreachable"] = np.inf
    street = street if street is not None else _empty(n)
    walk = walk_main if walk_main is not None else _empty(n)
    return PointAccess(mode, kind, reason, street, walk, park_in, park_out, walk_in, walk_out)


def _warn_far(dist: np.ndarray, far_snap_m: float) -> None:
    far = int((dist > far_snap_m).sum())
    if far:
        log.warning(
            "%d of %d points lie farther than %.0f m from any street (farthest %.0f m); check their coordinates",
            far,
            len(dist),
            far_snap_m,
            float(dist.max()),
        )


def _empty(n: int) -> pd.DataFrame:
    """A snap frame for a mode without streets: no point can join."""
    return pd.DataFrame(
        {
            "u": np.full(n, -1),
            "v": np.full(n, -1),
            "key": np.zeros(n, int),
            "frac": np.zeros(n),
            "offset_m": np.zeros(n),
            "edge_length_m": np.zeros(n),
            "oneway": np.zeros(n, bool),
            "snap_dist_m": np.full(n, np.inf),
            "snap_lon": np.full(n, np.nan),
            "snap_lat": np.full(n, np.nan),
        }
    )


def point_ends(
    graph: nx.MultiDiGraph,
    lon: np.ndarray,
    lat: np.ndarray,
    mode: str,
    weight: str,
    *,
    far_snap_m: float | None = None,
) -> Ends:
    """The ``Ends`` of points for a matrix of ``mode`` and ``weight``: direct, parked and walking, or none."""
    plan = point_access(graph, lon, lat, mode, far_snap_m=far_snap_m)
    n = len(plan.kind)
    direct = np.isin(plan.kind, ("street", "push"))
    if direct.all():
        return ends_of(graph, plan.street, mode, weight)
    base = _unreachable_ends(n)
    if direct.any():
        got = ends_of(graph, plan.street.iloc[np.flatnonzero(direct)], mode, weight)
        for name in ("edge_u", "edge_v", "edge_key", "frac", "edge_w", "edge_w_back", "access"):
            getattr(base, name)[direct] = getattr(got, name)
    base.direct = direct
    to_metres = mode_kmh(graph, "walk") / 3.6 if weight == "length" else 1.0
    park_s = 0.0 if weight == "length" else float(graph.graph.get("park_s", PARK_S))
    parked = plan.kind == "park_and_walk"
    fallback = _any_node(graph)
    leave_node = np.where(parked, plan.park_out, fallback)
    arrive_node = np.where(parked, plan.park_in, fallback)
    leave_cost = np.where(parked, plan.walk_out_s * to_metres, np.inf)
    arrive_cost = np.where(parked, plan.walk_in_s * to_metres + park_s, np.inf)
    base.via = (leave_node, leave_cost, arrive_node, arrive_cost)
    return base


def _any_node(graph: nx.MultiDiGraph) -> Any:
    return next(iter(graph.nodes))


def _unreachable_ends(n: int) -> Ends:
    inf = np.full(n, np.inf)
    return Ends(
        edge_u=np.full(n, None, dtype=object),
        edge_v=np.full(n, None, dtype=object),
        edge_key=np.full(n, -1, dtype=object),
        frac=np.zeros(n),
        edge_w=inf.copy(),
        edge_w_back=inf.copy(),
        access=np.zeros(n),
        direct=np.zeros(n, bool),
    )


def reachability(graph: nx.MultiDiGraph, lon: np.ndarray, lat: np.ndarray, *, mode: str) -> pd.DataFrame:
    """Whether and how a squad of ``mode`` reaches each point, and why not.

    Fast enough to run on every shop of a district per pair mode: two or three snaps onto the
    street index and, for cars and e-bikes, two multi-source Dijkstra runs on the walk network
    (cached per graph). Points the matrices of ``travel_time_matrix`` and ``distance_matrix``
    give ``inf`` for are exactly those with ``reachable`` False.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        Points, degrees (WGS-84).
    mode
        ``walk``, ``ebike`` or ``car``.

    Returns
    -------
    pandas.DataFrame
        One row per point in input order: ``reachable`` (bool); ``access``: ``"street"``
        (joins the mode's network at its nearest street), ``"push"`` (an e-bike pushed along a
        footway or pedestrian street), ``"park_and_walk"`` (the vehicle parks at the nearest
        reachable node and the squad walks), ``"unreachable"``; ``walk_s``: the walk from the
        parking node to the point, seconds (0 when direct, ``inf`` when unreachable);
        ``street_m``: distance from the point to the street it joins at (the walk network's
        for park and walk), metres; ``reason``: empty when reachable, else a short English
        reason: "on streets not connected to the walk network's main component (an island, or
        cut off at the extract's edge)", "reached only through streets closed to walking
        (motorway, private, access=no)", "only streets closed to walking (motorway, private,
        access=no) within 500 m" or "farther than 500 m from any street"; for a car or
        e-bike also "no place to park a car connects to it on foot".
    """
    plan = point_access(graph, lon, lat, mode)
    parked = plan.kind == "park_and_walk"
    street_m = np.where(parked, plan.walk["snap_dist_m"].to_numpy(float), plan.street["snap_dist_m"].to_numpy(float))
    return pd.DataFrame(
        {
            "reachable": plan.reachable,
            "access": plan.kind.astype(str),
            "walk_s": plan.walk_in_s,
            "street_m": street_m,
            "reason": plan.reason.astype(str),
        }
    )
