"""Travel-time and distance matrices along the streets (scipy csgraph Dijkstra on a CSR form).

Matrices run scipy's Dijkstra on a CSR array form of the graph (built once per graph, mode
and weight, then cached: :mod:`gridmgmt.network.arrays`), only from the street nodes next to
the points, in chunks. Each point routes from its snapped position along its edge, not from the
nearest node; a point a car or e-bike cannot reach directly is reached by parking and walking
(:mod:`gridmgmt.network.reach`); a point not reachable at all is ``inf``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, TypeAlias

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from gridmgmt.network.arrays import NetworkArrays, network_arrays
from gridmgmt.network.modes import check_mode
from gridmgmt.network.reach import Ends, ends_of, point_ends

__all__ = ["Ends", "NetworkArrays", "Points", "distance_matrix", "ends_of", "network_arrays", "travel_time_matrix"]

log = logging.getLogger(__name__)

Points: TypeAlias = pd.DataFrame | tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]


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

    Each point sits on its snapped edge of the mode's routing network (its largest strongly
    connected component): it leaves along the edge to either end the mode may travel towards,
    arrives likewise, and walks/rides/drives its snap distance at the mode's speed at both
    ends (access time). Two points on the same edge in an order the mode may travel go
    straight along it. A car or e-bike that cannot reach a point directly (a pedestrian zone,
    an island reached by a footbridge) parks at the node nearest on foot and walks: leg
    ``i -> j`` is the walk back to the vehicle, the drive, parking (``reach.PARK_S``) and the
    walk in. Points the walk network does not reach either are ``inf``: see
    :func:`gridmgmt.network.reach.reachability` for which and why. Origins or destinations
    given as a ``snap_points`` frame without ``lon``/``lat`` join at their snapped edge only.

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
        ``(n_origins, n_destinations)`` seconds; ``inf`` only where truly unreachable. With
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

    Same conventions as ``travel_time_matrix``; routes minimise length, not time (park and
    walk legs: the metres of the fastest walk plus the drive).
    """
    return _matrix(graph, origins, destinations, mode=mode, weight="length", dtype=dtype, workers=workers)


def _ends(graph: nx.MultiDiGraph, points: Points, mode: str, weight: str) -> Ends:
    """How the points join ``mode``'s network: by their coordinates (park and walk where needed), or as snapped.

    A frame from ``snap_points`` without ``lon``/``lat`` columns is taken as snapped: every
    point joins directly at its snapped edge.
    """
    if isinstance(points, pd.DataFrame) and {"u", "v", "key", "frac", "oneway", "snap_dist_m"} <= set(points.columns):
        snapped_mode = points.attrs.get("mode")
        if snapped_mode not in (None, mode):
            log.warning("points were snapped for mode %r but routed for %r", snapped_mode, mode)
        if not {"lon", "lat"} <= set(points.columns):
            return ends_of(graph, points, mode, weight)
    if isinstance(points, pd.DataFrame):
        lon, lat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
    else:
        lon, lat = np.asarray(points[0], float), np.asarray(points[1], float)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError("lon and lat must be 1-d arrays of the same length")
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ValueError("lon and lat must be finite; drop or fix points without coordinates first")
    speeds = graph.graph.get("speeds") or {}
    return point_ends(graph, lon, lat, mode, weight, far_snap_m=float(speeds.get("far_snap_m", 150.0)))


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
    o = _ends(graph, origins, mode, weight)
    d = o if destinations is None else _ends(graph, destinations, mode, weight)
    out = np.full((len(o.frac), len(d.frac)), np.inf, dtype=dtype)
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
    chunk = max(1, 262_144 // max(1, len(d.frac)))
    for start in range(0, len(o.frac), chunk):
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
    i_all, j_all = np.flatnonzero(o.direct), np.flatnonzero(d.direct)
    left = pd.DataFrame({"u": o.edge_u[i_all], "v": o.edge_v[i_all], "k": o.edge_key[i_all], "i": i_all})
    right = pd.DataFrame({"u": d.edge_u[j_all], "v": d.edge_v[j_all], "k": d.edge_key[j_all], "j": j_all})
    pairs = left.merge(right, on=["u", "v", "k"])
    if pairs.empty:
        return
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    f, g = o.frac[i], d.frac[j]
    with np.errstate(invalid="ignore"):
        along = np.where(g >= f, (g - f) * o.edge_w[i], (f - g) * o.edge_w_back[i])
    along = np.where(f == g, 0.0, np.nan_to_num(along, nan=np.inf))
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
