"""Snapping points (retailers, depots) onto their nearest street edge.

Points snap onto the nearest street edge, not the nearest node, so routing can start from the
snapped position along its edge: two shops on the same long block are a few seconds apart, not
a detour through the block's corners.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridmgmt.config import TRAVEL_MODES
from gridmgmt.coords import WGS84, metric_crs
from gridmgmt.network.arrays import network_arrays
from gridmgmt.network.cache import graph_cache
from gridmgmt.network.modes import back_attr, check_mode, time_attr

log = logging.getLogger(__name__)

_AT_NODE_M = 0.01  # a snapped point closer than this to an edge end is at that node


@dataclass
class _EdgeIndex:
    """Snapping index: canonical street edges (one per two-way street) projected to metres."""

    crs: Any
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray
    length_m: np.ndarray
    oneway: np.ndarray
    geometry: np.ndarray  # projected LineStrings
    allowed: dict[str, np.ndarray]  # mode -> bool mask: the mode may travel the street one way or both
    trees: dict[tuple[str | None, bool], tuple[shapely.STRtree, np.ndarray]]

    def tree(self, graph: nx.MultiDiGraph, mode: str | None, main_only: bool) -> tuple[shapely.STRtree, np.ndarray]:
        key = (mode, main_only and mode is not None)
        if key not in self.trees:
            if mode is None:
                rows = np.arange(len(self.u))
            else:
                mask = self.allowed[mode]
                if key[1]:
                    arrays = network_arrays(graph, mode)
                    main = arrays.main
                    mask = mask & main[arrays.index_of(self.u)] & main[arrays.index_of(self.v)]
                rows = np.flatnonzero(mask)
            self.trees[key] = (shapely.STRtree(self.geometry[rows]), rows)
        return self.trees[key]


def way_key(osmid: Any) -> str:
    """The OSM way ids of an edge as one string (a simplified edge may list several): twins share it."""
    ids = osmid if isinstance(osmid, list) else [osmid]
    return ",".join(sorted(str(i) for i in ids))


def _edge_index(graph: nx.MultiDiGraph) -> _EdgeIndex:
    cache = graph_cache(graph)
    key = ("edges",)
    if key in cache:
        return cache[key]
    import geopandas as gpd
    import osmnx as ox

    edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True).reset_index()
    oneway = edges["oneway"].fillna(False).astype(bool) if "oneway" in edges else pd.Series(False, index=edges.index)
    edges["oneway"] = oneway.to_numpy()
    # one row per two-way street: its reverse twin has the same length and reversed geometry
    edges["a"] = np.where(edges["u"].to_numpy() <= edges["v"].to_numpy(), edges["u"], edges["v"])
    edges["b"] = np.where(edges["u"].to_numpy() <= edges["v"].to_numpy(), edges["v"], edges["u"])
    edges["len_cm"] = np.round(edges["length"].astype(float) * 100).astype(np.int64)
    edges["ways"] = [way_key(w) for w in edges["osmid"]] if "osmid" in edges else ""
    edges["backward"] = edges["u"].to_numpy() > edges["v"].to_numpy()
    edges = edges.sort_values(["backward", "a", "b", "key"], kind="stable")
    street = ["a", "b", "len_cm", "ways", "oneway"]
    for mode in TRAVEL_MODES:  # a mode may use the street if it may travel either twin, either way
        usable = np.isfinite(edges[time_attr(mode)].astype(float)) if time_attr(mode) in edges else True
        if back_attr(mode) in edges:
            usable = usable | np.isfinite(edges[back_attr(mode)].astype(float))
        edges["ok_" + mode] = usable
        edges["ok_" + mode] = edges.groupby(street)["ok_" + mode].transform("max").astype(bool)
    twin = edges.duplicated(street) & ~edges["oneway"]
    edges = edges[~twin.to_numpy()]
    geo = gpd.GeoSeries(edges["geometry"].to_numpy(), crs=graph.graph.get("crs", WGS84))
    crs = metric_crs(geo)
    projected = geo.to_crs(crs).to_numpy()
    allowed = {mode: edges["ok_" + mode].to_numpy(bool) for mode in TRAVEL_MODES}
    index = _EdgeIndex(
        crs=crs,
        u=edges["u"].to_numpy(),
        v=edges["v"].to_numpy(),
        key=edges["key"].to_numpy(),
        length_m=edges["length"].astype(float).to_numpy(),
        oneway=edges["oneway"].to_numpy(bool),
        geometry=projected,
        allowed=allowed,
        trees={},
    )
    cache[key] = index
    return index


def snap_points(
    graph: nx.MultiDiGraph,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    mode: str | None = None,
    far_snap_m: float = 150.0,
    main_only: bool = True,
) -> pd.DataFrame:
    """Snap WGS-84 points onto their nearest street edge.

    Parameters
    ----------
    graph
        Road network from ``load_network``.
    lon, lat
        Point coordinates, degrees (WGS-84).
    mode
        Only snap to streets this travel mode may use (``None``: any street).
    far_snap_m
        Log a warning naming how many points lie farther than this from any street, m.
    main_only
        With a ``mode``: only streets of the mode's routing network (its largest strongly
        connected component, see :mod:`gridmgmt.network.arrays`), so routes can start and end
        there. False: any street the mode may use (to find islands).

    Returns
    -------
    pandas.DataFrame
        One row per point, in input order: ``u``, ``v``, ``key`` (the directed edge),
        ``frac`` (0 at ``u`` .. 1 at ``v``), ``offset_m`` (distance from ``u`` along the
        edge, m), ``edge_length_m``, ``oneway``, ``snap_dist_m`` (point to street, m),
        ``snap_lon``, ``snap_lat`` (the snapped position). ``attrs["mode"]`` records ``mode``.
    """
    from pyproj import Transformer

    if mode is not None:
        check_mode(mode)
    lon_arr = np.asarray(lon, dtype=float)
    lat_arr = np.asarray(lat, dtype=float)
    if lon_arr.shape != lat_arr.shape or lon_arr.ndim != 1:
        raise ValueError("lon and lat must be 1-d arrays of the same length")
    if not (np.isfinite(lon_arr).all() and np.isfinite(lat_arr).all()):
        raise ValueError("lon and lat must be finite; drop or fix points without coordinates first")
    index = _edge_index(graph)
    tree, rows = index.tree(graph, mode, main_only)
    if len(rows) == 0:
        raise ValueError(f"the road network has no street that mode {mode!r} may use")
    to_m = Transformer.from_crs(WGS84, index.crs, always_xy=True)
    x, y = to_m.transform(lon_arr, lat_arr)
    points = shapely.points(x, y)
    hits, dist = tree.query_nearest(points, return_distance=True, all_matches=True)
    # ties (a point at a street corner): keep the lowest edge row, so snapping is deterministic
    order = np.lexsort((hits[1], hits[0]))
    first = order[np.r_[True, np.diff(hits[0][order]) != 0]]
    edge = rows[hits[1][first]]
    dist = dist[first]
    lines = index.geometry[edge]
    frac = shapely.line_locate_point(lines, points, normalized=True)
    frac = np.nan_to_num(frac, nan=0.0)  # zero-length edges
    length = index.length_m[edge]
    offset = frac * length
    frac = np.where(offset < _AT_NODE_M, 0.0, np.where(length - offset < _AT_NODE_M, 1.0, frac))
    snapped = shapely.line_interpolate_point(lines, frac, normalized=True)
    back = Transformer.from_crs(index.crs, WGS84, always_xy=True)
    snap_lon, snap_lat = back.transform(shapely.get_x(snapped), shapely.get_y(snapped))
    out = pd.DataFrame(
        {
            "u": index.u[edge],
            "v": index.v[edge],
            "key": index.key[edge],
            "frac": frac,
            "offset_m": frac * length,
            "edge_length_m": length,
            "oneway": index.oneway[edge],
            "snap_dist_m": dist,
            "snap_lon": snap_lon,
            "snap_lat": snap_lat,
        }
    )
    out.attrs["mode"] = mode
    far = int((dist > far_snap_m).sum())
    if far:
        log.warning(
            "%d of %d points lie farther than %.0f m from any street (farthest %.0f m); check their coordinates",
            far,
            len(out),
            far_snap_m,
            float(dist.max()),
        )
    return out
