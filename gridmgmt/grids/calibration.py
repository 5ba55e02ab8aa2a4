"""Calibration of the workload model on the road network: routed months of visits in sample areas.

Eight sample areas are grown from blocks spread over the distance to the nearest depot, holding
0.5 to 1.5 times a grid's share of retailers; for each, one month of visits of both departments
is split into daily tours (:func:`month_schedule`), every tour is solved as a TSP with OR-Tools
on the network travel-time matrix (every 4th working day, scaled), and
``routed = c_tour * sqrt(n * a) + beta * depot term`` is fitted by non-negative least squares
(see :mod:`gridmgmt.grids.workload` for the model).

No impossible trip is ever priced: a stop the travel mode cannot reach from the day's depot and
return from (``inf`` in the matrix) is left out of the tours and named, and :func:`tsp_tour_s`
refuses a matrix with ``inf`` in it. The fit error (:func:`fit_error`) is reported; above
:data:`MAX_FIT_ERROR` the theoretical tour coefficient is used instead and the calibration says why.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridmgmt.grids.workload import DEFAULT_MODE, WorkloadModel

if TYPE_CHECKING:
    import geopandas as gpd

    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)

_CAL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Largest accepted calibration fit error (:func:`fit_error`, 0-1). Above it the least-squares fit does not
#: describe the routed tours and the theoretical tour coefficient at the measured network speed is used.
MAX_FIT_ERROR = 0.25
#: Sample areas of a calibration. Eight rather than five: on the demo (seeds 0-3) the e-bike c_tour spans
#: 8.8-10.4 instead of 9.0-12.6 and the routed max/min 1.036-1.049 instead of 1.038-1.072; on a real
#: Monaco district with 6 grids 1.08-1.20 instead of 1.15-1.41.
N_SAMPLES = 8
#: Columns of the table of stops left out of routed tours because the mode cannot reach them.
UNREACHABLE_COLUMNS = ["retailer_id", "mode", "reason"]


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
        Sample areas: retailers (reachable), unreachable, stops, area_km2, access_min, depot_min,
        routed_min and fitted_min (by the coefficients in use).
    fit_error : float
        :func:`fit_error` of the least-squares fit on the sample areas (0-1; NaN when too few areas
        to fit). Above :data:`MAX_FIT_ERROR` the fit is not used (``fallback`` says so).
    fallback : str
        Why the theoretical tour coefficient is used instead of the fit ('' when the fit is used).
    unreachable : pandas.DataFrame
        Stops of the sample areas the mode cannot reach (``UNREACHABLE_COLUMNS``): left out of the
        tours and of the fit.
    """

    c_tour_min: float
    speed_kmh: float
    days_per_month: float
    mode: str
    samples: pd.DataFrame
    fit_error: float = float("nan")
    fallback: str = ""
    unreachable: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNREACHABLE_COLUMNS))

    def model(self) -> WorkloadModel:
        """The workload function with these coefficients."""
        return WorkloadModel(c_tour_min=self.c_tour_min, days_per_month=self.days_per_month, speed_kmh=self.speed_kmh)


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

    Raises
    ------
    ValueError
        If a trip of the matrix is impossible (``inf`` or NaN): leave unreachable stops out first
        (:func:`reachable_from`); an impossible trip is never priced.
    """
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = matrix_s.shape[0]
    if n <= 1:
        return 0.0
    if not np.isfinite(matrix_s).all():
        bad = np.argwhere(~np.isfinite(matrix_s))[0]
        raise ValueError(f"the travel-time matrix has an impossible trip ({bad[0]} -> {bad[1]}): "
                         "leave unreachable stops out of the tour instead of pricing them")  # fmt: skip
    if n == 2:
        return float(matrix_s[0, 1] + matrix_s[1, 0])
    mi = np.rint(matrix_s).astype(np.int64)
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
    day_offset: int = 0,
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
    day_offset : int, default 0
        First routed day (modulo ``day_stride``): other offsets sample the month's other days.

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
    for d in range(day_offset % day_stride, days, day_stride):
        nodes = idx[sched[d]]
        if depot is not None:
            nodes = np.concatenate([[depot], nodes])
        total_s += tsp_tour_s(matrix_s[np.ix_(nodes, nodes)])
        routed_days += 1
        stops += len(sched[d])
    scale = days_per_month / routed_days if routed_days else 0.0
    return total_s / 60.0 * scale, stops


# ---------------------------------------------------------------------------------- calibration


def lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of a point layer in WGS-84 (degrees)."""
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
    n_samples: int = N_SAMPLES,
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

    Stops the mode cannot reach from the day's depot (or not return from) are left out of the
    tours and of the fit and named in :attr:`Calibration.unreachable`; no trip is priced at a
    made-up time. When fewer than two areas remain, or the fit error (:func:`fit_error`) is above
    :data:`MAX_FIT_ERROR`, the theoretical tour coefficient at the network speed is used
    (:meth:`WorkloadModel.from_speed`, ``beta = 1``) and :attr:`Calibration.fallback` says why.

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
    lon, lat = lonlat(district.retailers)
    dlon, dlat = lonlat(district.depots)
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
    ids = work["retailer_id"].astype(str).to_numpy()
    rows = []
    lost = []
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
        month = routed_month_min(graph, (dlon, dlat), (lon[members], lat[members]), rxy[members],
                                 work.iloc[members], mode=mode, days=days, day_stride=day_stride)  # fmt: skip
        if month.unreachable.size:
            out = members[month.unreachable]
            lost.append(unreachable_table(graph, pd.DataFrame({"retailer_id": ids[out], "lon": lon[out],
                                                               "lat": lat[out]}), mode))  # fmt: skip
        members = np.delete(members, month.unreachable)  # the tours, and so the fit, leave them out
        if members.size < 10 or month.minutes <= 0:  # 0: no visit fell on the routed days, nothing to fit
            continue
        w = stops_all[members]
        centre = (rxy[members] * w[:, None]).sum(axis=0) / max(w.sum(), 1e-9)
        d_m = float(np.hypot(*(dxy - centre).T).min())
        depot_min = days * 2.0 * d_m / 1000.0 / speed * 60.0
        rows.append({"sample": s_i, "retailers": int(members.size), "unreachable": int(month.unreachable.size),
                     "stops": float(w.sum()), "area_km2": float(area_km2[take].sum()),
                     "access_min": float(access_all[members].sum()), "depot_min": depot_min,
                     "routed_min": month.minutes})  # fmt: skip
    samples = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    unreachable = (pd.concat(lost).drop_duplicates("retailer_id", ignore_index=True) if lost
                   else pd.DataFrame(columns=UNREACHABLE_COLUMNS))  # fmt: skip
    x = np.sqrt(samples["stops"] * samples["area_km2"]).to_numpy()
    dep_min = samples["depot_min"].to_numpy()
    y = samples["routed_min"].to_numpy()
    c, beta = _fit_tour_and_depot(x, dep_min, y)
    err = fit_error(c * x + beta * dep_min, y) if c > 0 else float("nan")
    fallback = ""
    if c <= 0:  # too few areas to fit (a small district)
        fallback = f"{len(samples)} usable sample areas, too few to fit"
    elif err > MAX_FIT_ERROR:
        fallback = f"the fit error {err:.1%} is above the {MAX_FIT_ERROR:.0%} limit"
    if fallback:  # the theoretical tour coefficient at the measured network speed
        c, beta = WorkloadModel.from_speed(speed, days).c_tour_min, 1.0
        fallback += f"; the theoretical tour coefficient at the network speed ({speed:.1f} km/h) is used"
    speed = speed / beta
    samples["depot_min"] = dep_min * beta
    samples["fitted_min"] = c * x + samples["depot_min"]
    cal = Calibration(c_tour_min=float(c), speed_kmh=speed, days_per_month=days, mode=mode, samples=samples,
                      fit_error=err, fallback=fallback, unreachable=unreachable)  # fmt: skip
    logger.info("workload calibration (%s): c_tour %.2f min/sqrt(stop km2) from %d areas (fit error %.1f%%), "
                "depot speed %.1f km/h, %d sample stops unreachable", mode, c, len(samples), 100 * err, speed,
                len(unreachable))  # fmt: skip
    if fallback:  # Calibration.fallback says it; grids build prints it
        logger.info("workload calibration (%s): %s", mode, fallback)
    _CAL_CACHE.setdefault(graph, {})[key] = cal
    return cal


def fit_error(fitted_min: np.ndarray, routed_min: np.ndarray) -> float:
    """Mean absolute relative error of fitted against routed minutes over the sample areas, 0-1 (NaN without any).

    ``mean(|fitted - routed| / routed)``: 0.1 means the model misses a sample area's routed travel
    by 10% on average.
    """
    y = np.asarray(routed_min, dtype=float)
    if y.size == 0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(fitted_min, dtype=float) - y) / np.maximum(y, 1e-9)))


SAMPLE_COLUMNS = ["sample", "retailers", "unreachable", "stops", "area_km2", "access_min", "depot_min", "routed_min"]


def _fit_tour_and_depot(x: np.ndarray, dep_min: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit ``routed = c * sqrt(n a) + beta * depot term``; (0, 1) when there is nothing to fit.

    ``beta > 1`` when days start farther than the work centre. A degenerate fit keeps the measured
    depot speed (``beta = 1``) and fits ``c`` alone.
    """
    from scipy.optimize import nnls

    if x.size < 2:
        return 0.0, 1.0
    (c, beta), _ = nnls(np.stack([x, dep_min], axis=1), y)
    if beta <= 0.5 or beta > 3.0 or c <= 0:
        beta = 1.0
        c = float(max((x * (y - dep_min)).sum() / max((x * x).sum(), 1e-12), 0.0))
    return float(c), float(beta)


@dataclass(frozen=True)
class RoutedMonth:
    """One month of both departments' visits to a set of stops, routed from one depot.

    Attributes
    ----------
    minutes : float
        Routed travel minutes per month (both departments), over the reachable stops only.
    depot : int
        Row of the depot the days start from, in the depots given.
    unreachable : numpy.ndarray of int
        Positions (in the stops given) the mode cannot reach from the depot or not return from:
        left out of the tours, never priced.
    """

    minutes: float
    depot: int
    unreachable: np.ndarray


def routed_month_min(
    graph: Any,
    depots_lonlat: tuple[np.ndarray, np.ndarray],
    stops_lonlat: tuple[np.ndarray, np.ndarray],
    stops_xy: np.ndarray,
    work: pd.DataFrame,
    *,
    mode: str,
    days: float,
    day_stride: int,
    day_offset: int = 0,
) -> RoutedMonth:
    """Routed travel minutes of one month of both departments' visits to these stops, from the nearest depot.

    ``work`` holds the stops' ``visits_marketing`` and ``visits_monopoly`` (rows aligned with
    ``stops_xy``, metres); each department's month is routed by :func:`route_month_min` from the
    depot that reaches most stops (then the least mean round trip). Stops that depot cannot reach
    in ``mode`` or not return from are left out (:attr:`RoutedMonth.unreachable`).
    """
    from gridmgmt.network import travel_time_matrix

    dlon, dlat = depots_lonlat
    lon, lat = stops_lonlat
    mat = travel_time_matrix(graph, (np.concatenate([dlon, lon]), np.concatenate([dlat, lat])), mode=mode,
                             dtype=np.float64)  # fmt: skip
    nd = len(dlon)
    depot = _nearest_depot(mat, nd)
    ok = reachable_from(mat, depot)[nd:]
    keep = np.concatenate([[depot], nd + np.flatnonzero(ok)])
    sub = mat[np.ix_(keep, keep)]
    xy = np.vstack([[0.0, 0.0], stops_xy[ok]])
    routed = 0.0
    for col in ("visits_marketing", "visits_monopoly"):
        f = np.concatenate([[0.0], work[col].to_numpy()[ok]])
        minutes, _ = route_month_min(
            sub, xy, f, days_per_month=days, depot=0, day_stride=day_stride, day_offset=day_offset
        )
        routed += minutes
    return RoutedMonth(minutes=routed, depot=depot, unreachable=np.flatnonzero(~ok))


def reachable_from(mat: np.ndarray, row: int) -> np.ndarray:
    """Points (rows of a square travel-time matrix) with a finite trip from ``row`` and back to it.

    Travel times are shortest paths, so any two such points reach each other (through ``row``
    if nothing shorter): a tour through them and ``row`` has no impossible leg.
    """
    return np.isfinite(mat[row, :]) & np.isfinite(mat[:, row])


def _nearest_depot(mat: np.ndarray, nd: int) -> int:
    """Depot (row < nd) reaching the most other points both ways, then with the least mean round trip to them."""
    if mat.shape[0] <= nd or nd <= 1:
        return 0
    trip = mat[:nd, nd:] + mat[nd:, :nd].T  # inf where either way is impossible
    ok = np.isfinite(trip)
    mean = np.where(ok, trip, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
    return int(np.lexsort((mean, -ok.sum(axis=1)))[0])


def unreachable_table(graph: Any, stops: pd.DataFrame, mode: str, *, depot: str = "") -> pd.DataFrame:
    """Rows of ``UNREACHABLE_COLUMNS`` naming stops a tour from ``depot`` cannot include in ``mode``.

    The reason is the network's (:func:`gridmgmt.network.reachability`: an island, a shop beyond
    the last street, ...); a stop the network reaches but not from this depot (the depot itself
    stranded) says so.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
    stops : pandas.DataFrame
        retailer_id, lon, lat (degrees) of the stops left out.
    mode : str
    depot : str, optional
        The depot's id, for the reason.
    """
    from gridmgmt.network import reachability

    where = f"depot {depot}" if depot else "the depot"
    reach = reachability(graph, stops["lon"].to_numpy(float), stops["lat"].to_numpy(float), mode=mode)
    reason = np.where(reach["reachable"].to_numpy(bool), f"no {mode} route from {where} to the shop and back",
                      reach["reason"].to_numpy(str))  # fmt: skip
    ids = stops["retailer_id"].astype(str).to_numpy()
    return pd.DataFrame({"retailer_id": ids, "mode": mode, "reason": reason}, columns=UNREACHABLE_COLUMNS)
