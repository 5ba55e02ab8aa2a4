"""The street graph as a sparse matrix per travel mode, restricted to the mode's main component.

Each mode routes on the largest strongly connected component of the streets it may use (in
the loaded area): a street piece a mode can enter but not leave, or leave but not reach again
(a one-way spur at the extract's edge, a footway island), is not part of its routing network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gridmgmt.network.cache import graph_cache
from gridmgmt.network.modes import back_attr, check_mode, time_attr


@dataclass
class NetworkArrays:
    """The graph as a sparse matrix for one travel mode and weight.

    Attributes
    ----------
    nodes
        Graph node ids; row/column ``i`` of ``csr`` is ``nodes[i]``.
    csr
        ``(n, n)`` CSR array of edge weights (seconds for ``"time"``, metres for
        ``"length"``), the cheapest of parallel edges, only between nodes of the mode's main
        component; an edge the mode may travel backwards (``time_s_<mode>_back`` finite) also
        runs backwards; streets the mode may not use are absent.
    main
        ``(n,)`` bool: the node is in the mode's largest strongly connected component.
    mode, weight
        What the weights mean.
    """

    nodes: np.ndarray
    csr: sp.csr_array
    main: np.ndarray
    mode: str
    weight: str

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
        """Build the array form of ``graph`` for ``mode`` (``weight`` ``"time"`` or ``"length"``)."""
        check_mode(mode)
        if weight not in ("time", "length"):
            raise ValueError(f"weight must be 'time' or 'length', not {weight!r}")
        nodes = np.array(list(graph.nodes))
        index = pd.Index(nodes)
        u, v, w = mode_arcs(graph, mode, weight)
        keep = np.isfinite(w) & (u != v)
        ui, vi, w = index.get_indexer(u[keep]), index.get_indexer(v[keep]), w[keep]
        # cheapest parallel edge: csr_array would sum duplicates, so reduce first
        frame = pd.DataFrame({"u": ui, "v": vi, "w": np.maximum(w, 1e-6)})  # csgraph drops zero weights
        frame = frame.groupby(["u", "v"], sort=False)["w"].min().reset_index()
        n = len(nodes)
        main = np.zeros(n, bool)
        if len(frame):
            full = sp.csr_array((np.ones(len(frame)), (frame["u"].to_numpy(), frame["v"].to_numpy())), shape=(n, n))
            _, labels = connected_components(full, directed=True, connection="strong")
            used = np.zeros(n, bool)
            used[frame["u"].to_numpy()] = True
            biggest = np.bincount(labels[used]).argmax()
            main = labels == biggest
            frame = frame[main[frame["u"].to_numpy()] & main[frame["v"].to_numpy()]]
        csr = sp.csr_array((frame["w"].to_numpy(), (frame["u"].to_numpy(), frame["v"].to_numpy())), shape=(n, n))
        return cls(nodes=nodes, csr=csr, main=main, mode=mode, weight=weight)

    def index_of(self, node_ids: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Row indices of ``node_ids`` (``-1`` for unknown ids)."""
        return pd.Index(self.nodes).get_indexer(np.asarray(node_ids))


def network_arrays(graph: nx.MultiDiGraph, mode: str, weight: str = "time") -> NetworkArrays:
    """Cached ``NetworkArrays`` of ``graph`` (treat the graph as read-only after loading)."""
    cache = graph_cache(graph)
    key = ("arrays", mode, weight)
    if key not in cache:
        cache[key] = NetworkArrays.from_graph(graph, mode, weight)
    return cache[key]


def mode_arcs(graph: nx.MultiDiGraph, mode: str, weight: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, w)`` of every arc the mode may travel: each edge along, and against where allowed.

    ``w`` is the time (s) or length (m); ``inf`` where the mode may not travel the arc.
    """
    along, back = time_attr(mode), back_attr(mode)
    rows = [
        (a, b, float(d["length"]), d.get(along, math.inf), d.get(back, math.inf)) for a, b, d in graph.edges(data=True)
    ]
    if not rows:
        empty = np.array([])
        return empty, empty, empty
    u, v, length, t_along, t_back = (np.asarray(x) for x in zip(*rows, strict=True))
    t_along, t_back = t_along.astype(float), t_back.astype(float)
    if weight == "length":
        t_along = np.where(np.isfinite(t_along), length, np.inf)
        t_back = np.where(np.isfinite(t_back), length, np.inf)
    twoway = np.isfinite(t_back)
    return (
        np.concatenate([u, v[twoway]]),
        np.concatenate([v, u[twoway]]),
        np.concatenate([t_along, t_back[twoway]]),
    )
