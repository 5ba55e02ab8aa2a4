"""Grid metrics: the workload model, balance, contiguity and compactness of a partition."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

#: Beardwood-Halton-Hammersley constant for a Euclidean tour through random points in the plane.
BHH_CONSTANT = 0.7124


def workload_min(
    service_min: ArrayLike,
    access_min: ArrayLike,
    stops_per_month: ArrayLike,
    area_km2: ArrayLike,
    depot_dist_m: ArrayLike,
    *,
    c_tour_min: float,
    days_per_month: float,
    speed_kmh: float,
) -> NDArray[np.float64]:
    """Monthly workload of one or more grids, minutes.

    ``W = S + A + c_tour * sqrt(n * a) + days * 2 * (d / 1000) / v * 60``

    where ``S`` is the service time on site (min/month), ``A`` the access time (parking, walking
    in; per-stop minutes times visits, min/month), ``n`` the stops per month, ``a`` the grid area
    (km2), ``d`` the distance from the grid to its depot (m) and ``v`` the travel speed (km/h).
    The third term is the Beardwood-Halton-Hammersley estimate of the tour time through ``n``
    stops spread over ``a``; it makes the workload non-additive over the units of a grid.

    Parameters
    ----------
    service_min, access_min : array_like
        Service and access minutes per month, summed over the grid.
    stops_per_month : array_like
        Visits (stops) per month, summed over the grid.
    area_km2 : array_like
        Grid area, km2.
    depot_dist_m : array_like
        Distance from the grid's centre of work to its depot, metres (0 to ignore depot trips).
    c_tour_min : float
        Tour coefficient, minutes per sqrt(stop * km2); see :meth:`WorkloadModel.from_speed`.
    days_per_month : float
        Working days per month (one depot round trip each).
    speed_kmh : float
        Travel speed for depot trips, km/h.

    Returns
    -------
    numpy.ndarray
        Workload, minutes per month, one value per grid.
    """
    s = np.asarray(service_min, dtype=float)
    a = np.asarray(access_min, dtype=float)
    n = np.clip(np.asarray(stops_per_month, dtype=float), 0.0, None)
    ar = np.clip(np.asarray(area_km2, dtype=float), 0.0, None)
    d = np.asarray(depot_dist_m, dtype=float)
    tour = c_tour_min * np.sqrt(n * ar)
    depot = days_per_month * 2.0 * (d / 1000.0) / speed_kmh * 60.0 if speed_kmh > 0 else 0.0 * d
    return np.asarray(s + a + tour + depot, dtype=float)


@dataclass(frozen=True)
class WorkloadModel:
    """The workload function with its coefficients; call it like :func:`workload_min`.

    Attributes
    ----------
    c_tour_min : float
        Minutes per sqrt(stop * km2) for the tour term.
    days_per_month : float
        Working days per month (depot round trips).
    speed_kmh : float
        Travel speed, km/h, for depot trips.
    """

    c_tour_min: float = 0.0
    days_per_month: float = 21.75
    speed_kmh: float = 15.0

    @classmethod
    def from_speed(cls, speed_kmh: float, days_per_month: float = 21.75, *, detour: float = 1.3) -> WorkloadModel:
        """Coefficients for daily tours at ``speed_kmh``.

        A month of ``D`` daily tours, each through ``n / D`` stops in ``a`` km2, is
        ``D * k * sqrt(n / D * a) = k * sqrt(D) * sqrt(n * a)`` km long (``k`` the BHH constant
        times a street ``detour`` factor), so ``c_tour_min = k * sqrt(D) * 60 / v``.
        """
        c = BHH_CONSTANT * detour * math.sqrt(days_per_month) * 60.0 / speed_kmh
        return cls(c_tour_min=c, days_per_month=days_per_month, speed_kmh=speed_kmh)

    def __call__(
        self,
        service_min: ArrayLike,
        access_min: ArrayLike,
        stops_per_month: ArrayLike,
        area_km2: ArrayLike,
        depot_dist_m: ArrayLike,
    ) -> NDArray[np.float64]:
        return workload_min(
            service_min,
            access_min,
            stops_per_month,
            area_km2,
            depot_dist_m,
            c_tour_min=self.c_tour_min,
            days_per_month=self.days_per_month,
            speed_kmh=self.speed_kmh,
        )


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


def polsby_popper(geometry: object) -> object:
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
