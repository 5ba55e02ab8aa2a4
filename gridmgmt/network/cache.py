"""Per-graph cache of derived forms (CSR arrays, the snapping index), dropped with the graph."""

from __future__ import annotations

import weakref
from typing import Any

import networkx as nx

_CACHE: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[Any, Any]] = weakref.WeakKeyDictionary()


def graph_cache(graph: nx.MultiDiGraph) -> dict[Any, Any]:
    """The cache of ``graph``: a dict its derived forms are stored in.

    Keys do not describe the graph's contents (counting a street network's edges costs 17 ms on the
    demo, and the day plan looked its caches up 100 times): treat a loaded graph as read-only, and
    call :func:`forget_graph` after changing it.
    """
    return _CACHE.setdefault(graph, {})


def forget_graph(graph: nx.MultiDiGraph) -> None:
    """Drop everything cached for ``graph`` (its travel times were just (re)computed)."""
    _CACHE.pop(graph, None)
