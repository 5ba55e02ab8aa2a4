"""Workload model of a service grid: service minutes plus travel minutes on the road network.

A grid is served by one pair: a customer manager (marketing) and a monopoly officer. Its
monthly workload in minutes is

    W = S + A + c_tour * sqrt(n * a) + D * 2 * t_depot

where

* ``S = sum_r (f_mkt(class_r) * s_mkt(type_r) + f_mono(risk_r) * s_insp(type_r))`` is the service
  time on site: visits per month ``f`` (``visits_per_month.marketing`` by customer class,
  ``visits_per_month.monopoly`` by risk level) times minutes per visit ``s`` by business type
  (``service_min.marketing`` and ``service_min.inspection``), both from district.toml;
* ``A = access_min_per_stop * n`` is the access time per stop (park, lock, walk in; default 2 min);
* ``n = sum_r (f_mkt + f_mono)`` is the number of stops per month, ``a`` the grid area (km2);
* ``c_tour * sqrt(n * a)`` is the tour time between stops. Its form is the Beardwood-Halton-
  Hammersley law; the coefficient ``c_tour`` (min / sqrt(stop km2)) is **calibrated on the road
  network**: for sample areas of the district, one month of visits is split into daily tours
  (stops in a compact order, each visited at its frequency) and every tour is solved as a TSP with
  OR-Tools on the network travel-time matrix (travel mode ``ebike`` by default); ``c_tour`` is the
  least-squares fit of the routed minutes against ``sqrt(n * a)``. Shops the mode cannot reach are
  left out of the tours (never priced); a fit error above 25% (mean absolute relative error over
  the sample areas) falls back to the theoretical coefficient of :meth:`WorkloadModel.from_speed`;
* ``D * 2 * t_depot`` is the daily trip from the depot to the grid and back, ``D`` working
  days per month (``grids.working_days_per_month``), ``t_depot = d / v_eff`` with ``d`` the straight
  distance from the depot to the grid's work centre (visit-weighted mean of its stops) and
  ``v_eff = v_net / beta``: ``v_net`` is the straight distance over the network travel time from
  the depots to 200 sampled retailers, and ``beta`` (>= 0.5) is fitted with ``c_tour`` on the routed
  sample areas (each day starts at a stop cluster, not at the work centre: ``beta`` is about 2 on the demo).

The coefficients ``c_tour`` and ``v_eff`` are fitted on routed tours by
:func:`gridmgmt.grids.calibration.calibrate`, once per travel mode; service (``S``) and travel
(``A`` + tour + depot) are reported separately. :class:`WorkloadModel` prices every grid for one
mode from the nearest depot; :class:`PairWorkload` prices each grid for the pair that serves it
(its mode's coefficients, its own depot), so a walking pair's grid comes out smaller.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)

#: ``f(service_min, access_min, stops_per_month, area_km2, depot_dist_m) -> workload_min`` per grid.
WorkloadFn = Callable[..., "NDArray[np.float64]"]

#: Beardwood-Halton-Hammersley constant for a Euclidean tour through random points in the plane.
BHH_CONSTANT = 0.7124
DEFAULT_ACCESS_MIN = 2.0
DEFAULT_MODE = "ebike"


def workload_min(
    service_min: ArrayLike,
    access_min: ArrayLike,
    stops_per_month: ArrayLike,
    area_km2: ArrayLike,
    depot_dist_m: ArrayLike,
    *,
    c_tour_min: ArrayLike,
    days_per_month: float,
    speed_kmh: ArrayLike,
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
    c_tour_min : float or array_like
        Tour coefficient, minutes per sqrt(stop * km2); see :meth:`WorkloadModel.from_speed`. An
        array gives each grid its own (the travel mode of the pair serving it).
    days_per_month : float
        Working days per month (one depot round trip each).
    speed_kmh : float or array_like
        Travel speed for depot trips, km/h (one per grid, or one for all; 0 ignores depot trips).

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
    v = np.asarray(speed_kmh, dtype=float)
    tour = np.asarray(c_tour_min, dtype=float) * np.sqrt(n * ar)
    depot = np.where(v > 0, days_per_month * 2.0 * (d / 1000.0) / np.where(v > 0, v, 1.0) * 60.0, 0.0 * d)
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


@dataclass(frozen=True)
class PairWorkload:
    """The workload function of grids each served by its own pair: the pair's mode and depot per grid.

    Grid ``g`` (an index 0..k-1 of the search) is priced with the tour coefficient and depot speed
    calibrated for its pair's travel mode and the distance to its pair's depot, so a walking pair's
    grid is smaller than a car pair's of the same workload. Call it like :class:`WorkloadModel`,
    with ``grids`` naming the grid of every row.

    Attributes
    ----------
    c_tour_min : numpy.ndarray, shape (k,)
        Tour minutes per sqrt(stop * km2) of each grid's pair.
    speed_kmh : numpy.ndarray, shape (k,)
        Effective depot-trip speed of each grid's pair, km/h.
    depot : numpy.ndarray of int, shape (k,)
        Row of each grid's depot in the unit table's ``depot_xy_m`` (-1: the nearest depot).
    days_per_month : float
        Working days per month (depot round trips).
    """

    c_tour_min: NDArray[np.float64]
    speed_kmh: NDArray[np.float64]
    depot: NDArray[np.int64]
    days_per_month: float = 21.75

    @property
    def k(self) -> int:
        """Number of grids priced."""
        return int(np.asarray(self.c_tour_min).size)

    def __call__(
        self,
        service_min: ArrayLike,
        access_min: ArrayLike,
        stops_per_month: ArrayLike,
        area_km2: ArrayLike,
        depot_dist_m: ArrayLike,
        grids: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        g = np.arange(self.k) if grids is None else np.asarray(grids, dtype=np.int64)
        return workload_min(
            service_min, access_min, stops_per_month, area_km2, depot_dist_m,
            c_tour_min=np.asarray(self.c_tour_min)[g], days_per_month=self.days_per_month,
            speed_kmh=np.asarray(self.speed_kmh)[g],
        )  # fmt: skip

    def scaled(self, travel_factor: ArrayLike) -> PairWorkload:
        """The model with each grid's tour and depot minutes times its factor (access minutes unchanged)."""
        f = np.asarray(travel_factor, dtype=float)
        return PairWorkload(np.asarray(self.c_tour_min) * f, np.asarray(self.speed_kmh) / f, self.depot,
                            self.days_per_month)  # fmt: skip

    def without(self, g: int) -> PairWorkload:
        """The model with grid ``g`` removed (grids above it shift down by one)."""
        return PairWorkload(np.delete(self.c_tour_min, g), np.delete(self.speed_kmh, g), np.delete(self.depot, g),
                            self.days_per_month)  # fmt: skip

    def with_grid(self, c_tour_min: float, speed_kmh: float, depot: int = -1) -> PairWorkload:
        """The model with one more grid (last index), priced with these coefficients."""
        return PairWorkload(np.append(self.c_tour_min, c_tour_min), np.append(self.speed_kmh, speed_kmh),
                            np.append(self.depot, depot).astype(np.int64), self.days_per_month)  # fmt: skip


def risk_levels(district: District, risk_level: pd.Series | None = None) -> pd.Series:
    """Risk level per retailer: ``risk_level`` given (by retailer_id), else a ``risk_level`` column, else medium."""
    ids = district.retailers["retailer_id"].astype(str)
    if risk_level is not None:
        out = pd.Series(risk_level).reindex(ids.to_numpy())
    elif "risk_level" in district.retailers:
        out = pd.Series(district.retailers["risk_level"].to_numpy(), index=ids.to_numpy())
    else:
        out = pd.Series("medium", index=ids.to_numpy())
    return out.fillna("medium").astype(str)


def retailer_workload(
    district: District,
    *,
    risk_level: pd.Series | None = None,
    access_min_per_stop: float = DEFAULT_ACCESS_MIN,
) -> pd.DataFrame:
    """Monthly visits and on-site minutes of every retailer, by department.

    Parameters
    ----------
    district : District
    risk_level : pandas.Series, optional
        Risk level (high, medium, low) by retailer_id; default the ``risk_level`` column, else medium.
    access_min_per_stop : float, default 2
        Minutes per stop to park and walk in.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``district.retailers``: retailer_id, visits_marketing, visits_monopoly,
        stops_per_month, service_marketing_min, service_monopoly_min, service_min, access_min.
    """
    s = district.settings
    r = district.retailers
    btype = r["business_type"].astype(str)
    cls = r["customer_class"].astype(str)
    risk = risk_levels(district, risk_level).to_numpy()
    f_m = cls.map(s.visits_per_month.marketing).fillna(1.0).to_numpy(dtype=float)
    f_z = pd.Series(risk).map(s.visits_per_month.monopoly).fillna(1.0).to_numpy(dtype=float)
    s_m = btype.map(s.service_min.marketing).fillna(s.service_min.marketing.get("other", 10.0)).to_numpy(dtype=float)
    s_z = btype.map(s.service_min.inspection).fillna(s.service_min.inspection.get("other", 12.0)).to_numpy(dtype=float)
    stops = f_m + f_z
    return pd.DataFrame(
        {
            "retailer_id": r["retailer_id"].astype(str).to_numpy(),
            "visits_marketing": f_m,
            "visits_monopoly": f_z,
            "stops_per_month": stops,
            "service_marketing_min": f_m * s_m,
            "service_monopoly_min": f_z * s_z,
            "service_min": f_m * s_m + f_z * s_z,
            "access_min": stops * access_min_per_stop,
        }
    )
