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
  least-squares fit of the routed minutes against ``sqrt(n * a)``;
* ``D * 2 * t_depot`` is the daily trip from the nearest depot to the grid and back, ``D`` working
  days per month (``grids.working_days_per_month``), ``t_depot = d / v_eff`` with ``d`` the straight
  distance from the depot to the grid's work centre (visit-weighted mean of its stops) and
  ``v_eff = v_net / beta``: ``v_net`` is the straight distance over the network travel time from
  the depots to 200 sampled retailers, and ``beta`` (>= 0.5) is fitted with ``c_tour`` on the routed
  sample areas (each day starts at a stop cluster, not at the work centre: ``beta`` is about 2 on the demo).

Calibration (``calibrate``): five sample areas grown from blocks spread over the distance to the
nearest depot, holding 0.5 to 1.5 times a grid's share of retailers; for each, one month of
visits of both departments is routed (every 4th working day, scaled) and
``routed = c_tour * sqrt(n * a) + beta * depot term`` is fitted by non-negative least squares.

Service (``S``) and travel (``A`` + tour + depot) are reported separately. :func:`verify_workload`
checks the estimate: it routes every day of a month for both staff of every grid (depot -> stops
-> depot, OR-Tools on the network matrix) and reports planning vs routed travel and the error.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmgmt.grids.metrics import WorkloadModel, balance_ratio, coefficient_of_variation

if TYPE_CHECKING:
    import geopandas as gpd

    from gridmgmt.grids.build import GridPlan
    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)

DEFAULT_ACCESS_MIN = 2.0
DEFAULT_MODE = "ebike"
_CAL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Calibration:
    """Coefficients of the travel terms, fitted on the road network.

    Attributes
    ----------
    c_tour_min : float
        Tour minutes per sqrt(stop * km2) per month.
    speed_kmh : float
        Effective depot-trip speed (straight distance / network time), km/h.
    days_per_month : float
        Working days per month.
    mode : str
        Travel mode of the routes.
    samples : pandas.DataFrame
        Sample areas: stops, area_km2, routed_min, fitted_min.
    """

    c_tour_min: float
    speed_kmh: float
    days_per_month: float
    mode: str
    samples: pd.DataFrame

    def model(self) -> WorkloadModel:
        """The workload function with these coefficients."""
        return WorkloadModel(c_tour_min=self.c_tour_min, days_per_month=self.days_per_month, speed_kmh=self.speed_kmh)


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


# ---------------------------------------------------------------------------------- routing


def _hilbert_key(xy: np.ndarray, order: int = 16) -> np.ndarray:
    """Hilbert-curve index of points (a compact visiting order without solving a big TSP)."""
    lo = xy.min(axis=0)
    span = max(float((xy.max(axis=0) - lo).max()), 1e-9)
    n = 1 << order
    x = ((xy[:, 0] - lo[0]) / span * (n - 1)).astype(np.int64)
    y = ((xy[:, 1] - lo[1]) / span * (n - 1)).astype(np.int64)
    d = np.zeros(len(xy), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), s - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), s - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d


def month_schedule(xy_m: np.ndarray, visits_per_month: np.ndarray, days: int) -> list[np.ndarray]:
    """Split one month of visits into daily stop lists.

    Retailers are ranked along a Hilbert curve (a compact order); a retailer at rank fraction
    ``p`` with ``f`` visits per month is visited at month fractions ``(p + j) / f`` (``j = 0, 1, ...``
    while below 1), so each day takes a contiguous stretch of the order per visit frequency.

    Returns
    -------
    list of numpy.ndarray
        ``days`` arrays of point indices (a retailer appears at most once a day).
    """
    n = len(xy_m)
    out: list[list[int]] = [[] for _ in range(days)]
    if n == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(days)]
    rank = np.empty(n)
    rank[np.argsort(_hilbert_key(xy_m), kind="stable")] = (np.arange(n) + 0.5) / n
    for i in range(n):
        f = float(visits_per_month[i])
        if f <= 0:
            continue
        j = 0
        while True:
            t = (rank[i] + j) / f
            if t >= 1.0:
                break
            day = min(int(t * days), days - 1)
            if not out[day] or out[day][-1] != i:
                out[day].append(i)
            j += 1
    return [np.asarray(d, dtype=np.int64) for d in out]


def tsp_tour_s(matrix_s: np.ndarray) -> float:
    """Length of a closed tour through every node of a (square) travel-time matrix, seconds.

    OR-Tools routing with one vehicle from node 0: path-cheapest-arc start then local search
    to a local optimum (deterministic, no time limit needed).
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = matrix_s.shape[0]
    if n <= 1:
        return 0.0
    if n == 2:
        return float(matrix_s[0, 1] + matrix_s[1, 0])
    m = np.where(np.isfinite(matrix_s), matrix_s, 1e6)
    mi = np.rint(m).astype(np.int64)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    cb = routing.RegisterTransitMatrix(mi.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    sol = routing.SolveWithParameters(params)
    if sol is None:
        raise RuntimeError("OR-Tools found no TSP tour")
    return float(sol.ObjectiveValue())


def route_month_min(
    matrix_s: np.ndarray,
    xy_m: np.ndarray,
    visits_per_month: np.ndarray,
    *,
    days_per_month: float,
    depot: int | None = None,
    day_stride: int = 1,
) -> tuple[float, int]:
    """Routed travel minutes of one person's month of visits.

    Parameters
    ----------
    matrix_s : numpy.ndarray
        Travel times between the stops (and the depot, if any), seconds.
    xy_m : numpy.ndarray
        Stop coordinates (metres), rows aligned with ``matrix_s`` (the depot row ignored).
    visits_per_month : numpy.ndarray
        Visits of each stop per month (0 for the depot).
    days_per_month : float
        Working days per month (routed days = round of it; minutes scaled back).
    depot : int, optional
        Row of the depot: every day starts and ends there; else tours are closed among the stops.
    day_stride : int, default 1
        Route every ``day_stride``-th day only and scale (for fast calibration).

    Returns
    -------
    (float, int)
        Travel minutes per month and the number of stops routed.
    """
    days = max(1, round(days_per_month))
    idx = np.arange(len(xy_m))
    if depot is not None:
        idx = idx[idx != depot]
    sched = month_schedule(xy_m[idx], visits_per_month[idx], days)
    total_s = 0.0
    routed_days = 0
    stops = 0
    for d in range(0, days, day_stride):
        nodes = idx[sched[d]]
        if depot is not None:
            nodes = np.concatenate([[depot], nodes])
        total_s += tsp_tour_s(matrix_s[np.ix_(nodes, nodes)])
        routed_days += 1
        stops += len(sched[d])
    scale = days_per_month / routed_days if routed_days else 0.0
    return total_s / 60.0 * scale, stops


# ---------------------------------------------------------------------------------- calibration


def _lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    g = frame.geometry
    return g.x.to_numpy(), g.y.to_numpy()


def calibrate(
    district: District,
    unit_labels: np.ndarray,
    blocks_cells: gpd.GeoDataFrame,
    block_edges: np.ndarray,
    work: pd.DataFrame,
    *,
    k: int | None = None,
    n_samples: int = 5,
    mode: str = DEFAULT_MODE,
    seed: int = 0,
    day_stride: int = 4,
) -> Calibration:
    """Fit ``c_tour_min`` and the depot speed on routed tours in sample areas of the district.

    The network speed is the straight distance over the network travel time from every depot to
    200 sampled retailers. Sample areas start from blocks at evenly spaced quantiles of the
    distance to the nearest depot and grow (nearest blocks first) until they hold 0.5 to 1.5
    times a grid's share of the retailers (``1 / k``). Each department's month of visits in an
    area is routed exactly as :func:`verify_workload` routes a grid (daily tours from the nearest
    depot; every ``day_stride``-th day, scaled), and ``routed = c_tour * sqrt(n * a) + beta *
    depot term`` is fitted by non-negative least squares; the depot speed becomes
    ``network speed / beta`` (a degenerate fit keeps ``beta = 1``).

    Parameters
    ----------
    district : District
    unit_labels : numpy.ndarray of int
        Block of every retailer (aligned with ``district.retailers``).
    blocks_cells : geopandas.GeoDataFrame
        Block polygons (metric CRS).
    block_edges : numpy.ndarray, shape (m, 2)
        Block adjacency.
    work : pandas.DataFrame
        From :func:`retailer_workload`.
    k : int, optional
        Number of grids the samples should resemble (default ``grids.count``).
    n_samples, mode, seed, day_stride
        Number of sample areas, travel mode, seed of the sample seeds, day subsampling.

    Returns
    -------
    Calibration
    """
    from gridmgmt.network import travel_time_matrix

    k = int(k or district.settings.grids.count)
    key = (id(district.retailers), len(work), k, n_samples, mode, seed, day_stride)
    cached = _CAL_CACHE.get(district.graph, {}).get(key)
    if cached is not None:
        return cached
    graph = district.graph
    days = float(district.settings.grids.working_days_per_month)
    rng = np.random.default_rng(seed)
    n_blocks = len(blocks_cells)
    area_km2 = blocks_cells.area.to_numpy() / 1e6
    per_block = np.bincount(unit_labels, minlength=n_blocks)
    cent = blocks_cells.geometry.centroid
    bxy = np.stack([cent.x.to_numpy(), cent.y.to_numpy()], axis=1)
    pts = district.retailers.to_crs(district.crs).geometry
    rxy = np.stack([pts.x.to_numpy(), pts.y.to_numpy()], axis=1)
    lon, lat = _lonlat(district.retailers)
    dlon, dlat = _lonlat(district.depots)
    deps = district.depots.to_crs(district.crs).geometry
    dxy = np.stack([deps.x.to_numpy(), deps.y.to_numpy()], axis=1)
    n_total = len(work)

    # effective depot speed
    pick = np.sort(rng.choice(n_total, size=min(200, n_total), replace=False))
    tmat = travel_time_matrix(graph, (dlon, dlat), (lon[pick], lat[pick]), mode=mode, dtype=np.float64)
    dist = np.hypot(rxy[pick, 0][None, :] - dxy[:, 0][:, None], rxy[pick, 1][None, :] - dxy[:, 1][:, None])
    ok = np.isfinite(tmat) & (tmat > 0)
    speed = float(dist[ok].sum() / tmat[ok].sum() * 3.6) if ok.any() else 10.0

    stops_all = work["stops_per_month"].to_numpy(dtype=float)
    access_all = work["access_min"].to_numpy(dtype=float)
    rows = []
    # seeds spread over the distance to the nearest depot (quantiles), so the depot term is fitted too
    occupied = np.flatnonzero(per_block > 0)
    depot_d = np.hypot(bxy[occupied, 0][:, None] - dxy[:, 0][None, :], bxy[occupied, 1][:, None] - dxy[:, 1][None, :])
    rank = occupied[np.argsort(depot_d.min(axis=1) + rng.uniform(0, 1e-3, occupied.size), kind="stable")]
    starts = rank[((np.arange(n_samples) + 0.5) / n_samples * rank.size).astype(int)]
    shares = np.linspace(0.5, 1.5, n_samples)[rng.permutation(n_samples)] / k
    for s_i, (start, share) in enumerate(zip(starts, shares, strict=True)):
        d2 = ((bxy - bxy[start]) ** 2).sum(axis=1)
        order = np.argsort(d2, kind="stable")
        cum = np.cumsum(per_block[order])
        take = order[: int(np.searchsorted(cum, share * n_total)) + 1]
        members = np.flatnonzero(np.isin(unit_labels, take))
        if members.size < 10:
            continue
        routed = _routed_month_min(graph, (dlon, dlat), (lon[members], lat[members]), rxy[members],
                                   work.iloc[members], mode=mode, days=days, day_stride=day_stride)  # fmt: skip
        w = stops_all[members]
        centre = (rxy[members] * w[:, None]).sum(axis=0) / max(w.sum(), 1e-9)
        d_m = float(np.hypot(*(dxy - centre).T).min())
        depot_min = days * 2.0 * d_m / 1000.0 / speed * 60.0
        rows.append({"sample": s_i, "retailers": int(members.size), "stops": float(w.sum()),
                     "area_km2": float(area_km2[take].sum()), "access_min": float(access_all[members].sum()),
                     "depot_min": depot_min, "routed_min": routed})  # fmt: skip
    samples = pd.DataFrame(rows)
    x = np.sqrt(samples["stops"] * samples["area_km2"]).to_numpy()
    dep_min = samples["depot_min"].to_numpy()
    y = samples["routed_min"].to_numpy()
    # routed = c * sqrt(n a) + beta * depot term: beta > 1 when days start farther than the work centre
    from scipy.optimize import nnls

    (c, beta), _ = nnls(np.stack([x, dep_min], axis=1), y)
    if beta <= 0.5 or beta > 3.0 or c <= 0:  # degenerate fit: keep the measured speed, fit c alone
        beta = 1.0
        c = float(max((x * (y - dep_min)).sum() / max((x * x).sum(), 1e-12), 0.0))
    speed = speed / beta
    samples["depot_min"] = dep_min * beta
    samples["fitted_min"] = c * x + samples["depot_min"]
    cal = Calibration(c_tour_min=float(c), speed_kmh=speed, days_per_month=days, mode=mode, samples=samples)
    err = np.abs(samples["fitted_min"] - samples["routed_min"]).sum() / max(samples["routed_min"].sum(), 1e-9)
    logger.info("workload calibration: c_tour %.2f min/sqrt(stop km2) from %d areas (fit error %.1f%%), "
                "depot speed %.1f km/h", c, len(samples), 100 * err, speed)  # fmt: skip
    _CAL_CACHE.setdefault(graph, {})[key] = cal
    return cal


def _routed_month_min(graph, depots_lonlat, stops_lonlat, stops_xy: np.ndarray, work: pd.DataFrame, *, mode: str,
                      days: float, day_stride: int) -> float:  # fmt: skip
    """Routed travel minutes of one month of both departments' visits to these stops, from the nearest depot."""
    from gridmgmt.network import travel_time_matrix

    dlon, dlat = depots_lonlat
    lon, lat = stops_lonlat
    mat = travel_time_matrix(graph, (np.concatenate([dlon, lon]), np.concatenate([dlat, lat])), mode=mode,
                             dtype=np.float64)  # fmt: skip
    nd = len(dlon)
    keep = np.concatenate([[_nearest_depot(mat, nd)], nd + np.arange(len(lon))])
    sub = mat[np.ix_(keep, keep)]
    xy = np.vstack([[0.0, 0.0], stops_xy])
    routed = 0.0
    for col in ("visits_marketing", "visits_monopoly"):
        f = np.concatenate([[0.0], work[col].to_numpy()])
        minutes, _ = route_month_min(sub, xy, f, days_per_month=days, depot=0, day_stride=day_stride)
        routed += minutes
    return routed


def _nearest_depot(mat: np.ndarray, nd: int) -> int:
    """Depot (row < nd) with the least mean round trip to the other points of the matrix."""
    if mat.shape[0] <= nd:
        return 0
    go = np.where(np.isfinite(mat[:nd, nd:]), mat[:nd, nd:], 1e6)
    back = np.where(np.isfinite(mat[nd:, :nd]), mat[nd:, :nd], 1e6).T
    return int(np.argmin((go + back).mean(axis=1)))


# ---------------------------------------------------------------------------------- verification


def verify_workload(
    district: District,
    plan: GridPlan | pd.DataFrame,
    *,
    mode: str | None = None,
    day_stride: int = 1,
) -> pd.DataFrame:
    """Route actual tours for every grid and compare with the planning estimate.

    For each grid and each department, one month of visits is split into working days
    (:func:`month_schedule`) and every day is routed depot -> stops -> depot (nearest depot by
    network time) as a TSP with OR-Tools on the network travel-time matrix. Routed travel =
    access time + routed minutes; the planning travel is the model's.

    Parameters
    ----------
    district : District
    plan : GridPlan or pandas.DataFrame
        A plan from :func:`~gridmgmt.grids.build.build_grids`, or an assignment
        (retailer_id, grid_id): then the grids are rebuilt from blocks to get their areas.
    mode : str, optional
        Travel mode (default the plan's calibration mode).
    day_stride : int, default 1
        Route every n-th day only and scale (1 = every day).

    Returns
    -------
    pandas.DataFrame
        One row per grid: grid_id, retailers, stops_per_month, service_min, planning_travel_min,
        routed_travel_min, travel_error_pct, planning_workload_min, routed_workload_min.
        ``attrs``: planning_ratio, routed_ratio, routed_cv, mean_abs_error_pct.
    """
    from gridmgmt.grids.build import GridPlan, plan_from_assignment

    if not isinstance(plan, GridPlan):
        plan = plan_from_assignment(district, plan)
    mode = mode or plan.metrics.get("mode", DEFAULT_MODE)
    days = float(district.settings.grids.working_days_per_month)
    work = retailer_workload(district, risk_level=plan.risk_level)
    access_per_stop = float(plan.metrics.get("access_min_per_stop", DEFAULT_ACCESS_MIN))
    work["access_min"] = work["stops_per_month"] * access_per_stop
    gid = plan.assignment.set_index("retailer_id")["grid_id"].reindex(work["retailer_id"]).to_numpy()
    lon, lat = _lonlat(district.retailers)
    pts = district.retailers.to_crs(district.crs).geometry
    rxy = np.stack([pts.x.to_numpy(), pts.y.to_numpy()], axis=1)
    dlon, dlat = _lonlat(district.depots)
    rows = []
    for _, g in plan.grids.iterrows():
        members = np.flatnonzero(gid == g["grid_id"])
        routed = _routed_month_min(district.graph, (dlon, dlat), (lon[members], lat[members]), rxy[members],
                                   work.iloc[members], mode=mode, days=days, day_stride=day_stride)  # fmt: skip
        access = float(work["access_min"].to_numpy()[members].sum())
        service = float(work["service_min"].to_numpy()[members].sum())
        planning_travel = float(g["travel_min"])
        routed_travel = access + routed
        rows.append({
            "grid_id": int(g["grid_id"]), "retailers": int(members.size),
            "stops_per_month": float(work["stops_per_month"].to_numpy()[members].sum()),
            "service_min": service, "planning_travel_min": planning_travel, "routed_travel_min": routed_travel,
            "travel_error_pct": 100.0 * (planning_travel - routed_travel) / max(routed_travel, 1e-9),
            "planning_workload_min": service + planning_travel, "routed_workload_min": service + routed_travel,
        })  # fmt: skip
    out = pd.DataFrame(rows)
    out.attrs.update(
        planning_ratio=balance_ratio(out["planning_workload_min"]),
        routed_ratio=balance_ratio(out["routed_workload_min"]),
        routed_cv=coefficient_of_variation(out["routed_workload_min"]),
        mean_abs_error_pct=float(out["travel_error_pct"].abs().mean()),
    )
    logger.info("verify: planning max/min %.3f, routed max/min %.3f, mean |travel error| %.1f%%",
                out.attrs["planning_ratio"], out.attrs["routed_ratio"], out.attrs["mean_abs_error_pct"])  # fmt: skip
    return out
