"""Build and rebalance the service grids of a District: blocks, partition, polygons, staff pairs, metrics.

:func:`build_grids` partitions the street blocks (:mod:`gridmgmt.grids.units`) into ``k``
balanced, contiguous, compact grids with the workload model of :mod:`gridmgmt.grids.workload`;
:func:`rebalance_grids` starts from a current plan and moves as few retailers as possible;
:func:`write_grid_plan` writes ``grids.gpkg`` (layers ``grids`` and ``assignment``) and CSV copies.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridmgmt import io
from gridmgmt._errors import InfeasiblePlanError, InputError, Problem
from gridmgmt.coords import WGS84
from gridmgmt.grids.blocks import Blocks, assign_points, boundary_on_street_share, split_heavy_blocks, street_blocks
from gridmgmt.grids.calibration import Calibration, calibrate
from gridmgmt.grids.metrics import balance_ratio, coefficient_of_variation, components_per_grid, polygon_pieces
from gridmgmt.grids.pairs import (
    available_min,
    form_pairs,
    grid_staff,
    match_pairs,
    pair_workload,
    pairs_of_grids,
    pinned_pairs,
    settle_pairs,
    travel_cost,
)
from gridmgmt.grids.partition import PartitionResult, check_k, partition, refine
from gridmgmt.grids.plan import GridPlan, grids_gpkg_path, read_grid_plan
from gridmgmt.grids.rebalance import fill_new, rebalance
from gridmgmt.grids.search import SearchState
from gridmgmt.grids.unit_table import UnitTable
from gridmgmt.grids.verify import ROUTED_FACTOR_RANGE, check_plan, routed_factors
from gridmgmt.grids.workload import DEFAULT_ACCESS_MIN, DEFAULT_MODE, WorkloadModel, retailer_workload

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from gridmgmt.grids.workload import WorkloadFn
    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)

#: Crossing cost of an adjacency lying along a major road (street-graph distance x (1 + cost)).
MAJOR_ROAD_COST = 2.0
SPLIT_PERIMETER = 3.0  # a grid boundary through a split heavy block counts three times its length
#: seed of the calibration sample areas: fixed, so that plans built or rebalanced with any seed share one model
CALIBRATION_SEED = 0
#: a unit (block) may hold at most 1/this of a grid's on-site minutes; denser blocks are split
MIN_UNITS_PER_GRID = 12
#: Polsby-Popper the least compact grid may lose when the grids are priced on their routes (else not kept),
#: unless it stays at or above PRICED_PP_FLOOR (the compactness searches' own floor, ``min_compactness``)
PRICED_PP_SLACK = 0.005
PRICED_PP_FLOOR = 0.40
_BLOCK_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: precision grid (m) of a grid's outline when its cells do not union into one piece at full precision
_SNAP_M = 0.1


# ---------------------------------------------------------------------------------- units


def district_blocks(district: District) -> Blocks:
    """Street blocks of a district (cached per road network)."""
    graph = district.graph
    key = (shapely.to_wkb(district.boundary.union_all()), str(district.crs))
    cache = _BLOCK_CACHE.setdefault(graph, {})
    if key not in cache:
        cache[key] = street_blocks(graph, district.boundary, district.crs)
    return cache[key]


def split_weighted(blocks: Blocks, factor: float = SPLIT_PERIMETER) -> tuple[np.ndarray, np.ndarray]:
    """Shared lengths and cell perimeters (m) with the lines splitting heavy blocks counted ``factor`` times.

    A block holding more work than a grid may carry is split between its retailers; a grid
    boundary along such a line runs through the block, on no street a pair can patrol, so the
    search pays more perimeter for it (on a real clipped Monaco extract with 4 pairs: 82% -> 100% of
    the boundary on streets; the demo is unchanged). The bookkeeping stays exact: an inner edge
    still cancels out of a grid's perimeter.
    """
    extra = blocks.shared_m * (factor - 1.0) * blocks.split_share
    perimeter = blocks.cells.length.to_numpy() + np.bincount(blocks.edges.ravel(), np.repeat(extra, 2), blocks.n)
    return blocks.shared_m + extra, perimeter


def _dissolve_cells(cells: np.ndarray, others: np.ndarray | None = None, max_hole_m2: float = 2000.0) -> BaseGeometry:
    """Union of block cells without sliver holes or slits: the gaps floating-point noise leaves between cells.

    A hole smaller than ``max_hole_m2`` (m2; the smallest street block, ``street_blocks``'
    ``min_block_m2``) holding no cell of ``others`` (the other grids' cells) is filled.
    """
    u = shapely.union_all(cells)
    if shapely.get_num_geometries(u) > 1:
        # neighbouring cells cut apart (street splits, Voronoi parts) may miss each other by centimetres
        u = shapely.union_all(cells, grid_size=_SNAP_M)
    # and leave slits open to the outside (a demo grid had one 195 m long): a closing seals them
    u = shapely.buffer(shapely.buffer(u, _SNAP_M, join_style="mitre"), -_SNAP_M, join_style="mitre")
    inner = shapely.point_on_surface(others) if others is not None and len(others) else np.empty(0, dtype=object)
    parts = []
    for p in shapely.get_parts(u):
        rings = [shapely.Polygon(r) for r in p.interiors]
        holes = [r for r in rings if r.area >= max_hole_m2 or shapely.contains_properly(r, inner).any()]
        parts.append(shapely.Polygon(p.exterior, [r.exterior for r in holes]))
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


@dataclass
class _Setup:
    blocks: Blocks
    work: pd.DataFrame
    retailer_block: np.ndarray
    units: UnitTable
    cal: Calibration
    pairs: pd.DataFrame
    cals: dict[str, Calibration]  # calibration of each pair travel mode (and of the first partition's mode)

    @property
    def models(self) -> dict[str, WorkloadModel]:
        """Workload model of each pair travel mode (calibrated for that mode)."""
        return {m: c.model() for m, c in self.cals.items()}


def _setup(
    district: District,
    *,
    risk_level: pd.Series | None,
    access_min_per_stop: float,
    mode: str,
    seed: int,
    calibration: Calibration | None,
    k: int | None = None,
    min_units_per_grid: int = MIN_UNITS_PER_GRID,
) -> _Setup:
    if len(district.retailers) == 0:
        raise InfeasiblePlanError("the district has no retailers: nothing to divide into grids")
    blocks = district_blocks(district)
    work = retailer_workload(district, risk_level=risk_level, access_min_per_stop=access_min_per_stop)
    pts = district.retailers.to_crs(district.crs).geometry
    rb = assign_points(blocks, pts)
    # units must be fine enough to balance k grids: at most 1/MIN_UNITS_PER_GRID of a grid's on-site minutes
    kk = int(k or district.settings.grids.count)
    w_r = (work["service_min"] + work["access_min"]).to_numpy(dtype=float)
    cap = w_r.sum() / (kk * max(int(min_units_per_grid), 1))
    if np.bincount(rb, weights=w_r, minlength=blocks.n).max() > cap:
        key = ("split", round(cap, 3), len(w_r), id(district.retailers))
        cache = _BLOCK_CACHE.setdefault(district.graph, {})
        if key not in cache:
            xy = np.stack([pts.x.to_numpy(), pts.y.to_numpy()], axis=1)
            cache[key] = split_heavy_blocks(blocks, xy, rb, w_r, cap)
        blocks = cache[key]
        rb = assign_points(blocks, pts)
    n = blocks.n

    def agg(col: str) -> np.ndarray:
        return np.bincount(rb, weights=work[col].to_numpy(dtype=float), minlength=n)

    cal = calibration or calibrate(
        district, rb, blocks.cells, blocks.edges, work, k=k, mode=mode, seed=CALIBRATION_SEED
    )
    pairs = form_pairs(district.staff, district.depots["depot_id"].astype(str))
    # each pair's grid is priced for its travel mode: one calibration per mode (routes use one mode)
    cals = {cal.mode: cal}
    for m in sorted(set(pairs["travel_mode"]) - {cal.mode}):
        cals[m] = calibrate(district, rb, blocks.cells, blocks.edges, work, k=k, mode=m, seed=CALIBRATION_SEED)
    cent = blocks.cells.geometry.centroid
    xy = np.stack([cent.x.to_numpy(), cent.y.to_numpy()], axis=1)
    deps = district.depots.to_crs(district.crs).geometry
    shared_m, perimeter_m = split_weighted(blocks)
    units = UnitTable.from_arrays(
        xy, agg("service_min"), access_min=agg("access_min"), stops_per_month=agg("stops_per_month"),
        area_km2=blocks.cells.area.to_numpy() / 1e6, n_retailers=np.bincount(rb, minlength=n).astype(float),
        edges=blocks.edges, crossing_cost=MAJOR_ROAD_COST * blocks.major_share, shared_m=shared_m,
        perimeter_m=perimeter_m, unit_id=np.arange(n),
        depot_xy_m=np.stack([deps.x.to_numpy(), deps.y.to_numpy()], axis=1), cells=blocks.cells.geometry,
    )  # fmt: skip
    return _Setup(blocks, work, rb, units, cal, pairs, cals)


# ---------------------------------------------------------------------------------- tables


def _worst(values: Any) -> float:
    """The largest finite value (NaN when there is none)."""
    finite = [float(v) for v in values if np.isfinite(v)]
    return max(finite) if finite else float("nan")


def _old_town_share(district: District, geoms: gpd.GeoSeries) -> np.ndarray:
    subs = district.subdistricts
    if subs is None or "area_type" not in subs:
        return np.full(len(geoms), np.nan)
    old = subs.loc[subs["area_type"] == "old_town"]
    if old.empty:
        return np.zeros(len(geoms))
    zone = shapely.make_valid(old.to_crs(district.crs).union_all())
    g = np.asarray(geoms.geometry.array)
    return shapely.area(shapely.intersection(g, zone)) / np.maximum(shapely.area(g), 1e-9)


def _plan_from_labels(
    district: District,
    s: _Setup,
    labels: np.ndarray,
    res: PartitionResult,
    *,
    risk_level: pd.Series | None,
    staff: pd.DataFrame,
    access_min_per_stop: float,
    t0: float,
) -> GridPlan:
    """Assemble the GridPlan: polygons by dissolving blocks, per-grid numbers, assignment."""
    k = int(labels.max()) + 1
    cells = s.blocks.cells.geometry.to_numpy()
    geoms = [_dissolve_cells(cells[labels == g], cells[labels != g]) for g in range(k)]
    metric = gpd.GeoSeries(geoms, crs=district.crs)
    area_km2 = metric.area.to_numpy() / 1e6
    pp = 4 * np.pi * metric.area.to_numpy() / np.maximum(metric.length.to_numpy() ** 2, 1e-9)
    rgrid = labels[s.retailer_block]
    n_ret = np.bincount(rgrid, minlength=k)
    service = np.bincount(rgrid, weights=s.work["service_min"].to_numpy(), minlength=k)
    workload = np.asarray(res.workload_min, dtype=float)
    grids = gpd.GeoDataFrame(
        {
            "grid_id": np.arange(1, k + 1),
            "retailers": n_ret,
            "workload_min": workload.round(1),
            "service_min": service.round(1),
            "travel_min": (workload - service).round(1),
            "area_km2": area_km2.round(4),
            "density_per_km2": (n_ret / np.maximum(area_km2, 1e-9)).round(1),
            "polsby_popper": pp.round(4),
        },
        geometry=geoms,
        crs=district.crs,
    )
    grids["old_town_share"] = _old_town_share(district, grids.geometry).round(4)
    grids = grids.merge(staff, on="grid_id", how="left")
    available = available_min(district.settings, district.staff, grids)
    grids["available_min"] = available.round(1)
    grids["utilisation"] = (workload / available).round(3)
    comps = components_per_grid(labels, s.units.edges, k)
    pieces = np.array([polygon_pieces(g) for g in geoms])
    on_street = boundary_on_street_share(metric, s.blocks.streets) if k > 1 else float("nan")
    assignment = pd.DataFrame({"retailer_id": s.work["retailer_id"].to_numpy(), "grid_id": rgrid + 1})
    metrics: dict[str, Any] = {
        "k": k,
        "retailers": len(assignment),
        "balance": balance_ratio(workload),
        "cv": coefficient_of_variation(workload),
        "tolerance": float(res.tolerance),
        "contiguous": bool((comps == 1).all() and (pieces == 1).all()),
        "polsby_popper_mean": float(pp.mean()),
        "polsby_popper_min": float(pp.min()),
        "boundary_on_street": on_street,
        "blocks": int(s.blocks.n),
        "c_tour_min": s.cal.c_tour_min,
        "depot_speed_kmh": s.cal.speed_kmh,
        "mode": s.cal.mode,
        "calibration_fit_error": _worst(c.fit_error for c in s.cals.values()),
        "pair_modes": {
            m: {
                "c_tour_min": round(c.c_tour_min, 3),
                "depot_speed_kmh": round(c.speed_kmh, 3),
                "fit_error": round(c.fit_error, 4),
                "sample_areas": len(c.samples),
                "fallback": c.fallback,
            }
            for m, c in sorted(s.cals.items())
        },
        "utilisation_min": _worst(-grids["utilisation"]) * -1.0,
        "utilisation_max": _worst(grids["utilisation"]),
        "access_min_per_stop": access_min_per_stop,
        "elapsed_s": time.perf_counter() - t0,
    }
    gw = grids.to_crs(WGS84)
    return GridPlan(
        grids=gw,
        assignment=assignment,
        metrics=metrics,
        block_grid=labels + 1,
        risk_level=risk_level,
        district=district.settings.file,
    )


# ---------------------------------------------------------------------------------- build


def _default_k(district: District) -> int:
    staff = district.staff
    pairs = min(int((staff["department"] == "marketing").sum()), int((staff["department"] == "monopoly").sum()))
    return pairs if pairs >= 1 else int(district.settings.grids.count)


def _match_old_ids(district: District, labels_r: np.ndarray, k: int) -> np.ndarray | None:
    """New grid index -> old grid id (1-based) by retailer overlap, when retailers carry grid_id."""
    from scipy.optimize import linear_sum_assignment

    if "grid_id" not in district.retailers:
        return None
    old = pd.to_numeric(district.retailers["grid_id"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(old)
    if not ok.any():
        return None
    old_ids = np.unique(old[ok]).astype(int)
    ct = np.zeros((k, old_ids.size))
    np.add.at(ct, (labels_r[ok], np.searchsorted(old_ids, old[ok].astype(int))), 1.0)
    rows, cols = linear_sum_assignment(-ct)
    out = np.zeros(k, dtype=int)
    out[rows] = old_ids[cols]
    return out


def _renumber(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Relabel so that grid ``order[i]`` becomes grid ``i``."""
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    return inv[labels]


def build_grids(
    district: District,
    k: int | None = None,
    *,
    seed: int = 0,
    tolerance: float | None = None,
    risk_level: pd.Series | None = None,
    access_min_per_stop: float = DEFAULT_ACCESS_MIN,
    mode: str = DEFAULT_MODE,
    calibration: Calibration | None = None,
    min_units_per_grid: int = MIN_UNITS_PER_GRID,
    pins: Mapping[str, int] | None = None,
    check: bool = True,
    progress: Callable[[str], None] | None = None,
) -> GridPlan:
    """Partition all retailers of a district into ``k`` balanced, contiguous, compact grids, one pair each.

    The grids of a first partition (priced for ``mode`` from the nearest depot) are matched to the
    staff pairs (:mod:`gridmgmt.grids.pairs`) and re-balanced with every grid priced for its own
    pair's travel mode and depot, until the matching holds. When the retailers carry the grid ids
    of an earlier plan, grids keep the id they overlap most and pairs keep their ``staff.grid_id``;
    otherwise pairs go to grids by a minimum-cost assignment on their travel, and then neighbouring
    grids are cut anew where that makes them more compact (:func:`~gridmgmt.grids.search.resplit`).

    Parameters
    ----------
    district : District
    k : int, optional
        Number of grids; default the number of staff pairs (else ``grids.count``).
    seed : int, default 0
        Seed of the partition start (same seed, same plan). The calibration samples use
        :data:`CALIBRATION_SEED`, so every plan of a district is scored on the same model.
    tolerance : float, optional
        Max/min workload on the planning estimate; default ``grids.balance_tolerance``.
    risk_level : pandas.Series, optional
        Risk level by retailer_id for the monopoly visit frequency (default medium).
    access_min_per_stop : float, default 2
        Minutes per stop to park and walk in.
    mode : str, default "ebike"
        Travel mode of the calibration tours.
    calibration : Calibration, optional
        Reuse a calibration instead of routing sample areas.
    min_units_per_grid : int, default 12
        Street blocks holding more than 1/this of a grid's on-site minutes are split (Voronoi
        parts around their retailers) so that dense districts can be balanced; higher values
        balance finer at the cost of boundaries off the streets and time.
    pins : mapping of str to int, optional
        ``{staff_id: grid_id}``: the pair holding that member serves that grid (``--pin M03=5``).
    check : bool, default True
        Route the plan's month and compare (:func:`~gridmgmt.grids.verify.check_plan`): adds
        ``max_min_routed``, ``unreachable`` and ``warnings`` to the metrics and the routed workload
        to the grids (about 3 s on the demo; every n-th working day above
        :data:`~gridmgmt.grids.verify.CHECK_STOPS_PER_MONTH` stops a month). Then each grid's
        travel is priced on its routes and the grids are balanced again, or searched anew, and
        checked again on other days (:func:`_price_on_routes`); a priced plan is kept when it
        routes closer to balance and its least compact grid loses at most :data:`PRICED_PP_SLACK`
        or stays at or above :data:`PRICED_PP_FLOOR` (then the grids carry ``routed_factor`` and
        the metrics ``max_min_routed_model`` and ``travel_error_pct_model``: the model's plan).
    progress : callable, optional
        Called with one line per stage (calibration, search, each routed check): a large
        district's build takes minutes.

    Returns
    -------
    GridPlan

    Raises
    ------
    InfeasiblePlanError
        ``k`` < 1, ``k`` greater than the retailers or than the street blocks.
    InputError
        Pins naming unknown staff or grids, or two pairs on one grid.
    """
    t0 = time.perf_counter()
    k = _default_k(district) if k is None else k
    k = check_k(k, len(district.retailers), of="retailers")
    tol = float(tolerance if tolerance is not None else district.settings.grids.balance_tolerance)
    say = progress or (lambda text: None)
    say("calibrating the workload model on routed sample areas")
    s = _setup(district, risk_level=risk_level, access_min_per_stop=access_min_per_stop, mode=mode, seed=seed,
               calibration=calibration, k=k, min_units_per_grid=min_units_per_grid)  # fmt: skip
    fixed = pinned_pairs(s.pairs, pins, np.arange(1, k + 1))  # checked before the long search
    say(f"searching {k} balanced, compact grids")
    found = _search(district, s, k, seed=seed, tolerance=tol, fixed=fixed)
    plan = _plan_from_labels(district, s, found.res.labels, found.res, risk_level=risk_level, staff=found.staff,
                             access_min_per_stop=access_min_per_stop, t0=t0)  # fmt: skip
    if check:
        say("routing every grid's month of visits (the check)")
        routed = check_plan(district, plan)
        if k > 1:  # one grid has nothing to balance
            plan, found = _price_on_routes(district, s, plan, found, routed, seed=seed, tolerance=tol, fixed=fixed,
                                           risk_level=risk_level, access_min_per_stop=access_min_per_stop,
                                           t0=t0, say=say)  # fmt: skip
    rounds, old = found.rounds, found.matched_old
    plan.metrics.update(seed=seed, matching_rounds=rounds,
                        pairs_matched_by="earlier grids" if old else "travel")  # fmt: skip
    logger.info("grids: K=%d, max/min %.4f, PP mean %.2f min %.2f, boundary on street %.1f%% in %.1f s",
                k, plan.metrics["balance"], plan.metrics["polsby_popper_mean"], plan.metrics["polsby_popper_min"],
                100 * plan.metrics["boundary_on_street"], plan.metrics["elapsed_s"])  # fmt: skip
    return plan


@dataclass
class _Found:
    """The grids of one search, their pairs and how they were matched."""

    res: PartitionResult
    pair_of_grid: np.ndarray
    rounds: int
    matched_old: bool  # grids took the ids of an earlier plan the retailers carry
    staff: pd.DataFrame


def _search(district: District, s: _Setup, k: int, *, seed: int, tolerance: float, fixed: Mapping[int, int]) -> _Found:
    """Partition, number the grids, settle pairs and grids together and (new grids) re-split for compactness."""
    fixed = dict(fixed)
    res = partition(s.units, k, seed=seed, tolerance=tolerance, workload_fn=s.cal.model(), resplit_grids=False)
    labels = res.labels
    # numbering: match previous grid ids where retailers carry them, else north-west first
    old = _match_old_ids(district, labels[s.retailer_block], k)
    if old is not None:
        taken = set(old[old > 0].tolist())
        spare = iter(g for g in range(1, k + 1) if g not in taken)
        ids = np.array([o if 1 <= o <= k else next(spare) for o in old])
        if len(set(ids.tolist())) != k:  # old ids beyond k: fall back to geographic order
            old = None
        else:
            labels = (ids - 1)[labels]
    if old is None:
        xy = s.units.xy_m
        cx = np.bincount(labels, weights=xy[:, 0] * s.units.area_km2, minlength=k)
        cy = np.bincount(labels, weights=xy[:, 1] * s.units.area_km2, minlength=k)
        order = np.lexsort((cx, -np.round(cy / 1000.0)))  # north to south in 1 km bands, then west to east
        labels = _renumber(labels, order)
    key = s.pairs["key"].to_numpy(dtype=float)
    preferred = np.where(np.isfinite(key) & (key >= 1) & (key <= k), np.nan_to_num(key) - 1, -1).astype(np.int64)
    if old is not None:  # staff.grid_id names the earlier grids: pairs keep them (pins first)
        for p in np.flatnonzero(preferred >= 0):
            if p not in fixed and preferred[p] not in fixed.values():
                fixed[int(p)] = int(preferred[p])
    res, pair_of_grid, rounds = settle_pairs(s.units, labels, s.pairs, s.models, s.cal.model(), tolerance=tolerance,
                                             fixed=fixed, preferred=preferred)  # fmt: skip
    if old is None:  # large moves once every grid is priced for its pair (earlier grids' ids stay where they were)
        fn = pair_workload(s.pairs, pair_of_grid, s.models, s.cal.model())
        res = refine(s.units, res.labels, tolerance=tolerance, workload_fn=fn, resplit_grids=True)
    staff = grid_staff(s.pairs, pair_of_grid, np.arange(1, k + 1))
    return _Found(res, pair_of_grid, rounds, old is not None, staff)


def _price_on_routes(
    district: District,
    s: _Setup,
    plan: GridPlan,
    found: _Found,
    routed: pd.DataFrame,
    *,
    seed: int,
    tolerance: float,
    fixed: Mapping[int, int],
    risk_level: pd.Series | None,
    access_min_per_stop: float,
    t0: float,
    say: Callable[[str], None],
) -> tuple[GridPlan, _Found]:
    """The grids balanced again with their travel priced on the routes of the plan's own check, and checked again.

    The district's model (two coefficients per travel mode) misses single grids, e.g. a grid
    around its depot or one on the sparse edge of town, by up to half its travel. The check
    measures each grid's factor (:func:`~gridmgmt.grids.verify.routed_factors`), and:

    1. the grids are balanced again from where they are, each grid's travel times its factor
       (boundary moves and re-splits);
    2. when that cannot reach the tolerance (factors too far apart for boundary moves, as in a
       large city), every street block takes its grid's factor and the whole search runs anew,
       each new grid's travel scaled by the stop-weighted mean factor of its blocks; that plan is
       checked, and step 1 runs on it with the factors of its own check.

    Each priced plan is checked on other days of the month than its factors came from when the
    check samples days (every day otherwise). A priced plan is kept when it routes closer to
    balance than the best so far and is as compact as the model's (:func:`_better_on_routes`
    against the model's plan); priced grids carry ``routed_factor``
    (their travel over the district model's) and the metrics ``routed_factor_min``/``_max``,
    ``max_min_routed_model`` and ``travel_error_pct_model`` (the model's plan), and a warning names
    grids the model missed by more than :data:`~gridmgmt.grids.verify.ROUTED_FACTOR_RANGE`.
    """
    k = found.res.k
    stride = int(routed.attrs["day_stride"])
    offsets = iter(i * max(1, stride // 3) % stride for i in range(1, 3))
    first = routed_factors(routed, access_min_per_stop, k)
    best, best_found = plan, found

    def checked(setup: _Setup, candidate: _Found, grid_factor: np.ndarray) -> pd.DataFrame:
        nonlocal best, best_found
        priced = _plan_from_labels(district, setup, candidate.res.labels, candidate.res, risk_level=risk_level,
                                   staff=candidate.staff, access_min_per_stop=access_min_per_stop,
                                   t0=t0)  # fmt: skip
        by_place = SearchState(setup.units, candidate.res.labels, k, setup.cal.model()).travel_factor()
        priced.grids["routed_factor"] = (by_place * grid_factor).round(4)
        say(f"routing the priced grids (the model's grids routed at max/min {plan.metrics['max_min_routed']:.3f})")
        v = check_plan(district, priced, day_stride=stride, day_offset=next(offsets))
        logger.info("grids: priced on routes: routed max/min %.4f, PP mean %.3f min %.3f",
                    priced.metrics["max_min_routed"], priced.metrics["polsby_popper_mean"],
                    priced.metrics["polsby_popper_min"])  # fmt: skip
        # closer to balance than the best so far, as compact as the model's grids (the slack is not spent twice)
        closer = priced.metrics["max_min_routed"] <= best.metrics["max_min_routed"]
        if closer and _better_on_routes(plan, priced) is priced:
            best, best_found = priced, candidate
        return v

    setup, factor = s, first
    say("balancing the grids again, each priced on its routes")
    moved = _refine_priced(setup, found, factor, tolerance=tolerance)
    if moved is None:  # too far for boundary moves: search anew with each block priced on its grid's routes
        setup = dataclasses.replace(s, units=s.units.with_travel_factor(first[found.res.labels]))
        say("searching the grids anew, each street block priced on its grid's routes")
        anew = _search(district, setup, k, seed=seed, tolerance=tolerance, fixed=fixed)
        factor = routed_factors(checked(setup, anew, np.ones(k)), access_min_per_stop, k)
        moved = _refine_priced(setup, anew, factor, tolerance=tolerance)
    if moved is not None:
        checked(setup, moved, factor)
    if best is not plan:
        lo, hi = ROUTED_FACTOR_RANGE
        odd = [f"{g + 1} ({first[g]:.2f}x)" for g in np.flatnonzero((first < lo) | (first > hi))]
        if odd:
            best.metrics["warnings"].append(
                f"the workload model missed grid{'s' * (len(odd) > 1)} {', '.join(odd)} of the first plan by more "
                "than a third of its travel (routed over modelled minutes); the grids are priced on their routes"
            )
        best.metrics.update(max_min_routed_model=plan.metrics["max_min_routed"],
                            travel_error_pct_model=plan.metrics["travel_error_pct"],
                            routed_factor_min=float(best.grids["routed_factor"].min()),
                            routed_factor_max=float(best.grids["routed_factor"].max()))  # fmt: skip
    return best, best_found


def _refine_priced(s: _Setup, found: _Found, factor: np.ndarray, *, tolerance: float) -> _Found | None:
    """The grids balanced again from where they are with each grid's travel times ``factor`` (re-split too
    unless they keep an earlier plan's ids); None when boundary moves cannot reach the tolerance."""
    fn = pair_workload(s.pairs, found.pair_of_grid, s.models, s.cal.model()).scaled(factor)
    res = refine(s.units, found.res.labels, tolerance=tolerance, workload_fn=fn)
    if res.balance > tolerance:
        logger.info("grids: priced on routes, boundary moves reach max/min %.4f only", res.balance)
        return None
    if not found.matched_old:
        res = refine(s.units, res.labels, tolerance=tolerance, workload_fn=fn, resplit_grids=True)
    return dataclasses.replace(found, res=res)


def _better_on_routes(model: GridPlan, priced: GridPlan) -> GridPlan:
    """The priced plan if it routes no worse and its least compact grid loses <= PRICED_PP_SLACK or stays at or
    above PRICED_PP_FLOOR; else the model's."""
    m, p = model.metrics, priced.metrics
    as_compact = p["polsby_popper_min"] >= min(m["polsby_popper_min"] - PRICED_PP_SLACK, PRICED_PP_FLOOR)
    if p["max_min_routed"] <= m["max_min_routed"] and as_compact:
        return priced
    logger.info("grids: priced on routes, routed max/min %.4f and PP min %.3f against %.4f and %.3f: not kept",
                p["max_min_routed"], p["polsby_popper_min"], m["max_min_routed"], m["polsby_popper_min"])  # fmt: skip
    return model


def _grid_workload(s: _Setup, labels: np.ndarray, k: int, fn: WorkloadFn) -> np.ndarray:
    """Exact planning workload per grid (the model on grid aggregates; depot from the work centre)."""
    return SearchState(s.units, np.asarray(labels, dtype=np.int64), k, fn).W


def read_lock_retailers(path: str | Path, known: set[str]) -> list[str]:
    """Retailer ids to lock, from a CSV (column ``retailer_id``, or the first column).

    Raises
    ------
    InputError
        Missing file, or ids not among the district's retailers (file, row, field named).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(Problem(file=str(p), message="lock file not found"))
    table = io.read_table(p)
    col = "retailer_id" if "retailer_id" in table else table.columns[0]
    ids = table[col].astype(str).str.strip()
    problems = [
        Problem(file=str(p), row=int(i) + 2, field=col, value=v, message="retailer not in the district's retailers",
                hint="lock retailers by the licence numbers of retailers.csv")
        for i, v in enumerate(ids) if v not in known
    ]  # fmt: skip
    if problems:
        raise InputError(problems)
    return ids.tolist()


def plan_from_assignment(district: District, assignment: pd.DataFrame) -> GridPlan:
    """A GridPlan (polygons, per-grid numbers) from an assignment table: blocks take their retailers' majority grid."""
    ids = pd.Series(assignment["grid_id"].to_numpy(), index=assignment["retailer_id"].astype(str))
    gid = ids.reindex(district.retailers["retailer_id"].astype(str)).to_numpy(dtype=float)
    grid_ids = np.unique(gid[np.isfinite(gid)]).astype(int)
    s = _setup(district, risk_level=None, access_min_per_stop=DEFAULT_ACCESS_MIN, mode=DEFAULT_MODE, seed=0,
               calibration=None, k=int(grid_ids.size))  # fmt: skip
    lab_r = np.where(np.isfinite(gid), np.searchsorted(grid_ids, np.nan_to_num(gid).astype(int)), -1)
    block = _block_labels_from_retailers(s, lab_r, grid_ids.size)
    # pairs matched on travel, as a build matches them (the grids are not re-balanced)
    pair_of_grid = match_pairs(travel_cost(s.pairs, s.units, block, grid_ids.size, s.models))
    fn = pair_workload(s.pairs, pair_of_grid, s.models, s.cal.model())
    res = PartitionResult(labels=block, workload_min=_grid_workload(s, block, grid_ids.size, fn), balance=0.0,
                          tolerance=float(district.settings.grids.balance_tolerance))  # fmt: skip
    staff = grid_staff(s.pairs, pair_of_grid, np.arange(1, grid_ids.size + 1))
    return _plan_from_labels(district, s, block, res, risk_level=None, staff=staff,
                             access_min_per_stop=DEFAULT_ACCESS_MIN, t0=time.perf_counter())  # fmt: skip


def _block_labels_from_retailers(s: _Setup, lab_r: np.ndarray, k: int) -> np.ndarray:
    """Majority grid of each block's retailers; blocks without retailers take their neighbours' grid."""
    n = s.blocks.n
    counts = np.zeros((n, k))
    ok = lab_r >= 0
    np.add.at(counts, (s.retailer_block[ok], lab_r[ok]), 1.0)
    lab = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)
    return fill_new(s.units, lab, k)


def _block_labels_from_polygons(s: _Setup, grids: gpd.GeoDataFrame, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Grid index of each block by its representative point (largest overlap for the few that straddle)."""
    g = grids.to_crs(crs)
    gids = g["grid_id"].to_numpy()
    order = np.argsort(gids, kind="stable")
    geoms = np.asarray(g.geometry.array)[order]
    cells = np.asarray(s.blocks.cells.geometry.array)
    rp = shapely.point_on_surface(cells)
    tree = shapely.STRtree(geoms)
    bi, gi = tree.query(rp, predicate="within")
    lab = np.full(len(cells), -1, dtype=np.int64)
    lab[bi] = gi
    return lab, gids[order]


# ---------------------------------------------------------------------------------- rebalance


def rebalance_grids(
    district: District,
    current: str | Path | GridPlan,
    *,
    k: int | None = None,
    lock_retailers: str | Path | Sequence[str] | None = None,
    lock_grids: Sequence[int] | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    risk_level: pd.Series | None = None,
    access_min_per_stop: float = DEFAULT_ACCESS_MIN,
    mode: str = DEFAULT_MODE,
    calibration: Calibration | None = None,
    pins: Mapping[str, int] | None = None,
) -> tuple[GridPlan, pd.DataFrame, dict[str, dict[str, Any]]]:
    """Restore balance from the current grids, moving as few retailers as possible.

    New retailers (in ``district.retailers`` but not in the current assignment) join the grid of
    their block (or its neighbours); retailers in the assignment but gone from the inputs are
    closures. Boundary blocks then move between neighbouring grids only, keeping every grid
    contiguous and compact. With a different ``k`` one grid is dissolved into its neighbours
    (the one that moves the fewest retailers) or the heaviest is split. Grids keep their staff
    pairs (a new grid takes a pair left without one) and every grid is priced for its pair's
    travel mode and depot; grid ids are renumbered 1..K in the old order.

    Parameters
    ----------
    district : District
        The inputs now (new and closed retailers included).
    current : str, Path or GridPlan
        The current plan: a GridPlan, a ``grids.gpkg`` or the folder holding it.
    k : int, optional
        Number of grids wanted (default: as now).
    lock_retailers : path or sequence of str, optional
        Retailers that must keep their grid (a CSV with ``retailer_id``, or ids).
    lock_grids : sequence of int, optional
        Grid ids (current numbering) that neither give nor take retailers.
    seed : int, default 0
        Recorded in the metrics (the rebalance itself is deterministic; the calibration uses
        :data:`CALIBRATION_SEED`).
    tolerance : float, optional
        Max/min to reach; default ``grids.routed_tolerance`` (1.05), the balance asked of routed
        workloads: a rebalance trades balance for retailers moved, and need not be tighter than that.
    pins : mapping of str to int, optional
        ``{staff_id: grid_id}`` (current grid ids): the pair holding that member takes that grid;
        the grid's pair until now takes the pinned pair's old grid.

    Returns
    -------
    (GridPlan, pandas.DataFrame, dict)
        The new plan; moves (retailer_id, from_grid, to_grid, reason: new | closed | grid_removed |
        rebalance); ``{"before": {...}, "after": {...}}`` metrics (before = current grids with
        the changed retailers).

    Raises
    ------
    InputError
        Assignment naming grids the grids layer lacks, locks naming unknown retailers or grids,
        pins naming unknown staff or grids.
    InfeasiblePlanError
        Bad ``k``, or locks that make the tolerance impossible (the message names them).
    """
    t0 = time.perf_counter()
    cur = current if isinstance(current, GridPlan) else read_grid_plan(current)
    src = "current plan" if isinstance(current, GridPlan) else str(grids_gpkg_path(current))
    ids_now = district.retailers["retailer_id"].astype(str)
    locked_ids = _locked_retailer_ids(lock_retailers, set(ids_now))
    grid_ids = np.sort(cur.grids["grid_id"].astype(int).to_numpy())
    _check_lock_grids(lock_grids, grid_ids)
    k_old = grid_ids.size
    k_new = k_old if k is None else check_k(k, len(district.retailers), of="retailers")
    tol = float(tolerance if tolerance is not None else district.settings.grids.routed_tolerance)

    # calibrated for the current number of grids, so "before" numbers match the plan that was built
    s = _setup(district, risk_level=risk_level, access_min_per_stop=access_min_per_stop, mode=mode, seed=seed,
               calibration=calibration, k=k_old)  # fmt: skip
    now = _current_labels(s, current, cur, grid_ids, ids_now, district.crs)
    locked_blocks = np.zeros(s.blocks.n, dtype=bool)
    if locked_ids:
        pos = pd.Index(ids_now).get_indexer(locked_ids)
        locked_blocks[s.retailer_block[pos]] = True
    locked_grid_idx = [int(np.searchsorted(grid_ids, int(g))) for g in (lock_grids or [])]
    names = [int(g) for g in grid_ids]
    pair_of_grid = _current_pairs(s, cur, grid_ids, pins)
    factor = _plan_factors(cur, grid_ids)
    fn = pair_workload(s.pairs, pair_of_grid, s.models, s.cal.model()).scaled(factor)
    before = _metrics_of(s, now.block_lab, k_old, fn)
    # the cost of moving a block is the retailers it already had: new shops change grid for free
    staying = np.bincount(s.retailer_block[~now.is_new], minlength=s.blocks.n).astype(float)
    units = dataclasses.replace(s.units, n_retailers=staying)
    res = _rebalance_search(units, now.block_lab, k_new, locked_blocks, locked_grid_idx, tol, fn, names, k_old,
                            locked_ids)  # fmt: skip
    staff = grid_staff(s.pairs, _pairs_kept(s, pair_of_grid, res), np.arange(1, res.k + 1))
    plan = _plan_from_labels(district, s, res.labels, res, risk_level=risk_level, staff=staff,
                             access_min_per_stop=access_min_per_stop, t0=t0)  # fmt: skip
    if np.any(factor != 1.0):  # grids keep their routed travel factor; a new grid (a split) has none yet
        plan.grids["routed_factor"] = _follow_grids(factor, res, 1.0).round(4)
    moves, n_moved, n_closed = _moves_table(s, res, now, ids_now, k_old)
    n_staying = int((~now.is_new).sum())
    plan.metrics.update(
        moved=n_moved, moved_share=float(n_moved / max(n_staying, 1)), new=int(now.is_new.sum()),
        closed=n_closed, source=src, seed=seed,
    )  # fmt: skip
    after = {key: plan.metrics[key] for key in ("k", "balance", "cv", "contiguous", "polsby_popper_mean",
                                                 "polsby_popper_min", "moved", "moved_share")}  # fmt: skip
    logger.info("rebalance: K %d -> %d, %d retailers moved (%.1f%%), max/min %.4f -> %.4f", k_old, res.k,
                n_moved, 100 * plan.metrics["moved_share"], before["balance"], plan.metrics["balance"])  # fmt: skip
    return plan, moves, {"before": before, "after": after}


def _locked_retailer_ids(lock_retailers: str | Path | Sequence[str] | None, known: set[str]) -> list[str]:
    """Retailer ids to lock, from a CSV or a sequence; each must be one of the district's retailers."""
    if lock_retailers is None:
        return []
    if isinstance(lock_retailers, str | Path):
        return read_lock_retailers(lock_retailers, known)
    locked_ids = [str(v) for v in lock_retailers]
    unknown = [v for v in locked_ids if v not in known]
    if unknown:
        msg = "retailer not in the district's retailers"
        raise InputError([Problem(file="lock_retailers", field="retailer_id", value=v, message=msg)
                          for v in unknown[:20]])  # fmt: skip
    return locked_ids


def _check_lock_grids(lock_grids: Sequence[int] | None, grid_ids: np.ndarray) -> None:
    """Locked grids must be grids of the current plan."""
    bad_locks = [g for g in (lock_grids or []) if int(g) not in set(grid_ids.tolist())]
    if bad_locks:
        msg = f"grid id not in the current grids ({grid_ids.min()}..{grid_ids.max()})"
        raise InputError(Problem(file="lock_grids", field="grid_id", value=bad_locks[0], message=msg))


@dataclass
class _Current:
    """The current plan on today's blocks and retailers."""

    block_lab: np.ndarray  # grid index of every block
    lab_r: np.ndarray  # grid index of every retailer now (-1: new)
    old_r: pd.Series  # grid id by retailer_id, as assigned (closed retailers included)
    old_gid: np.ndarray  # grid id of every retailer now (NaN: new)
    is_new: np.ndarray  # retailers not in the current assignment


def _current_labels(
    s: _Setup, current: str | Path | GridPlan, cur: GridPlan, grid_ids: np.ndarray, ids_now: pd.Series, crs: Any
) -> _Current:
    """Current grid of every block and retailer: blocks follow their retailers, empty blocks the polygons."""
    if isinstance(current, GridPlan) and current.block_grid is not None and len(current.block_grid) == s.blocks.n:
        block_lab = np.searchsorted(grid_ids, current.block_grid)
    else:
        block_lab, _ = _block_labels_from_polygons(s, cur.grids, crs)
    old_r = cur.assignment.set_index("retailer_id")["grid_id"]
    old_gid = old_r.reindex(ids_now.to_numpy()).to_numpy(dtype=float)
    is_new = ~np.isfinite(old_gid)
    lab_r = np.where(is_new, -1, np.searchsorted(grid_ids, np.nan_to_num(old_gid).astype(int)))
    # blocks holding retailers follow their retailers (majority); empty blocks keep the polygon's grid
    from_retailers = _block_labels_from_retailers(s, lab_r, grid_ids.size)
    has = np.bincount(s.retailer_block[~is_new], minlength=s.blocks.n) > 0
    block_lab = np.where(has | (block_lab < 0), from_retailers, block_lab)
    return _Current(block_lab=block_lab, lab_r=lab_r, old_r=old_r, old_gid=old_gid, is_new=is_new)


def _current_pairs(s: _Setup, cur: GridPlan, grid_ids: np.ndarray, pins: Mapping[str, int] | None) -> np.ndarray:
    """Pair row of every current grid (sorted ids): the plan's staff columns, else staff.grid_id; pins swap."""
    grids = cur.grids.set_index("grid_id").loc[grid_ids].reset_index()
    if {"customer_manager", "monopoly_officer"} & set(grids.columns):
        pog = pairs_of_grids(s.pairs, grids)
    else:
        key = s.pairs["key"].to_numpy(dtype=float)
        pog = np.array([int(np.flatnonzero(key == g)[0]) if (key == g).any() else -1 for g in grid_ids])
    for p, g in pinned_pairs(s.pairs, pins, grid_ids).items():
        was = np.flatnonzero(pog == p)
        if was.size:  # the grid's pair until now takes the pinned pair's old grid
            pog[was[0]] = pog[g]
        pog[g] = p
    return pog


def _plan_factors(cur: GridPlan, grid_ids: np.ndarray) -> np.ndarray:
    """Each current grid's routed travel factor (sorted ids; 1 where the plan has none)."""
    if "routed_factor" not in cur.grids:
        return np.ones(grid_ids.size)
    f = pd.to_numeric(cur.grids.set_index("grid_id")["routed_factor"], errors="coerce").reindex(grid_ids)
    f = f.to_numpy(dtype=float)
    return np.where(np.isfinite(f) & (f > 0), f, 1.0)


def _follow_grids(values: np.ndarray, res: PartitionResult, fill: Any) -> np.ndarray:
    """Per-grid ``values`` of the old grids, moved to the new grid indices of a rebalance (``fill`` for a split's)."""
    out = np.full(res.k, fill, dtype=values.dtype)
    for old_idx, new_idx in res.label_map.items():
        if new_idx is not None:
            out[int(new_idx)] = values[old_idx]
    return out


def _pairs_kept(s: _Setup, pair_of_grid: np.ndarray, res: PartitionResult) -> np.ndarray:
    """Pairs follow their grids; a new grid (a split) takes a pair left without a grid, if any."""
    out = _follow_grids(np.asarray(pair_of_grid, dtype=np.int64), res, -1)
    free = iter(p for p in range(len(s.pairs)) if p not in set(out.tolist()))
    return np.array([p if p >= 0 else next(free, -1) for p in out], dtype=np.int64)


def _moves_table(
    s: _Setup, res: PartitionResult, now: _Current, ids_now: pd.Series, k_old: int
) -> tuple[pd.DataFrame, int, int]:
    """Moves retailer by retailer (new, rebalance, grid_removed, closed), the retailers moved and closed."""
    lookup = np.array([-1 if res.label_map.get(g) is None else res.label_map[g] for g in range(k_old)])
    new_r = res.labels[s.retailer_block]
    is_new, old_r = now.is_new, now.old_r
    mapped = np.where(is_new, -2, lookup[np.maximum(now.lab_r, 0)])
    moved = ~is_new & (new_r != mapped)
    dissolved = ~is_new & (mapped == -1)
    rows = [pd.DataFrame({"retailer_id": ids_now[is_new].to_numpy(), "from_grid": pd.NA,
                          "to_grid": new_r[is_new] + 1, "reason": "new"})]  # fmt: skip
    rows.append(pd.DataFrame({"retailer_id": ids_now[moved].to_numpy(),
                              "from_grid": now.old_gid[moved].astype(int), "to_grid": new_r[moved] + 1,
                              "reason": np.where(dissolved[moved], "grid_removed", "rebalance")}))  # fmt: skip
    closed = old_r.index[~old_r.index.isin(set(ids_now))]
    rows.append(pd.DataFrame({"retailer_id": closed.to_numpy(), "from_grid": old_r.loc[closed].to_numpy(),
                              "to_grid": pd.NA, "reason": "closed"}))  # fmt: skip
    moves = (
        pd.concat([r for r in rows if len(r)], ignore_index=True)
        if any(len(r) for r in rows)
        else pd.DataFrame(columns=["retailer_id", "from_grid", "to_grid", "reason"])
    )
    moves["from_grid"] = moves["from_grid"].astype("Int64")
    moves["to_grid"] = moves["to_grid"].astype("Int64")
    return moves, int(moved.sum()), len(closed)


#: Polsby-Popper slack (how much compactness a grid may lose) tried by rebalance_grids, strictest first;
#: the last (None) drops the compactness guard, so a balanced plan is found even when shapes must give
REBALANCE_SLACKS = (0.05, 0.10, 0.15, None)
#: retailer weights of the search; each keeps its strictest feasible slack, and of those plans the strictest,
#: then the one moving fewest retailers is kept (the greedy search's outcome moves by tenths of a percent with
#: the weight)
REBALANCE_WEIGHTS = (2.0, 3.0)


def _rebalance_search(
    units: UnitTable,
    block_lab: np.ndarray,
    k_new: int,
    locked_blocks: np.ndarray,
    locked_grid_idx: list[int],
    tol: float,
    model: WorkloadFn,
    names: list[int],
    k_old: int,
    locked_ids: list[str],
) -> PartitionResult:
    """Rebalance with each retailer weight at the strictest feasible slack; keep the plan with the strictest
    slack, and of those the one moving fewest (compactness is a constraint, not a cost of moves)."""
    best: PartitionResult | None = None
    best_key: tuple[bool, int, float] | None = None
    error: InfeasiblePlanError | None = None

    def key(res: PartitionResult, strictness: int) -> tuple[bool, int, float]:
        if res.is_feasible():
            return (False, strictness, res.moved_retailers)
        return (True, 0, res.balance)

    for weight in REBALANCE_WEIGHTS:
        for strictness, slack in enumerate(REBALANCE_SLACKS):
            floor, crossing = (1.0, 1.0) if slack is not None else (0.0, 0.0)
            try:
                res = rebalance(units, block_lab, k_new, locked_units=locked_blocks, locked_grids=locked_grid_idx,
                                tolerance=tol, workload_fn=model, grid_names=names, dissolve_candidates=k_old,
                                min_compactness=floor, compactness_slack=slack or 0.0, crossing_weight=crossing,
                                retailer_weight=weight)  # fmt: skip
            except InfeasiblePlanError as exc:
                error = exc
                continue
            logger.info("rebalance attempt (retailer weight %.1f, PP slack %s): max/min %.4f, %.0f retailers moved, "
                        "PP min %.3f", weight, slack, res.balance, res.moved_retailers,
                        res.compactness.min())  # fmt: skip
            if best_key is None or key(res, strictness) < best_key:
                best, best_key = res, key(res, strictness)
            if res.is_feasible():
                break
    if best is None:
        assert error is not None
        if locked_ids:
            more = ", ..." if len(locked_ids) > 10 else ""
            raise InfeasiblePlanError(f"{error} (locked retailers: {', '.join(locked_ids[:10])}{more})") from error
        raise error
    if not best.is_feasible():
        logger.warning("rebalance: best max/min %.4f is above the tolerance %.3f", best.balance, tol)
    return best


def _metrics_of(s: _Setup, labels: np.ndarray, k: int, fn: WorkloadFn) -> dict[str, Any]:
    w = _grid_workload(s, labels, k, fn)
    comps = components_per_grid(labels, s.units.edges, k)
    return {
        "k": k,
        "balance": balance_ratio(w),
        "cv": coefficient_of_variation(w),
        "contiguous": bool((comps == 1).all()),
    }
