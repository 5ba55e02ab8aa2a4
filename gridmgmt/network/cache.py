"""Per-graph cache of derived forms (CSR arrays, the snapping index), dropped with the graph."""

from __future__ import annotations

import weakref
from typing import Any

import networkx as nx

_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[Any, Any]] = weakref.WeakKeyDictionary()


def graph_cache(graph: nx.MultiDiGraph) -> dict[Any, Any]:
    """The cache of ``graph``: a dict its derived forms are stored in (treat the graph as read-only)."""
    return _CACHE.setdefault(graph, {})


def forget_graph(graph: nx.MultiDiGraph) -> None:
    """Drop everything cached for ``graph`` (its travel times were just (re)computed)."""
    _CACHE.pop(graph, None)
