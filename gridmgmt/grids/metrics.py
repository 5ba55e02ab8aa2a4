"""Grid metrics: balance (max/min, CV), contiguity and Polsby-Popper compactness of a partition."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike, NDArray
    from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)


def balance_ratio(workload: ArrayLike) -> float:
    """Max over min of the grid workloads (1.0 is perfect; ``inf`` if a grid has none)."""
    w = np.asarray(workload, dtype=float)
    if w.size == 0:
        return float("nan")
    lo = float(w.min())
    return float(w.max()) / lo if lo > 0 else float("inf")


def coefficient_of_variation(workload: ArrayLike) -> float:
    """Standard deviation over mean of the grid workloads (population std)."""
    w = np.asarray(workload, dtype=float)
    m = float(w.mean()) if w.size else 0.0
    return float(w.std()) / m if m > 0 else float("nan")


def components_per_grid(labels: ArrayLike, edges: ArrayLike, k: int | None = None) -> NDArray[np.int64]:
    """Number of connected pieces of each grid on the unit adjacency (1 means contiguous).

    Parameters
    ----------
    labels : array_like of int
        Grid index 0..k-1 of every unit.
    edges : array_like of int, shape (m, 2)
        Adjacent unit pairs.
    k : int, optional
        Number of grids (default ``labels.max() + 1``); empty grids count 0 pieces.
    """
    lab = np.asarray(labels, dtype=np.int64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    n = lab.size
    k = int(lab.max()) + 1 if k is None else k
    same = lab[e[:, 0]] == lab[e[:, 1]]
    a, b = e[same, 0], e[same, 1]
    g = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)).tocsr()
    _, comp = csgraph.connected_components(g, directed=False)
    out = np.zeros(k, dtype=np.int64)
    pairs = np.unique(np.stack([lab, comp], axis=1), axis=0)
    np.add.at(out, pairs[:, 0], 1)
    return out


def polsby_popper_from_parts(area_m2: ArrayLike, perimeter_m: ArrayLike) -> NDArray[np.float64]:
    """Polsby-Popper compactness ``4 * pi * A / P**2`` from areas (m2) and perimeters (m)."""
    a = np.asarray(area_m2, dtype=float)
    p = np.asarray(perimeter_m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, 4.0 * math.pi * a / (p * p), 0.0)


def polsby_popper(geometry: gpd.GeoSeries | gpd.GeoDataFrame | BaseGeometry) -> object:
    """Polsby-Popper compactness of a polygon (float) or of every polygon in a GeoSeries (Series).

    The geometry must be in a metric CRS; holes count in the perimeter.
    """
    import geopandas as gpd
    import shapely

    if isinstance(geometry, gpd.GeoSeries | gpd.GeoDataFrame):
        geoms = geometry.geometry
        values = polsby_popper_from_parts(geoms.area.to_numpy(), geoms.length.to_numpy())
        return _series(values, geoms.index)
    return float(polsby_popper_from_parts(shapely.area(geometry), shapely.length(geometry)))


def _series(values: NDArray[np.float64], index: object) -> object:
    import pandas as pd

    return pd.Series(values, index=index, name="polsby_popper")


def grid_compactness(labels: ArrayLike, cells: gpd.GeoSeries, k: int | None = None) -> NDArray[np.float64]:
    """Polsby-Popper of each grid, from the union of its unit cells (metric CRS).

    Parameters
    ----------
    labels : array_like of int
        Grid index of every unit, aligned with ``cells``.
    cells : geopandas.GeoSeries
        One polygon per unit, in a projected (metric) CRS.
    k : int, optional
        Number of grids; empty grids get 0.
    """
    import shapely

    lab = np.asarray(labels, dtype=np.int64)
    k = int(lab.max()) + 1 if k is None else k
    geoms = np.asarray(cells.geometry.array if hasattr(cells, "geometry") else cells)
    out = np.zeros(k)
    for g in range(k):
        members = geoms[lab == g]
        if members.size:
            u = shapely.union_all(members, grid_size=None)
            out[g] = polsby_popper_from_parts(shapely.area(u), shapely.length(u))
    return out


def polygon_pieces(geometry: BaseGeometry) -> int:
    """Pieces of a (multi)polygon: parts that touch, even at a single point (a street corner), are one piece."""
    import shapely

    parts = shapely.get_parts(geometry)
    if len(parts) <= 1:
        return len(parts)
    a, b = shapely.STRtree(parts).query(parts, predicate="intersects")
    graph = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(len(parts), len(parts)))
    return int(csgraph.connected_components(graph, directed=False)[0])
