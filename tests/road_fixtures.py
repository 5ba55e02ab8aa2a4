"""Road network fixtures for tests and benchmarks: a synthetic street grid shaped like an osmnx graph.

Tests import it as ``from road_fixtures import synthetic_grid`` (pytest puts ``tests/`` on
``sys.path``); ``scripts/bench_matrix.py`` puts ``tests/`` on ``sys.path`` itself.
"""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np

from gridmgmt.config import Speeds
from gridmgmt.network import add_travel_times


def synthetic_grid(
    n_rows: int,
    n_cols: int,
    *,
    spacing_m: float = 120.0,
    origin: tuple[float, float] = (106.70, 26.57),
    oneway_every: int = 4,
    seed: int = 0,
    speeds: Speeds = Speeds(),  # noqa: B008
) -> nx.MultiDiGraph:
    """A street grid shaped like an osmnx graph, for tests and benchmarks (no file needed).

    Every ``oneway_every``-th east-west street is one-way (alternating east/westbound);
    street classes and ``maxspeed`` tags vary; node positions are jittered by up to 15% of
    ``spacing_m`` (seeded) so that travel times have few ties.

    Parameters
    ----------
    n_rows, n_cols
        Grid size in nodes.
    spacing_m
        Block length, m.
    origin
        ``(lon, lat)`` of the south-west corner, degrees.
    oneway_every
        Make every n-th east-west street one-way (0: none).
    seed
        Random seed of the jitter and the tags.
    speeds
        Travel speeds (km/h).

    Returns
    -------
    networkx.MultiDiGraph
        WGS-84 graph with the same attributes ``load_network`` gives.
    """
    rng = np.random.default_rng(seed)
    deg_lat = spacing_m / 111_320.0
    deg_lon = deg_lat / math.cos(math.radians(origin[1]))
    graph = nx.MultiDiGraph(crs="epsg:4326")
    jitter = rng.uniform(-0.15, 0.15, size=(n_rows, n_cols, 2))
    for r in range(n_rows):
        for c in range(n_cols):
            node = r * n_cols + c
            graph.add_node(
                node,
                x=origin[0] + (c + jitter[r, c, 0]) * deg_lon,
                y=origin[1] + (r + jitter[r, c, 1]) * deg_lat,
            )
    way_ids = itertools.count(1)
    classes = (("primary", "50"), ("secondary", "40"), ("tertiary", None), ("residential", "30"), ("residential", None))

    def add_street(a: int, b: int, highway: str, maxspeed: str | None, oneway: bool) -> None:
        na, nb = graph.nodes[a], graph.nodes[b]
        dx = (nb["x"] - na["x"]) * math.cos(math.radians(na["y"])) * 111_320.0
        dy = (nb["y"] - na["y"]) * 111_320.0
        attrs = {"highway": highway, "oneway": oneway, "length": math.hypot(dx, dy), "osmid": next(way_ids)}
        if maxspeed:
            attrs["maxspeed"] = maxspeed
        graph.add_edge(a, b, reversed=False, **attrs)
        if not oneway:
            graph.add_edge(b, a, reversed=True, **attrs)

    for r in range(n_rows):
        highway, maxspeed = classes[int(rng.integers(len(classes)))]
        oneway = bool(oneway_every) and r % oneway_every == 1
        eastbound = (r // max(oneway_every, 1)) % 2 == 0
        for c in range(n_cols - 1):
            a, b = r * n_cols + c, r * n_cols + c + 1
            add_street(a, b, highway, maxspeed, oneway) if eastbound or not oneway else add_street(
                b, a, highway, maxspeed, oneway
            )
    for c in range(n_cols):
        highway, maxspeed = classes[int(rng.integers(len(classes)))]
        for r in range(n_rows - 1):
            add_street(r * n_cols + c, (r + 1) * n_cols + c, highway, maxspeed, False)
    return add_travel_times(graph, speeds=speeds)
