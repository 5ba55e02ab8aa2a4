"""Travel-time and distance matrices along the streets (scipy csgraph Dijkstra on a CSR form).

Matrices run scipy's Dijkstra on a CSR array form of the graph (built once per graph, mode
and weight, then cached), only from the street nodes next to the points, in chunks. Each
point routes from its snapped position along its edge, not from the nearest node.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from gridmgmt.network.cache import graph_cache
from gridmgmt.network.modes import check_mode, mode_kmh, time_attr, weight_attr
from gridmgmt.network.snap import snap_points

log = logging.getLogger(__name__)

Points = pd.DataFrame | tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]


@dataclass
class NetworkArrays:
    """The graph as a sparse matrix for one travel mode and weight.

    Attributes
    ----------
    nodes
        Graph node ids; row/column ``i`` of ``csr`` is ``nodes[i]``.
    csr
        ``(n, n)`` CSR array of edge weights (seconds for ``"time"``, metres for
        ``"length"``), the cheapest of parallel edges; streets the mode may not use are
        absent; for walking every edge also runs backwards.
    mode, weight
        What the weights mean.
    """

    nodes: np.ndarray
    csr: sp.csr_array
    mode: str
    weight: str

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
        """Build the array form of ``graph`` for ``mode`` (``weight`` ``"time"`` or ``"length"``)."""
        check_mode(mode)
        nodes = np.array(list(graph.nodes))
        index = pd.Index(nodes)
        u, v, w = _edge_weights(graph, mode, weight)
        keep = np.isfinite(w) & (u != v)
        ui, vi, w = index.get_indexer(u[keep]), index.get_indexer(v[keep]), w[keep]
        if mode == "walk":
            ui, vi, w = np.concatenate([ui, vi]), np.concatenate([vi, ui]), np.concatenate([w, w])
        # cheapest parallel edge: csr_array would sum duplicates, so reduce first
        frame = pd.DataFrame({"u": ui, "v": vi, "w": np.maximum(w, 1e-6)})  # csgraph drops zero weights
        frame = frame.groupby(["u", "v"], sort=False)["w"].min().reset_index()
        n = len(nodes)
        csr = sp.csr_array((frame["w"].to_numpy(), (frame["u"].to_numpy(), frame["v"].to_numpy())), shape=(n, n))
        return cls(nodes=nodes, csr=csr, mode=mode, weight=weight)

    def index_of(self, node_ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Row indices of ``node_ids`` (``-1`` for unknown ids)."""
        return pd.Index(self.nodes).get_indexer(np.asarray(node_ids))


def network_arrays(graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
    """Cached ``NetworkArrays`` of ``graph`` (treat the graph as read-only after loading)."""
    cache = graph_cache(graph)
    key = ("arrays", mode, weight, graph.number_of_edges())
    if key not in cache:
        cache[key] = NetworkArrays.from_graph(graph, mode, weight)
    return cache[key]


def _edge_weights(graph: nx.MultiDiGraph, mode: str, weight: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    attr = weight_attr(mode, weight)
    rows = [(u, v, d.get(attr, math.inf), d.get("time_s_" + mode, math.inf)) for u, v, d in graph.edges(data=True)]
    if not rows:
        empty = np.array([])
        return empty, empty, empty
    u, v, w, t = zip(*rows, strict=True)
    w_arr = np.asarray(w, dtype=float)
    w_arr[~np.isfinite(np.asarray(t, dtype=float))] = math.inf  # a street the mode may not use
    return np.asarray(u), np.asarray(v), w_arr


def travel_time_matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None = None,
    *,
    mode: str = "car",
    dtype: Any = np.float32,
    workers: int = 1,
) -> np.ndarray:
    """Travel times between two point sets along the streets, seconds.

    Each point sits on its snapped edge: it leaves along the edge to either end the mode may
    drive towards, arrives likewise, and walks/rides/drives its snap distance at the mode's
    speed at both ends (access time). Two points on the same edge in an order the mode may
    travel go straight along it.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    origins, destinations
        ``(lon, lat)`` arrays, a frame with ``lon``/``lat`` columns, or a frame from
        ``snap_points``; ``destinations=None`` means the origins.
    mode
        ``walk``, ``ebike`` or ``car``.
    dtype
        Output dtype (``float32`` halves memory; ~0.01 s resolution at an hour).
    workers
        Processes for the Dijkstra runs (forked; used from 4 blocks of 128 street nodes on).
        The default 1 is safest inside threaded hosts; 2 gives ~1.5x on an idle 2-core machine.

    Returns
    -------
    numpy.ndarray
        ``(n_origins, n_destinations)`` seconds; ``inf`` where unreachable. With
        ``destinations=None`` the diagonal is 0.
    """
    return _matrix(graph, origins, destinations, mode=mode, weight="time", dtype=dtype, workers=workers)


def distance_matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None = None,
    *,
    mode: str = "car",
    dtype: Any = np.float32,
    workers: int = 1,
) -> np.ndarray:
    """Shortest street distances between two point sets for ``mode``, metres (snap distances included).

    Same conventions as ``travel_time_matrix``; routes minimise length, not time.
    """
    return _matrix(graph, origins, destinations, mode=mode, weight="length", dtype=dtype, workers=workers)


@dataclass
class Ends:
    """Where each snapped point joins the network: two candidate nodes with the cost to/from each.

    Attributes
    ----------
    edge_u, edge_v, edge_key
        The directed edge each point is snapped onto.
    frac
        Position along the edge, 0 at ``u`` .. 1 at ``v``.
    edge_w
        The edge's weight (seconds or metres); ``inf`` if the mode may not use it.
    two_way
        Whether the mode may travel the edge against its direction.
    access
        Cost of the snap distance itself (point to street), seconds or metres.
    """

    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_key: np.ndarray
    frac: np.ndarray
    edge_w: np.ndarray
    two_way: np.ndarray
    access: np.ndarray

    def leave(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): leave forwards via v, backwards via u."""
        cost_v = (1.0 - self.frac) * self.edge_w
        cost_u = np.where(self.two_way, self.frac * self.edge_w, np.where(self.frac == 0.0, 0.0, np.inf))
        return self.edge_v, cost_v, self.edge_u, cost_u

    def arrive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node_a, cost_a, node_b, cost_b): arrive forwards from u, backwards from v."""
        cost_u = self.frac * self.edge_w
        cost_v = np.where(self.two_way, (1.0 - self.frac) * self.edge_w, np.where(self.frac == 1.0, 0.0, np.inf))
        return self.edge_u, cost_u, self.edge_v, cost_v


def _as_snapped(graph: nx.MultiDiGraph, points: Points, mode: str) -> pd.DataFrame:
    if isinstance(points, pd.DataFrame) and {"u", "v", "key", "frac", "oneway", "snap_dist_m"} <= set(points.columns):
        snapped_mode = points.attrs.get("mode")
        if snapped_mode not in (None, mode):
            log.warning("points were snapped for mode %r but routed for %r", snapped_mode, mode)
        return points
    if isinstance(points, pd.DataFrame):
        lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    else:
        lon, lat = points
    speeds = graph.graph.get("speeds") or {}
    return snap_points(graph, lon, lat, mode=mode, far_snap_m=float(speeds.get("far_snap_m", 150.0)))


def ends_of(graph: nx.MultiDiGraph, snapped: pd.DataFrame, mode: str, weight: str) -> Ends:
    """The ``Ends`` of points snapped by ``snap_points``, for ``mode`` and ``weight`` (``"time"`` or ``"length"``).

    Access costs are the snap distances at the mode's constant speed (seconds), or in metres.
    """
    attr = weight_attr(mode, weight)
    time_key = time_attr(mode)
    u = snapped["u"].to_numpy()
    v = snapped["v"].to_numpy()
    k = snapped["key"].to_numpy()
    edges = graph.edges
    w = np.empty(len(snapped))
    for i, (a, b, c) in enumerate(zip(u, v, k, strict=True)):
        data = edges[a, b, c]
        w[i] = data[attr] if math.isfinite(data.get(time_key, math.inf)) else math.inf
    two_way = np.ones(len(snapped), bool) if mode == "walk" else ~snapped["oneway"].to_numpy(bool)
    dist = snapped["snap_dist_m"].to_numpy(float)
    access = dist if weight == "length" else dist / (mode_kmh(graph, mode) / 3.6)
    return Ends(u, v, k, snapped["frac"].to_numpy(float), w, two_way, access)


def _matrix(
    graph: nx.MultiDiGraph,
    origins: Points,
    destinations: Points | None,
    *,
    mode: str,
    weight: str,
    dtype: Any,
    workers: int,
) -> np.ndarray:
    check_mode(mode)
    arrays = network_arrays(graph, mode, weight)
    snap_o = _as_snapped(graph, origins, mode)
    snap_d = snap_o if destinations is None else _as_snapped(graph, destinations, mode)
    o = ends_of(graph, snap_o, mode, weight)
    d = o if destinations is None else ends_of(graph, snap_d, mode, weight)
    out = np.full((len(snap_o), len(snap_d)), np.inf, dtype=dtype)
    if out.size == 0:
        return out

    la, lca, lb, lcb = o.leave()
    aa, aca, ab, acb = d.arrive()
    src_a, src_b = arrays.index_of(la), arrays.index_of(lb)
    dst_a, dst_b = arrays.index_of(aa), arrays.index_of(ab)
    lca, lcb = np.where(src_a < 0, np.inf, lca), np.where(src_b < 0, np.inf, lcb)
    aca, acb = np.where(dst_a < 0, np.inf, aca), np.where(dst_b < 0, np.inf, acb)
    sources = np.unique(np.concatenate([src_a[np.isfinite(lca)], src_b[np.isfinite(lcb)]]))
    targets = np.unique(np.concatenate([dst_a[np.isfinite(aca)], dst_b[np.isfinite(acb)]]))
    float32 = np.dtype(dtype) != np.float64
    node_d = _node_distances(
        arrays.csr, sources, targets, workers=workers, float32=float32
    )  # (S+1, T+1), last row/col inf
    s_pos_a = np.where(np.isfinite(lca), np.searchsorted(sources, src_a), len(sources))
    s_pos_b = np.where(np.isfinite(lcb), np.searchsorted(sources, src_b), len(sources))
    t_pos_a = np.where(np.isfinite(aca), np.searchsorted(targets, dst_a), len(targets))
    t_pos_b = np.where(np.isfinite(acb), np.searchsorted(targets, dst_b), len(targets))

    # combine in small row blocks (cache-sized), in float32 unless float64 was asked for
    work = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    node_d = node_d.astype(work, copy=False)
    lca, lcb, aca, acb = (x.astype(work) for x in (lca, lcb, aca, acb))
    acc_o, acc_d = o.access.astype(work), d.access.astype(work)
    chunk = max(1, 262_144 // max(1, len(snap_d)))
    for start in range(0, len(snap_o), chunk):
        rows = slice(start, start + chunk)
        reach = node_d[s_pos_a[rows]]
        reach += lca[rows, None]
        np.minimum(reach, node_d[s_pos_b[rows]] + lcb[rows, None], out=reach)
        block = reach[:, t_pos_a]
        block += aca
        second = reach[:, t_pos_b]
        second += acb
        np.minimum(block, second, out=block)
        block += acc_o[rows, None]
        block += acc_d
        out[rows] = block

    _direct_same_edge(out, o, d)
    if destinations is None:
        np.fill_diagonal(out, 0.0)  # a point to itself; its access legs cancel
    return out


def _direct_same_edge(out: np.ndarray, o: Ends, d: Ends) -> None:
    """Lower ``out`` where origin and destination share an edge and may go straight along it."""
    left = pd.DataFrame({"u": o.edge_u, "v": o.edge_v, "k": o.edge_key, "i": np.arange(len(o.frac))})
    right = pd.DataFrame({"u": d.edge_u, "v": d.edge_v, "k": d.edge_key, "j": np.arange(len(d.frac))})
    pairs = left.merge(right, on=["u", "v", "k"])
    if pairs.empty:
        return
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    f, g, w = o.frac[i], d.frac[j], o.edge_w[i]
    along = np.where(g >= f, (g - f) * w, np.where(o.two_way[i], (f - g) * w, np.inf))
    direct = along + o.access[i] + d.access[j]
    out[i, j] = np.minimum(out[i, j], direct)


_WORK: dict[str, Any] = {}


def _dijkstra_block(sources: np.ndarray) -> np.ndarray:
    csr, targets, directed = _WORK["csr"], _WORK["targets"], _WORK["directed"]
    dist = dijkstra(csr, directed=directed, indices=sources)
    return dist[:, targets].astype(np.float32 if _WORK["float32"] else np.float64)


def _node_distances(
    csr: sp.csr_array, sources: np.ndarray, targets: np.ndarray, *, workers: int, float32: bool = False
) -> np.ndarray:
    """Shortest distances from ``sources`` to ``targets`` (node rows), padded with an inf row and column.

    Runs Dijkstra from whichever side has fewer nodes (on the transposed graph for targets).
    """
    result = np.full((len(sources) + 1, len(targets) + 1), np.inf, dtype=np.float32 if float32 else np.float64)
    if len(sources) == 0 or len(targets) == 0:
        return result
    reverse = len(targets) < len(sources)
    graph = csr.T.tocsr() if reverse else csr
    roots, cols = (targets, sources) if reverse else (sources, targets)
    _WORK.update(csr=graph, targets=cols, directed=True, float32=float32)
    block_size = 128
    blocks = [roots[i : i + block_size] for i in range(0, len(roots), block_size)]
    n_workers = max(1, workers)
    parallel = n_workers > 1 and len(blocks) >= 4 and hasattr(os, "fork")
    try:
        if parallel:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # fork: workers inherit the CSR arrays without pickling them
            with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = list(pool.map(_dijkstra_block, blocks))
        else:
            parts = [_dijkstra_block(block) for block in blocks]
    finally:
        _WORK.clear()
    dist = np.vstack(parts)
    if reverse:
        dist = dist.T
    result[:-1, :-1] = dist
    return result
