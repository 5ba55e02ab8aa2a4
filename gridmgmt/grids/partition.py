"""Balanced, contiguous, compact partition of building units into service grids, and rebalancing.

The core is geography-free: a :class:`UnitTable` holds unit centroids (m), workload parts,
areas and an adjacency graph, built from plain arrays (:meth:`UnitTable.from_arrays`) or from
a GeoDataFrame of unit cells (:meth:`UnitTable.from_geodataframe`).

:func:`partition` builds grids from scratch:

1. seeding by k-means++ weighted by workload (deterministic for ``seed``);
2. Lloyd-style iterations, each a capacitated assignment of units to centres solved as an
   OR-Tools min-cost flow (capacity = an equal share of the workload, cost = squared
   street-graph distance, where an edge across a major road is longer by its crossing cost);
3. contiguity repair: each grid keeps its largest piece, other pieces join a neighbour;
4. local search on the exact, non-additive workload function: a grid-level min-cost flow plans
   how much workload should cross each shared boundary; boundary units then move along that
   plan while both grids stay contiguous and compact, until max/min <= tolerance;
5. compactness search: single boundary moves and pairwise swaps (one unit each way) that lower
   ``sum(1 / Polsby-Popper)`` over the grids while max/min stays within the tolerance.

:func:`rebalance` starts from the current labels, dissolves or splits grids when ``k``
changes, and runs the same local search scoring moves by retailers moved (only a unit leaving its
home grid costs; new, dissolved and already moved units move free) while no grid loses more than a
slack of its Polsby-Popper; finally units moved needlessly (the greedy search overshoots) go back
home and free units smooth the boundaries while the balance stays within tolerance.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridmgmt._errors import InfeasiblePlanError, InputError, Problem
from gridmgmt.grids.metrics import WorkloadModel, balance_ratio, components_per_grid, polsby_popper_from_parts

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

#: ``f(service_min, access_min, stops_per_month, area_km2, depot_dist_m) -> workload_min`` per grid.
WorkloadFn = Callable[..., "NDArray[np.float64]"]

_SOURCE = "units"
#: weight of retailers moved against workload passed in rebalancing (measured on the demo churn: 2 beats 0.5, 1, 4)
REBALANCE_RETAILER_WEIGHT = 2.0


def _problem(field_: str, message: str, value: object = None, hint: str = "") -> Problem:
    return Problem(file=_SOURCE, field=field_, value=value, message=message, hint=hint)


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UnitTable:
    """Building units of a partition (street blocks or small clusters of retailers).

    Build it with :meth:`from_arrays` or :meth:`from_geodataframe`; they validate the inputs.

    Attributes
    ----------
    xy_m : numpy.ndarray, shape (n, 2)
        Unit centroids in a metric CRS, metres.
    service_min, access_min : numpy.ndarray, shape (n,)
        Service and access minutes per month of each unit.
    stops_per_month : numpy.ndarray, shape (n,)
        Visits per month of each unit (for the tour term).
    area_km2 : numpy.ndarray, shape (n,)
        Area of each unit, km2.
    n_retailers : numpy.ndarray, shape (n,)
        Retailers in each unit (the cost of moving it in :func:`rebalance`).
    edges : numpy.ndarray of int, shape (m, 2)
        Adjacent unit pairs ``i < j``, unique; grids are contiguous on this graph.
    crossing_cost : numpy.ndarray, shape (m,)
        Cost of a grid spanning the edge (>= 0): e.g. 0 along ordinary streets and 1 to 3 across
        a major road. A grid pays it when both units are inside it, so boundaries prefer
        those edges. Street-graph distances are ``length * (1 + crossing_cost)``.
    shared_m : numpy.ndarray, shape (m,)
        Length of the boundary the two units share, metres (for grid perimeters).
    perimeter_m : numpy.ndarray, shape (n,)
        Perimeter of each unit cell, metres.
    unit_id : numpy.ndarray, shape (n,)
        Identifiers of the units (default 0..n-1).
    depot_xy_m : numpy.ndarray, shape (d, 2)
        Depots, metres; a grid's depot trips go to the nearest one (none: no depot term).
    cells : geopandas.GeoSeries or None
        Unit polygons when built from a GeoDataFrame (for exact compactness).
    """

    xy_m: NDArray[np.float64]
    service_min: NDArray[np.float64]
    access_min: NDArray[np.float64]
    stops_per_month: NDArray[np.float64]
    area_km2: NDArray[np.float64]
    n_retailers: NDArray[np.float64]
    edges: NDArray[np.int64]
    crossing_cost: NDArray[np.float64]
    shared_m: NDArray[np.float64]
    perimeter_m: NDArray[np.float64]
    unit_id: NDArray[Any]
    depot_xy_m: NDArray[np.float64]
    cells: Any = None

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self.xy_m.shape[0])

    @classmethod
    def from_arrays(
        cls,
        xy_m: ArrayLike,
        service_min: ArrayLike,
        *,
        access_min: ArrayLike | None = None,
        stops_per_month: ArrayLike | None = None,
        area_km2: ArrayLike | None = None,
        n_retailers: ArrayLike | None = None,
        edges: ArrayLike | sparse.spmatrix | sparse.sparray | None = None,
        crossing_cost: ArrayLike | None = None,
        shared_m: ArrayLike | None = None,
        perimeter_m: ArrayLike | None = None,
        unit_id: ArrayLike | None = None,
        depot_xy_m: ArrayLike | None = None,
        cells: gpd.GeoSeries | None = None,
    ) -> UnitTable:
        """Build and validate a unit table from plain arrays (the canonical builder).

        Parameters
        ----------
        xy_m : array_like, shape (n, 2)
            Centroids, metres.
        service_min : array_like, shape (n,)
            Service minutes per month.
        access_min, stops_per_month, n_retailers : array_like, optional
            Default 0, 0 and 1 per unit.
        area_km2 : array_like, optional
            Unit areas; default the median nearest-neighbour spacing squared.
        edges : array_like of shape (m, 2), or a sparse adjacency matrix
            Adjacent pairs; default: Delaunay-free k-nearest-neighbour (k=4, mutual) graph.
            A sparse matrix gives the structure only. Duplicates and both directions are merged.
        crossing_cost : array_like, shape (m,), optional
            Per-edge crossing cost, default 0 (only with an edge list).
        shared_m, perimeter_m : array_like, optional
            Shared boundary lengths and unit perimeters; default: square cells of the unit area,
            sharing one side ``sqrt(min(area_i, area_j))``.
        unit_id : array_like, optional
            Unit identifiers, default 0..n-1.
        depot_xy_m : array_like, shape (d, 2), optional
            Depots, metres.
        cells : geopandas.GeoSeries, optional
            Unit polygons, kept for exact compactness.

        Raises
        ------
        InputError
            Wrong shapes, negative or non-finite values, edges out of range.

        Notes
        -----
        A disconnected adjacency is joined by bridge edges between the nearest units of its
        pieces (crossing cost = the largest given, at least 1) with a logged warning, so
        islands do not make the plan impossible.
        """
        problems: list[Problem] = []
        xy = np.asarray(xy_m, dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
            raise InputError(_problem("xy_m", "need an (n, 2) array of unit centroids in metres", xy.shape))
        n = xy.shape[0]

        def vec(name: str, values: ArrayLike | None, default: float | None) -> NDArray[np.float64]:
            if values is None:
                return np.full(n, default if default is not None else 0.0)
            v = np.asarray(values, dtype=float).reshape(-1)
            if v.size != n:
                problems.append(_problem(name, f"has {v.size} values for {n} units"))
                return np.zeros(n)
            bad = ~np.isfinite(v) | (v < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problems.append(
                    _problem(
                        name,
                        f"{int(bad.sum())} values are negative or missing, first at unit {i}",
                        v[i],
                        "workload parts and areas must be finite and >= 0",
                    )
                )
            return v

        if not np.isfinite(xy).all():
            problems.append(_problem("xy_m", "centroids must be finite", hint="drop units without coordinates"))
        service = vec("service_min", service_min, None)
        access = vec("access_min", access_min, 0.0)
        stops = vec("stops_per_month", stops_per_month, 0.0)
        retailers = vec("n_retailers", n_retailers, 1.0)
        if area_km2 is None:
            spacing = _median_spacing(xy)
            area = np.full(n, (spacing / 1000.0) ** 2)
        else:
            area = vec("area_km2", area_km2, None)

        e, cross, shared = _normalise_edges(n, xy, edges, crossing_cost, shared_m, problems)
        if problems:
            raise InputError(problems)
        side_m = np.sqrt(area * 1e6)
        perim = 4.0 * side_m if perimeter_m is None else vec("perimeter_m", perimeter_m, None)
        if shared is None:
            shared = np.minimum(side_m[e[:, 0]], side_m[e[:, 1]]) if e.size else np.zeros(0)
        if problems:
            raise InputError(problems)
        e, cross, shared = _bridge_components(n, xy, e, cross, shared)
        ids = np.arange(n) if unit_id is None else np.asarray(unit_id)
        if ids.shape != (n,):
            raise InputError(_problem("unit_id", f"has {ids.size} values for {n} units"))
        if len(np.unique(ids)) != n:
            raise InputError(_problem("unit_id", "unit identifiers must be unique"))
        depots = np.zeros((0, 2)) if depot_xy_m is None else np.asarray(depot_xy_m, dtype=float).reshape(-1, 2)
        return cls(
            xy_m=xy, service_min=service, access_min=access, stops_per_month=stops, area_km2=area,
            n_retailers=retailers, edges=e, crossing_cost=cross, shared_m=np.asarray(shared, dtype=float),
            perimeter_m=perim, unit_id=ids, depot_xy_m=depots, cells=cells,
        )  # fmt: skip

    @classmethod
    def from_geodataframe(
        cls,
        gdf: gpd.GeoDataFrame,
        *,
        service_col: str = "service_min",
        access_col: str | None = "access_min",
        stops_col: str | None = "stops_per_month",
        retailers_col: str | None = "n_retailers",
        id_col: str | None = None,
        edges: ArrayLike | None = None,
        crossing_cost: ArrayLike | None = None,
        major_roads: gpd.GeoSeries | None = None,
        major_road_cost: float = 2.0,
        depot_xy_m: ArrayLike | None = None,
    ) -> UnitTable:
        """Build a unit table from polygons (unit cells) in a projected, metric CRS.

        Adjacency is rook contiguity (cells sharing a boundary of positive length) unless
        ``edges`` is given; shared lengths, perimeters and areas come from the polygons. With
        ``major_roads`` (lines, same CRS), an edge whose centroid-to-centroid segment crosses
        one gets ``major_road_cost`` as crossing cost, so grid boundaries follow major roads.

        Raises
        ------
        InputError
            A geographic CRS (degrees), missing columns, non-polygon geometry.
        """
        import shapely

        crs = gdf.crs
        if crs is None or not crs.is_projected:
            raise InputError(
                _problem("geometry", "unit cells must be in a projected (metric) CRS", str(crs),
                         "reproject first, e.g. gdf.to_crs(gdf.estimate_utm_crs())")
            )  # fmt: skip
        missing = [c for c in (service_col, access_col, stops_col, retailers_col, id_col) if c and c not in gdf]
        if missing:
            raise InputError(_problem(missing[0], "column not found", hint=f"columns are {list(gdf.columns)}"))
        geoms = np.asarray(gdf.geometry.array)
        kinds = shapely.get_type_id(geoms)
        if not np.isin(kinds, (3, 6)).all():
            raise InputError(
                _problem("geometry", "unit cells must be polygons", hint="buffer points or use from_arrays")
            )
        cent = shapely.centroid(geoms)
        xy = np.stack([shapely.get_x(cent), shapely.get_y(cent)], axis=1)
        shared = None
        if edges is None:
            tree = shapely.STRtree(geoms)
            a, b = tree.query(geoms, predicate="intersects")
            keep = a < b
            a, b = a[keep], b[keep]
            bnd = shapely.boundary(geoms)
            length = shapely.length(shapely.intersection(bnd[a], bnd[b]))
            rook = length > 1e-6
            edges = np.stack([a[rook], b[rook]], axis=1)
            shared = length[rook]
            crossing_cost = None
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        cross = np.zeros(len(e)) if crossing_cost is None else np.asarray(crossing_cost, dtype=float)
        if major_roads is not None and len(e):
            seg = shapely.linestrings(np.stack([xy[e[:, 0]], xy[e[:, 1]]], axis=1))
            rtree = shapely.STRtree(np.asarray(major_roads.geometry.array))
            hit_edges, _ = rtree.query(seg, predicate="intersects")
            cross = cross.copy()
            cross[np.unique(hit_edges)] = np.maximum(cross[np.unique(hit_edges)], major_road_cost)

        def col(name: str | None, default: float) -> NDArray[np.float64] | None:
            return None if name is None else gdf[name].to_numpy(dtype=float)

        return cls.from_arrays(
            xy, gdf[service_col].to_numpy(dtype=float), access_min=col(access_col, 0.0),
            stops_per_month=col(stops_col, 0.0), n_retailers=col(retailers_col, 1.0),
            area_km2=shapely.area(geoms) / 1e6, edges=e, crossing_cost=cross, shared_m=shared,
            perimeter_m=shapely.length(geoms), unit_id=gdf[id_col].to_numpy() if id_col else gdf.index.to_numpy(),
            depot_xy_m=depot_xy_m, cells=gdf.geometry,
        )  # fmt: skip

    def subset(self, keep: ArrayLike) -> UnitTable:
        """The units where ``keep`` is true (e.g. after closures), with their edges."""
        mask = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(mask) - 1
        em = mask[self.edges[:, 0]] & mask[self.edges[:, 1]]
        return UnitTable.from_arrays(
            self.xy_m[mask], self.service_min[mask], access_min=self.access_min[mask],
            stops_per_month=self.stops_per_month[mask], area_km2=self.area_km2[mask],
            n_retailers=self.n_retailers[mask], edges=new_index[self.edges[em]],
            crossing_cost=self.crossing_cost[em], shared_m=self.shared_m[em], perimeter_m=self.perimeter_m[mask],
            unit_id=self.unit_id[mask], depot_xy_m=self.depot_xy_m,
            cells=None if self.cells is None else self.cells[mask],
        )  # fmt: skip


def _median_spacing(xy: NDArray[np.float64]) -> float:
    if len(xy) < 2:
        return 100.0
    d, _ = cKDTree(xy).query(xy, k=2)
    s = float(np.median(d[:, 1]))
    return s if s > 0 else 100.0


def _normalise_edges(
    n: int,
    xy: NDArray[np.float64],
    edges: Any,
    crossing_cost: ArrayLike | None,
    shared_m: ArrayLike | None,
    problems: list[Problem],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64] | None]:
    shared = None if shared_m is None else np.asarray(shared_m, dtype=float).reshape(-1)
    if edges is None:
        kk = min(5, n)
        _, nb = cKDTree(xy).query(xy, k=kk)
        nb = nb.reshape(n, kk)
        e = np.stack([np.repeat(np.arange(n), kk - 1), nb[:, 1:].reshape(-1)], axis=1)
        cross = np.zeros(len(e))
        shared = None
    elif sparse.issparse(edges):
        coo = sparse.coo_array(edges)
        if coo.shape != (n, n):
            problems.append(_problem("edges", f"adjacency matrix is {coo.shape}, expected ({n}, {n})"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
        e = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
        cross = np.zeros(len(e))
        shared = None
    else:
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        cross = np.zeros(len(e)) if crossing_cost is None else np.asarray(crossing_cost, dtype=float).reshape(-1)
        if cross.size != len(e):
            problems.append(_problem("crossing_cost", f"has {cross.size} values for {len(e)} edges"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
        if shared is not None and shared.size != len(e):
            problems.append(_problem("shared_m", f"has {shared.size} values for {len(e)} edges"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
    if e.size and (e.min() < 0 or e.max() >= n):
        bad = int(e.max() if e.max() >= n else e.min())
        problems.append(_problem("edges", f"unit index out of range 0..{n - 1}", bad))
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
    if (~np.isfinite(cross) | (cross < 0)).any():
        problems.append(_problem("crossing_cost", "crossing costs must be finite and >= 0"))
    keep = e[:, 0] != e[:, 1]
    e, cross = e[keep], cross[keep]
    shared = shared[keep] if shared is not None else None
    lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
    e = np.stack([lo, hi], axis=1)
    e, first = np.unique(e, axis=0, return_index=True)
    cross = cross[first]
    shared = shared[first] if shared is not None else None
    return e.astype(np.int64), cross, shared


def _bridge_components(
    n: int,
    xy: NDArray[np.float64],
    e: NDArray[np.int64],
    cross: NDArray[np.float64],
    shared: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    g = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    ncomp, comp = csgraph.connected_components(g, directed=False)
    if ncomp == 1:
        return e, cross, shared
    bridge_cost = max(1.0, float(cross.max()) if cross.size else 1.0)
    sizes = np.bincount(comp)
    main = int(np.argmax(sizes))
    new_edges = []
    joined = comp == main
    # attach pieces one by one to the nearest unit already joined (deterministic order)
    order = [c for c in np.argsort(-sizes, kind="stable") if c != main]
    for c in order:
        members = np.flatnonzero(comp == c)
        tree = cKDTree(xy[joined])
        d, j = tree.query(xy[members], k=1)
        best = int(np.argmin(d))
        target = int(np.flatnonzero(joined)[j[best]])
        new_edges.append((min(members[best], target), max(members[best], target)))
        joined |= comp == c
    logger.warning(
        "unit adjacency has %d separate pieces; joined them with %d bridge edges (crossing cost %.1f)",
        ncomp, len(new_edges), bridge_cost,
    )  # fmt: skip
    be = np.asarray(new_edges, dtype=np.int64)
    return (
        np.concatenate([e, be]),
        np.concatenate([cross, np.full(len(be), bridge_cost)]),
        np.concatenate([shared, np.zeros(len(be))]),
    )


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class PartitionResult:
    """Grids of a partition or rebalance.

    Attributes
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Grid index 0..k-1 of every unit.
    workload_min : numpy.ndarray, shape (k,)
        Workload of each grid, minutes per month (the exact workload function).
    balance : float
        Max over min of ``workload_min``.
    tolerance : float
        The requested max/min.
    iterations : int
        Lloyd iterations (0 for a rebalance).
    n_moves : int
        Unit moves made by the local search (and contiguity repair).
    compactness : numpy.ndarray, shape (k,)
        Polsby-Popper of each grid from unit areas and shared boundaries (exact for cells that
        tile the plane; an approximation otherwise).
    components : numpy.ndarray, shape (k,)
        Connected pieces of each grid on the adjacency (1 = contiguous).
    moved : numpy.ndarray of bool, shape (n,)
        Units whose grid changed (rebalance; all false for a partition). New units are not moved.
    moved_retailers : float
        Retailers in the moved units.
    label_map : dict
        Old grid index -> new index (rebalance; ``None`` for a dissolved grid, the new grid of a
        split has no old index).
    elapsed_s : float
        Wall time, seconds.
    """

    labels: NDArray[np.int64]
    workload_min: NDArray[np.float64]
    balance: float
    tolerance: float
    iterations: int = 0
    n_moves: int = 0
    compactness: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    components: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    moved: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    moved_retailers: float = 0.0
    total_retailers: float = 0.0
    label_map: dict[int, int | None] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def k(self) -> int:
        """Number of grids."""
        return int(self.workload_min.size)

    @property
    def moved_share(self) -> float:
        """Share of retailers whose grid changed (0..1)."""
        return self.moved_retailers / self.total_retailers if self.total_retailers > 0 else 0.0

    def is_feasible(self) -> bool:
        """True when balance is within tolerance and every grid is in one piece."""
        return bool(self.balance <= self.tolerance + 1e-9 and (self.components == 1).all())

    def summary(self) -> dict[str, float]:
        """Headline numbers: balance, compactness, moved share, time."""
        return {
            "k": self.k,
            "balance": round(self.balance, 4),
            "workload_min_mean": round(float(self.workload_min.mean()), 1),
            "compactness_mean": round(float(self.compactness.mean()), 3) if self.compactness.size else float("nan"),
            "compactness_min": round(float(self.compactness.min()), 3) if self.compactness.size else float("nan"),
            "moved_share": round(self.moved_share, 4),
            "iterations": self.iterations,
            "n_moves": self.n_moves,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# --------------------------------------------------------------------------------------------
# Search state: per-grid aggregates kept up to date move by move
# --------------------------------------------------------------------------------------------


class _State:
    """Labels plus per-grid sums, so a move's exact effect costs O(degree)."""

    def __init__(self, units: UnitTable, labels: NDArray[np.int64], k: int, workload_fn: WorkloadFn) -> None:
        self.u = units
        self.k = k
        self.fn = workload_fn
        n = units.n
        e = units.edges
        src = np.concatenate([e[:, 0], e[:, 1]])
        dst = np.concatenate([e[:, 1], e[:, 0]])
        order = np.argsort(src, kind="stable")
        self.src, self.dst = src[order], dst[order]
        self.eshared = np.concatenate([units.shared_m, units.shared_m])[order]
        self.ecross = np.concatenate([units.crossing_cost, units.crossing_cost])[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.src, minlength=n))])
        # per-unit columns: service, access, stops, area, stops*x, stops*y, area*x, area*y, perimeter, retailers
        x, y = units.xy_m[:, 0], units.xy_m[:, 1]
        s, a = units.stops_per_month, units.area_km2
        self.cols = np.stack(
            [units.service_min, units.access_min, s, a, s * x, s * y, a * x, a * y, units.perimeter_m,
             units.n_retailers], axis=1,
        )  # fmt: skip
        self.depots = units.depot_xy_m
        self.set_labels(labels)

    def set_labels(self, labels: NDArray[np.int64]) -> None:
        self.lab = np.asarray(labels, dtype=np.int64).copy()
        agg = np.zeros((self.k, self.cols.shape[1]))
        np.add.at(agg, self.lab, self.cols)
        same = self.lab[self.src] == self.lab[self.dst]
        # each internal edge appears twice in the directed arrays: subtract its length twice in total
        internal = np.bincount(self.lab[self.src][same], weights=self.eshared[same], minlength=self.k)
        agg[:, 8] -= internal
        self.agg = agg
        self.count = np.bincount(self.lab, minlength=self.k)
        self.W = self._workload(agg)

    def _depot_dist(self, agg: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.depots.shape[0] == 0:
            return np.zeros(agg.shape[0])
        stops, area = agg[:, 2], agg[:, 3]
        empty = (stops <= 0) & (area <= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cx = np.where(stops > 0, agg[:, 4] / stops, agg[:, 6] / np.where(area > 0, area, 1.0))
            cy = np.where(stops > 0, agg[:, 5] / stops, agg[:, 7] / np.where(area > 0, area, 1.0))
        d = np.hypot(cx[:, None] - self.depots[None, :, 0], cy[:, None] - self.depots[None, :, 1])
        return np.where(empty, 0.0, d.min(axis=1))

    def _workload(self, agg: NDArray[np.float64]) -> NDArray[np.float64]:
        w = self.fn(agg[:, 0], agg[:, 1], agg[:, 2], agg[:, 3], self._depot_dist(agg))
        return np.asarray(w, dtype=float).reshape(-1)

    def compactness(self, agg: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        agg = self.agg if agg is None else agg
        return polsby_popper_from_parts(agg[:, 3] * 1e6, agg[:, 8])

    def neighbours(self, i: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.dst[lo:hi], self.eshared[lo:hi], self.ecross[lo:hi]

    def evaluate(self, cands: NDArray[np.int64], g: int, h: int) -> dict[str, NDArray[np.float64]]:
        """Exact workloads, compactness and crossing change if each candidate moved g -> h."""
        n = self.u.n
        sel = np.zeros(n, dtype=bool)
        sel[cands] = True
        m = sel[self.src]
        s, d = self.src[m], self.dst[m]
        ld = self.lab[d]
        sh_g = np.bincount(s, weights=np.where(ld == g, self.eshared[m], 0.0), minlength=n)[cands]
        sh_h = np.bincount(s, weights=np.where(ld == h, self.eshared[m], 0.0), minlength=n)[cands]
        cr_g = np.bincount(s, weights=np.where(ld == g, self.ecross[m], 0.0), minlength=n)[cands]
        cr_h = np.bincount(s, weights=np.where(ld == h, self.ecross[m], 0.0), minlength=n)[cands]
        c = self.cols[cands]
        ag = self.agg[g][None, :] - c
        ah = self.agg[h][None, :] + c
        ag[:, 8] = self.agg[g, 8] - c[:, 8] + 2 * sh_g
        ah[:, 8] = self.agg[h, 8] + c[:, 8] - 2 * sh_h
        wg, wh = self._workload(ag), self._workload(ah)
        return {
            "wg": wg,
            "wh": wh,
            "ppg": polsby_popper_from_parts(ag[:, 3] * 1e6, ag[:, 8]),
            "pph": polsby_popper_from_parts(ah[:, 3] * 1e6, ah[:, 8]),
            "dperim": (ag[:, 8] - self.agg[g, 8]) + (ah[:, 8] - self.agg[h, 8]),
            "dcross": cr_h - cr_g,
        }

    def move(self, i: int, h: int) -> None:
        g = int(self.lab[i])
        nb, sh, _ = self.neighbours(i)
        ln = self.lab[nb]
        c = self.cols[i]
        self.agg[g] -= c
        self.agg[h] += c
        self.agg[g, 8] += 2 * sh[ln == g].sum()
        self.agg[h, 8] -= 2 * sh[ln == h].sum()
        self.lab[i] = h
        self.count[g] -= 1
        self.count[h] += 1
        self.W[[g, h]] = self._workload(self.agg[[g, h]])

    def stays_connected(self, i: int) -> bool:
        """Whether grid of unit ``i`` stays in one piece without ``i`` (BFS within the grid)."""
        g = self.lab[i]
        if self.count[g] <= 1:
            return False
        nb, _, _ = self.neighbours(i)
        targets = {int(v) for v in nb[self.lab[nb] == g]}
        if len(targets) <= 1:
            return bool(targets)
        start = targets.pop()
        seen = {start, int(i)}
        stack = [start]
        lab, indptr, dst = self.lab, self.indptr, self.dst
        while stack:
            v = stack.pop()
            for w in dst[indptr[v] : indptr[v + 1]]:
                w = int(w)
                if w not in seen and lab[w] == g:
                    if w in targets:
                        targets.discard(w)
                        if not targets:
                            return True
                    seen.add(w)
                    stack.append(w)
        return not targets

    def grid_pairs(self) -> NDArray[np.int64]:
        """Adjacent grid pairs (g, h), both directions."""
        ls, ld = self.lab[self.src], self.lab[self.dst]
        diff = ls != ld
        if not diff.any():
            return np.zeros((0, 2), dtype=np.int64)
        return np.unique(np.stack([ls[diff], ld[diff]], axis=1), axis=0)


# --------------------------------------------------------------------------------------------
# Local search
# --------------------------------------------------------------------------------------------


@dataclass
class _SearchOptions:
    tolerance: float
    min_compactness: float
    movable: NDArray[np.bool_]  # units allowed to move
    closed_grids: NDArray[np.bool_]  # grids that neither give nor take units
    retailer_weight: float  # 0: partition; > 0: minimise retailers moved
    crossing_weight: float = 1.0
    max_moves: int = 20000
    max_checks: int = 25
    floor: NDArray[np.float64] | None = None  # per-grid compactness floor, set by _balance
    compactness_slack: float = 0.05  # how far below its starting Polsby-Popper a grid may fall
    home: NDArray[np.int64] | None = None  # rebalance: grid each unit starts in (-1: new or dissolved, free)


def _flow_plan(state: _State, opt: _SearchOptions) -> dict[tuple[int, int], float]:
    """Workload (minutes) each pair of neighbouring grids should pass on, by a grid-level min-cost flow."""
    from ortools.graph.python import min_cost_flow

    pairs = state.grid_pairs()
    if pairs.size:
        open_ = ~opt.closed_grids[pairs[:, 0]] & ~opt.closed_grids[pairs[:, 1]]
        pairs = pairs[open_]
    k = state.k
    active = ~opt.closed_grids
    if pairs.size == 0 or active.sum() < 2:
        return {}
    W = state.W
    mean = W[active].mean()
    supply = np.where(active, np.round(W - mean), 0).astype(np.int64)
    # rounding: make supplies sum to zero on the largest node
    j = int(np.argmax(np.abs(supply) * active))
    supply[j] -= supply.sum()
    # cost per minute passed out of grid g: one hop, plus retailers per minute of g (rebalance)
    R, Wp = state.agg[:, 9], np.where(W > 0, W, 1.0)
    dens = (R / Wp) / max(R[active].sum() / W[active].sum(), 1e-12)
    cost = np.round(100 * (1.0 + opt.retailer_weight * dens[pairs[:, 0]])).astype(np.int64)
    cap = np.full(len(pairs), int(np.abs(supply).sum()) + 1, dtype=np.int64)
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(
        pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), cap, cost
    )
    mcf.set_nodes_supplies(np.arange(k, dtype=np.int32), supply)
    if mcf.solve() != mcf.OPTIMAL:
        logger.debug("grid flow plan: no optimal solution (grid graph split by closed grids?)")
        return {}
    flows = mcf.flows(arcs)
    return {(int(a), int(b)): float(f) for (a, b), f in zip(pairs, flows, strict=True) if f > 0}


def _move_cost(state: _State, opt: _SearchOptions, units: NDArray[np.int64], g: Any, h: Any) -> NDArray[np.float64]:
    """Retailers moved when ``units`` go from grid ``g`` to ``h``: leaving home costs, going home earns."""
    r = state.u.n_retailers[units]
    if opt.home is None:
        return r
    hm = opt.home[units]
    return np.where(hm < 0, 0.0, np.where(hm == g, r, np.where(hm == h, -r, 0.0)))


def _try_move(state: _State, g: int, h: int, want: float, opt: _SearchOptions) -> float:
    """Move the best boundary unit of g into h; return the workload g gave (0 when none fits)."""
    lab = state.lab
    m = (lab[state.src] == g) & (lab[state.dst] == h)
    cands = np.unique(state.src[m])
    cands = cands[opt.movable[cands]]
    if cands.size == 0:
        return 0.0
    ev = _State.evaluate(state, cands, g, h)
    Wg, Wh = state.W[g], state.W[h]
    give = Wg - ev["wg"]
    pp = state.compactness()
    ok = (give > 0) & (ev["wh"] < Wg) & (ev["wg"] > 0)
    # compactness: never push a grid below its floor (the global floor, or a little under its start value)
    floor = opt.floor if opt.floor is not None else np.full(state.k, opt.min_compactness)
    ok &= (ev["ppg"] >= floor[g]) | (ev["ppg"] >= pp[g] - 1e-12)
    ok &= (ev["pph"] >= floor[h]) | (ev["pph"] >= pp[h] - 1e-12)
    if not ok.any():
        return 0.0
    cands = cands[ok]
    give = give[ok]
    want = max(want, 1e-9)
    overshoot = np.clip(give - want, 0.0, None) / want
    # also penalise moves that leave h heavier than g
    flip = np.clip(ev["wh"][ok] - ev["wg"][ok], 0.0, None) / max(Wg - Wh, 1e-9)
    typical_perim = float(np.median(state.u.perimeter_m)) or 1.0
    dperim = ev["dperim"][ok] / typical_perim
    if opt.retailer_weight > 0:
        # perimeter added per share of the wanted workload: empty blocks are free in retailers but give
        # little workload, and moving many of them one by one grows fingers
        dperim = np.where(dperim > 0, dperim / np.maximum(np.minimum(give / want, 1.0), _MIN_GIVE_SHARE), dperim)
    score = (
        dperim
        + opt.crossing_weight * ev["dcross"][ok]
        + 2.0 * overshoot
        + 2.0 * flip
        - 0.5 * np.minimum(give / want, 1.0)
    )
    if opt.retailer_weight > 0:
        per_min = _move_cost(state, opt, cands, g, h) / np.maximum(give, 1e-9)
        mean_per_min = state.agg[:, 9].sum() / state.W.sum()
        score = score + opt.retailer_weight * 4.0 * per_min / max(mean_per_min, 1e-12) * np.minimum(give / want, 1.0)
    order = np.lexsort((cands, score))
    for idx in order[: opt.max_checks]:
        i = int(cands[idx])
        if state.stays_connected(i):
            before = state.W[g]
            state.move(i, h)
            return float(before - state.W[g])
    return 0.0


#: floor of the share of the wanted workload a move is credited with when its perimeter cost is scaled
_MIN_GIVE_SHARE = 0.1


def _balance(state: _State, opt: _SearchOptions, *, rounds: int = 30) -> int:
    """Move boundary units until max/min <= tolerance (or no move helps); return the moves made."""
    moves = 0
    active = ~opt.closed_grids
    # a grid may fall to the floor, or lose compactness_slack from where it starts if that is lower
    opt.floor = np.minimum(opt.min_compactness, state.compactness() - opt.compactness_slack)

    def ratio() -> float:
        # every grid that still has units counts, locked ones included (a dissolved grid has none)
        return balance_ratio(state.W[state.count > 0])

    for rnd in range(rounds):
        if ratio() <= opt.tolerance or moves >= opt.max_moves:
            break
        plan = _flow_plan(state, opt) if rnd % 2 == 0 else {}
        if not plan:
            # polishing: any heavier -> lighter neighbour, half the difference
            pairs = state.grid_pairs()
            plan = {
                (int(a), int(b)): (state.W[a] - state.W[b]) / 2
                for a, b in pairs
                if state.W[a] > state.W[b] and active[a] and active[b]
            }
        blocked: set[tuple[int, int]] = set()
        made = 0
        while ratio() > opt.tolerance and moves < opt.max_moves:
            W = state.W
            live = [e for e, r in plan.items() if r > 1e-9 and e not in blocked and W[e[0]] > W[e[1]]]
            if not live:
                break
            e = max(live, key=lambda p: (W[p[0]] - W[p[1]], -p[0], -p[1]))
            gave = _try_move(state, e[0], e[1], plan[e], opt)
            if gave > 0:
                plan[e] -= gave
                made += 1
                moves += 1
            else:
                blocked.add(e)
        if made == 0 and rnd % 2 == 1:
            break
    return moves


def _unmove(state: _State, home: NDArray[np.int64], opt: _SearchOptions, *, passes: int = 20) -> int:
    """Send moved units back to their home grid while the balance stays within tolerance.

    The balancing search is greedy and overshoots; afterwards some moved units are not needed.
    Units go home heaviest in retailers first, when the home grid is next to them, max/min stays
    <= tolerance, both grids stay in one piece and neither drops below its compactness floor.
    When a return alone breaks the balance, it is paired with a compensating move of one boundary
    unit of the home grid the other way, if that pair lowers the retailers moved in total (the
    compensating unit has fewer retailers, or is itself going home). Returns the units moved.
    """
    back = 0
    active = ~opt.closed_grids
    floor = opt.floor if opt.floor is not None else np.full(state.k, opt.min_compactness)
    r = state.u.n_retailers
    idle = 0

    def ratio(W: NDArray[np.float64]) -> float:
        return balance_ratio(W[state.count > 0])

    def ok_pp(ev: dict[str, NDArray[np.float64]], g: int, h: int, pp: NDArray[np.float64]) -> NDArray[np.bool_]:
        return (ev["ppg"] >= np.minimum(floor[g], pp[g])) & (ev["pph"] >= np.minimum(floor[h], pp[h]))

    for npass in range(passes):
        away = np.flatnonzero((home >= 0) & (state.lab != home) & opt.movable)
        if away.size == 0:
            break
        away = away[active[home[away]] & active[state.lab[away]]]
        # alternate: most retailers per minute of work first (cheap to take back), then most retailers first
        per_min = r[away] / np.maximum(state.cols[away, 0] + state.cols[away, 1], 1e-9)
        order = away[np.lexsort((away, -per_min if npass % 2 == 0 else -r[away]))]
        made = 0
        for i in order:
            i = int(i)
            g, h = int(state.lab[i]), int(home[i])
            if g == h or not (state.lab[state.neighbours(i)[0]] == h).any():
                continue
            now = ratio(state.W)
            pp = state.compactness()
            ev = state.evaluate(np.array([i]), g, h)
            if not ok_pp(ev, g, h, pp)[0] or not state.stays_connected(i):
                continue
            W = state.W.copy()
            W[g], W[h] = ev["wg"][0], ev["wh"][0]
            if ratio(W) <= opt.tolerance + 1e-12 or ratio(W) <= now:
                state.move(i, h)
                made += 1
                continue
            if r[i] <= 0:
                continue
            # compensate: one boundary unit of h goes to g, if the pair moves fewer retailers in total
            state.move(i, h)
            lab = state.lab
            m = (lab[state.src] == h) & (lab[state.dst] == g)
            c = np.unique(state.src[m])
            c = c[opt.movable[c] & (c != i)]
            cost = _move_cost(state, dataclasses.replace(opt, home=home), c, h, g)
            c, cost = c[cost < r[i]], cost[cost < r[i]]
            done = False
            if c.size:
                ev2 = state.evaluate(c, h, g)
                pp2 = state.compactness()
                W2 = np.repeat(state.W[None, :], c.size, axis=0)
                W2[:, h], W2[:, g] = ev2["wg"], ev2["wh"]
                live = state.count > 0
                rat = W2[:, live].max(axis=1) / np.maximum(W2[:, live].min(axis=1), 1e-12)
                good = (rat <= max(opt.tolerance + 1e-12, now)) & ok_pp(ev2, h, g, pp2)
                for j in c[good][np.lexsort((c[good], rat[good], cost[good]))][: opt.max_checks]:
                    if state.stays_connected(int(j)):
                        state.move(int(j), g)
                        made += 2
                        done = True
                        break
            if not done:
                state.move(i, g)  # undo
        back += made
        idle = idle + 1 if made == 0 else 0
        if idle >= 2:
            break
    return back


def _polish(state: _State, home: NDArray[np.int64], opt: _SearchOptions, *, rounds: int = 3) -> int:
    """After rebalancing: send needless moves home, then improve compactness at no extra cost, repeatedly.

    The compactness search may only move units that already left home or hold no staying
    retailers, so it never adds to the retailers moved; it can make room for more units to go home.
    """
    moves = _unmove(state, home, opt)
    r = state.u.n_retailers
    for _ in range(rounds):
        cost = float(r[(home >= 0) & (state.lab != home)].sum())
        free = opt.movable & ((r == 0) | (state.lab != home))  # home -1: new or dissolved, moved anyway
        free_opt = dataclasses.replace(opt, movable=free)
        made = _smooth(state, free_opt) + _compact(state, free_opt) + _unmove(state, home, opt)
        moves += made
        if made == 0 or float(r[(home >= 0) & (state.lab != home)].sum()) >= cost:
            break
    return moves


def _smooth(state: _State, opt: _SearchOptions, *, passes: int = 4) -> int:
    """Move boundary units that share more boundary with a neighbouring grid than with their own.

    Each such move shortens the total perimeter (compactness up); it is kept only when balance
    stays within tolerance, both grids stay contiguous and neither falls below the compactness floor.
    """
    moves = 0
    n, k = state.u.n, state.k
    for _ in range(passes):
        lab = state.lab
        ls, ld = lab[state.src], lab[state.dst]
        own = np.bincount(state.src[ls == ld], weights=state.eshared[ls == ld], minlength=n)
        diff = ls != ld
        key = state.src[diff] * k + ld[diff]
        uniq, inv = np.unique(key, return_inverse=True)
        sh = np.bincount(inv, weights=state.eshared[diff])
        units_, heads = uniq // k, uniq % k
        gain = sh - own[units_]  # perimeter saved / 2
        ok = (gain > 1e-9) & opt.movable[units_] & ~opt.closed_grids[heads] & ~opt.closed_grids[lab[units_]]
        order = np.flatnonzero(ok)[np.lexsort((units_[ok], -gain[ok]))]
        made = 0
        for j in order:
            i, h = int(units_[j]), int(heads[j])
            g = int(state.lab[i])
            if g == h:
                continue
            # an earlier move of this pass may have taken i's last neighbour out of h
            if not (state.lab[state.neighbours(i)[0]] == h).any():
                continue
            ev = state.evaluate(np.array([i]), g, h)
            W = state.W.copy()
            W[g], W[h] = ev["wg"][0], ev["wh"][0]
            if balance_ratio(W[state.count > 0]) > opt.tolerance:  # locked grids count too
                continue
            pp = state.compactness()
            if (ev["ppg"][0] < min(opt.min_compactness, pp[g])) or (ev["pph"][0] < min(opt.min_compactness, pp[h])):
                continue
            if state.stays_connected(i):
                state.move(i, h)
                made += 1
        moves += made
        if made == 0:
            break
    return moves


def _compact(state: _State, opt: _SearchOptions, *, max_moves: int = 3000, top: int = 8) -> int:
    """Compactness search: boundary moves and pairwise swaps that lower ``sum(1 / PP)`` within the tolerance.

    The objective ``sum_g P_g**2 / (4 pi A_g)`` (perimeter from unit perimeters minus shared
    boundaries, so the real polygon's) weighs the least compact grids most. A single move
    ``g -> h`` is kept when it lowers the objective, keeps max/min <= tolerance and both grids in
    one piece; when balance blocks every single move between two grids, a swap (one unit each
    way) is tried, which keeps the workloads nearly unchanged.

    Returns
    -------
    int
        Units moved.
    """
    moves = 0
    active = ~opt.closed_grids
    tol = opt.tolerance

    def inv_pp(area_km2: NDArray[np.float64], perim_m: NDArray[np.float64]) -> NDArray[np.float64]:
        return perim_m**2 / np.maximum(4.0 * math.pi * area_km2 * 1e6, 1e-9)

    def ratio_with(
        W: NDArray[np.float64], g: int, h: int, wg: NDArray[np.float64], wh: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        others = state.count > 0  # every grid with units counts, closed ones included
        others[[g, h]] = False
        rest = W[others]
        hi = np.maximum(np.maximum(wg, wh), rest.max() if rest.size else 0.0)
        lo = np.minimum(np.minimum(wg, wh), rest.min() if rest.size else np.inf)
        return hi / np.maximum(lo, 1e-12)

    def candidates(g: int, h: int) -> tuple[NDArray[np.int64], dict[str, NDArray[np.float64]], NDArray[np.float64]]:
        lab = state.lab
        m = (lab[state.src] == g) & (lab[state.dst] == h)
        c = np.unique(state.src[m])
        c = c[opt.movable[c]]
        if c.size == 0:
            return c, {}, np.zeros(0)
        ev = state.evaluate(c, g, h)
        ag, ah = state.agg[g], state.agg[h]
        base = inv_pp(ag[3], ag[8]) + inv_pp(ah[3], ah[8])
        new = ev["ppg"], ev["pph"]
        with np.errstate(divide="ignore"):
            delta = (
                np.where(
                    (new[0] > 0) & (new[1] > 0),
                    1.0 / np.maximum(new[0], 1e-12) + 1.0 / np.maximum(new[1], 1e-12),
                    np.inf,
                )
                - base
            )
        return c, ev, delta

    for _ in range(50):
        made = 0
        pairs = [(int(a), int(b)) for a, b in state.grid_pairs() if active[a] and active[b]]
        for g, h in pairs:
            if moves >= max_moves:
                break
            if state.count[g] <= 1:
                continue
            c, ev, delta = candidates(g, h)
            if c.size == 0:
                continue
            r = ratio_with(state.W, g, h, ev["wg"], ev["wh"])
            ok = (delta < -1e-6) & (r <= tol)
            done = False
            for idx in np.flatnonzero(ok)[np.lexsort((c[ok], delta[ok]))][: opt.max_checks]:
                i = int(c[idx])
                if state.stays_connected(i):
                    state.move(i, h)
                    made += 1
                    moves += 1
                    done = True
                    break
            if done:
                continue
            # swaps: the most helpful moves g -> h, each paired with the best return h -> g
            good = np.flatnonzero(delta < -1e-6)
            for idx in good[np.lexsort((c[good], delta[good]))][:top]:
                i = int(c[idx])
                if not state.stays_connected(i):
                    continue
                obj0 = float(inv_pp(state.agg[[g, h], 3], state.agg[[g, h], 8]).sum())
                state.move(i, h)
                c2, ev2, delta2 = candidates(h, g)
                c2mask = c2 != i
                if c2.size:
                    r2 = ratio_with(state.W, h, g, ev2["wg"], ev2["wh"])
                    obj1 = float(inv_pp(state.agg[[g, h], 3], state.agg[[g, h], 8]).sum())
                    total = obj1 + delta2 - obj0
                    ok2 = c2mask & (total < -1e-6) & (r2 <= tol)
                    accepted = False
                    for j_idx in np.flatnonzero(ok2)[np.lexsort((c2[ok2], total[ok2]))][:top]:
                        j = int(c2[j_idx])
                        if state.stays_connected(j):
                            state.move(j, g)
                            accepted = True
                            break
                    if accepted:
                        made += 2
                        moves += 2
                        done = True
                        break
                state.move(i, g)  # undo
        if made == 0 or moves >= max_moves:
            break
    return moves


# --------------------------------------------------------------------------------------------
# Construction: seeding, capacitated Lloyd iterations, contiguity repair
# --------------------------------------------------------------------------------------------


def _crossing_graph(units: UnitTable) -> sparse.csr_matrix:
    """Adjacency weighted by crossing cost times the median edge length (a tiny floor keeps zero edges)."""
    e = units.edges
    length = np.hypot(*(units.xy_m[e[:, 0]] - units.xy_m[e[:, 1]]).T)
    typical = float(np.median(length)) if length.size else 1.0
    weight = units.crossing_cost * typical * _CROSSING_PENALTY + 1e-6 * np.maximum(length, 1e-3)
    n = units.n
    return sparse.coo_matrix((weight, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()


#: a unit of crossing cost counts as this many typical edge lengths of extra distance
_CROSSING_PENALTY = 3.0


def _tour_shares(units: UnitTable, labels: NDArray[np.int64] | None, k: int, c_tour_min: float) -> NDArray[np.float64]:
    """Split each grid's tour term over its units (Euler: T = n dT/dn + a dT/da, so shares sum to T)."""
    n_, a_ = units.stops_per_month, units.area_km2
    if c_tour_min <= 0:
        return np.zeros(units.n)
    if labels is None:
        # before any grid exists: the stop density of a neighbourhood (<= 64 units) around each unit
        m = max(1, min(units.n, units.n // k, 64))
        _, nb = cKDTree(units.xy_m).query(units.xy_m, k=m)
        nb = nb.reshape(units.n, m)
        N, A = n_[nb].sum(axis=1), a_[nb].sum(axis=1)
    else:
        N = np.bincount(labels, weights=n_, minlength=k)[labels]
        A = np.bincount(labels, weights=a_, minlength=k)[labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((N > 0) & (A > 0), np.sqrt(A / np.where(N > 0, N, 1)), 0.0)
        share = 0.5 * c_tour_min * (n_ * r + a_ * np.where(r > 0, 1.0 / np.where(r > 0, r, 1), 0.0))
    return np.asarray(share)


def _kmeanspp(xy: NDArray[np.float64], w: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    n = len(xy)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    centres = [int(rng.choice(n, p=p))]
    d2 = ((xy - xy[centres[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        q = w * d2
        q[centres] = 0.0
        if q.sum() <= 0:
            q = np.ones(n)
            q[centres] = 0.0
        c = int(rng.choice(n, p=q / q.sum()))
        centres.append(c)
        d2 = np.minimum(d2, ((xy - xy[c]) ** 2).sum(axis=1))
    return np.asarray(centres, dtype=np.int64)


#: centres each unit may be assigned to in a Lloyd step (its cheapest); more grids than this only
#: thin out arcs a far centre would never win, and a step that finds no solution retries with all
NEAREST_CENTRES = 16


def _capacitated_assign(
    supply: NDArray[np.int64], cost: NDArray[np.int64], caps: NDArray[np.int64], *, nearest: int | None = None
) -> NDArray[np.int64]:
    """Min-cost flow: every unit's supply to k centres with capacities; label = centre of largest flow.

    With ``nearest``, each unit only has arcs to its ``nearest`` cheapest centres (n x nearest
    arcs instead of n x k); if that leaves no solution, all arcs are used.
    """
    from ortools.graph.python import min_cost_flow

    n, k = cost.shape
    m = k if nearest is None or nearest >= k else int(nearest)
    cols = np.argpartition(cost, m - 1, axis=1)[:, :m] if m < k else np.tile(np.arange(k), (n, 1))
    mcf = min_cost_flow.SimpleMinCostFlow()
    tails = np.repeat(np.arange(n, dtype=np.int32), m)
    heads = (n + cols.reshape(-1)).astype(np.int32)
    unit_cost = np.take_along_axis(cost, cols, axis=1).reshape(-1)
    unit_arcs = mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, np.repeat(supply, m), unit_cost)
    sink = n + k
    mcf.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + k, dtype=np.int32), np.full(k, sink, dtype=np.int32), caps, np.zeros(k, dtype=np.int64)
    )
    mcf.set_nodes_supplies(np.arange(n + k + 1, dtype=np.int32), np.concatenate([supply, np.zeros(k, np.int64),
                                                                                  [-supply.sum()]]))  # fmt: skip
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        if m < k:
            return _capacitated_assign(supply, cost, caps)
        raise InfeasiblePlanError(f"capacitated assignment failed (min-cost flow status {status})")
    flows = mcf.flows(unit_arcs).reshape(n, m)
    return np.take_along_axis(cols, np.argmax(flows, axis=1)[:, None], axis=1)[:, 0].astype(np.int64)


def _lloyd(
    units: UnitTable, k: int, seed: int | list[int], max_iter: int, workload_fn: WorkloadFn
) -> tuple[NDArray[np.int64], int]:
    c_tour = float(getattr(workload_fn, "c_tour_min", 0.0))
    base = units.service_min + units.access_min
    w = base + _tour_shares(units, None, k, c_tour)
    rng = np.random.default_rng(seed)
    centres = _kmeanspp(units.xy_m, w + 1e-9, k, rng)
    # distance = straight line + a penalty per major road crossed on the way (street-graph path);
    # pure graph distance on a block lattice is Manhattan-like and gives diamond (non-compact) cells
    graph = _crossing_graph(units) if units.crossing_cost.any() else None
    labels = np.full(units.n, -1, dtype=np.int64)
    it = 0
    state: _State | None = None
    depot_term = np.zeros(k)
    for it in range(1, max_iter + 1):  # noqa: B007 (reported)
        dist = np.hypot(*(units.xy_m[None, :, :] - units.xy_m[centres][:, None, :]).transpose(2, 0, 1))
        if graph is not None:
            dist = dist + csgraph.dijkstra(graph, directed=False, indices=centres)  # (k, n) metres
        dmax = float(dist[np.isfinite(dist)].max()) or 1.0
        cost = np.round((dist.T / dmax) ** 2 * 1e6).astype(np.int64)
        scale = 1e6 / max(w.sum(), 1e-9)
        supply = np.maximum(np.round(w * scale), 1).astype(np.int64)
        # capacities: equal full workload, so grids far from a depot get less additive work
        target = (w.sum() + depot_term.sum()) / k
        share = np.clip(target - depot_term, 0.0, None)
        share = share / share.sum() if share.sum() > 0 else np.full(k, 1.0 / k)
        caps = np.ceil(share * supply.sum()).astype(np.int64) + 1
        new = _capacitated_assign(supply, cost, caps, nearest=NEAREST_CENTRES)
        if state is None:
            state = _State(units, new, k, workload_fn)
        else:
            state.set_labels(new)
        depot_term = (
            state.W
            - np.bincount(new, weights=base, minlength=k)
            - np.bincount(new, weights=_tour_shares(units, new, k, c_tour), minlength=k)
        )
        w = base + _tour_shares(units, new, k, c_tour)
        # new centres: the member unit nearest the workload-weighted mean
        new_centres = centres.copy()
        for g in range(k):
            members = np.flatnonzero(new == g)
            if members.size == 0:
                continue
            ww = w[members] + 1e-9
            mxy = (units.xy_m[members] * ww[:, None]).sum(axis=0) / ww.sum()
            new_centres[g] = members[np.argmin(((units.xy_m[members] - mxy) ** 2).sum(axis=1))]
        converged = np.array_equal(new, labels) or np.array_equal(new_centres, centres)
        labels, centres = new, new_centres
        if converged:
            break
    return labels, it


def _repair_contiguity(state: _State, movable: NDArray[np.bool_]) -> int:
    """Keep each grid's main piece (the one with locked units, else the heaviest); pieces join a neighbour."""
    moved = 0
    n, k = state.u.n, state.k
    weight = state.cols[:, 0] + state.cols[:, 1] + 1e-6
    for _ in range(50):
        lab = state.lab
        same = lab[state.src] == lab[state.dst]
        g = sparse.coo_matrix((np.ones(same.sum()), (state.src[same], state.dst[same])), shape=(n, n)).tocsr()
        ncomp, comp = csgraph.connected_components(g, directed=False)
        comp_w = np.bincount(comp, weights=weight, minlength=ncomp)
        comp_locked = np.bincount(comp, weights=(~movable).astype(float), minlength=ncomp)
        comp_lab = np.zeros(ncomp, dtype=np.int64)
        comp_lab[comp] = lab
        # main piece per grid: most locked units, then heaviest
        key = comp_locked * (comp_w.sum() + 1) + comp_w
        main = np.full(k, -1)
        best = np.full(k, -1.0)
        for c in range(ncomp):
            gl = comp_lab[c]
            if key[c] > best[gl]:
                best[gl], main[gl] = key[c], c
        is_main = np.zeros(ncomp, dtype=bool)
        is_main[main[main >= 0]] = True
        orphans = np.flatnonzero(~is_main)
        if orphans.size == 0:
            break
        changed = 0
        for c in orphans[np.argsort(comp_w[orphans], kind="stable")]:
            members = np.flatnonzero(comp == c)
            if comp_locked[c] > 0:
                logger.warning("grid %d has locked units in a separate piece; left as is", comp_lab[c])
                continue
            m = np.isin(state.src, members) & (comp[state.dst] != c) & is_main[comp[state.dst]]
            if not m.any():
                continue
            nl = state.lab[state.dst[m]]
            counts = np.bincount(nl, weights=state.eshared[m] + 1e-6, minlength=k)
            h = int(np.argmax(counts))
            lab = state.lab.copy()
            lab[members] = h
            state.set_labels(lab)
            moved += members.size
            changed += 1
            break  # components changed: recompute
        if changed == 0:
            break
    return moved


def _result(
    state: _State, tolerance: float, *, iterations: int, n_moves: int, t0: float,
    moved: NDArray[np.bool_] | None = None, label_map: dict[int, int | None] | None = None,
    total_retailers: float | None = None,
) -> PartitionResult:  # fmt: skip
    from gridmgmt.grids.metrics import components_per_grid

    u = state.u
    mv = np.zeros(u.n, dtype=bool) if moved is None else moved
    return PartitionResult(
        labels=state.lab.copy(),
        workload_min=state.W.copy(),
        balance=balance_ratio(state.W),
        tolerance=tolerance,
        iterations=iterations,
        n_moves=n_moves,
        compactness=state.compactness(),
        components=components_per_grid(state.lab, u.edges, state.k),
        moved=mv,
        moved_retailers=float(u.n_retailers[mv].sum()),
        total_retailers=float(u.n_retailers.sum()) if total_retailers is None else total_retailers,
        label_map=label_map or {},
        elapsed_s=time.perf_counter() - t0,
    )


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise InfeasiblePlanError(f"number of grids k={k!r} must be an integer >= 1 (grids.count in district.toml)")
    if k > n:
        raise InfeasiblePlanError(
            f"number of grids k={k} exceeds the {n} building units: every grid needs at least one unit; "
            "lower grids.count or use smaller units"
        )


def _one_start(
    units: UnitTable,
    k: int,
    entropy: int | list[int],
    max_iter: int,
    fn: WorkloadFn,
    tolerance: float,
    min_compactness: float,
    crossing_weight: float,
    compact_search: bool,
) -> tuple[_State, int, int, float]:
    """One start of :func:`partition`: Lloyd, contiguity repair, balancing, smoothing, compactness search."""
    labels, iters = _lloyd(units, k, entropy, max_iter, fn)
    state = _State(units, labels, k, fn)
    movable = np.ones(units.n, dtype=bool)
    repaired = _repair_contiguity(state, movable)
    opt = _SearchOptions(
        tolerance=tolerance, min_compactness=min_compactness, movable=movable,
        closed_grids=np.zeros(k, dtype=bool), retailer_weight=0.0, crossing_weight=crossing_weight,
    )  # fmt: skip
    lloyd_ratio = balance_ratio(state.W)
    moves = repaired + _balance(state, opt)
    for _ in range(3):  # compactness within the tolerance, then re-balance
        smoothed = _smooth(state, opt)
        moves += smoothed + _balance(state, opt)
        if smoothed == 0:
            break
    if compact_search:
        moves += _compact(state, opt)
        moves += _balance(state, opt)
    return state, iters, moves, lloyd_ratio


def partition(
    units: UnitTable,
    k: int,
    *,
    seed: int = 0,
    tolerance: float = 1.02,
    workload_fn: WorkloadFn | None = None,
    max_iter: int = 15,
    min_compactness: float = 0.40,
    crossing_weight: float = 1.0,
    compact_search: bool = True,
    starts: int = 1,
) -> PartitionResult:
    """Divide units into ``k`` contiguous, compact grids of equal workload.

    Parameters
    ----------
    units : UnitTable
        The building units.
    k : int
        Number of grids, 1 <= k <= number of units.
    seed : int, default 0
        Seed of the k-means++ start; the same inputs and seed give the same grids.
    tolerance : float, default 1.02
        Target max/min of grid workloads.
    workload_fn : callable, optional
        ``f(service_min, access_min, stops_per_month, area_km2, depot_dist_m) -> minutes`` per grid
        (vectorised); default :class:`~gridmgmt.grids.metrics.WorkloadModel` with no tour or depot
        term. Its ``c_tour_min`` attribute, if any, shapes the Lloyd weights.
    max_iter : int, default 15
        Lloyd iterations at most.
    min_compactness : float, default 0.40
        Polsby-Popper floor the local search never pushes a grid below.
    crossing_weight : float, default 1.0
        Weight of edge crossing costs when choosing which boundary unit to move.
    compact_search : bool, default True
        Finish with the compactness search (boundary moves and pairwise swaps lowering
        ``sum(1 / Polsby-Popper)`` within the tolerance, see :func:`_compact`).
    starts : int, default 1
        Independent starts (k-means++ seeds derived from ``seed``); the plan kept is within
        tolerance and one piece per grid if any is, then has the highest mean + min Polsby-Popper.

    Returns
    -------
    PartitionResult

    Raises
    ------
    InfeasiblePlanError
        ``k`` < 1 or ``k`` greater than the number of units.
    """
    t0 = time.perf_counter()
    _check_k(k, units.n)
    fn = workload_fn or WorkloadModel()
    if k == 1:
        state = _State(units, np.zeros(units.n, dtype=np.int64), 1, fn)
        return _result(state, tolerance, iterations=0, n_moves=0, t0=t0)
    best: tuple[tuple[bool, float], _State, int, int, float] | None = None
    for start in range(max(1, int(starts))):
        entropy = seed if start == 0 else [seed, start]
        state, iters, moves, lloyd_ratio = _one_start(units, k, entropy, max_iter, fn, tolerance, min_compactness,
                                                      crossing_weight, compact_search)  # fmt: skip
        pp = state.compactness()
        feasible = balance_ratio(state.W) <= tolerance and bool(
            (components_per_grid(state.lab, units.edges, k) == 1).all()
        )
        key = (feasible, float(pp.mean() + pp.min()))
        logger.debug("partition start %d: max/min %.4f, PP mean %.3f min %.3f", start, balance_ratio(state.W),
                     pp.mean(), pp.min())  # fmt: skip
        if best is None or key > best[0]:
            best = (key, state, iters, moves, lloyd_ratio)
    assert best is not None
    _, state, iters, moves, lloyd_ratio = best
    repaired = 0
    res = _result(state, tolerance, iterations=iters, n_moves=moves + repaired, t0=t0)
    logger.info(
        "partition: k=%d, %d Lloyd iterations (max/min %.3f), %d repair + %d balancing moves -> max/min %.4f in %.2f s",
        k, iters, lloyd_ratio, repaired, moves, res.balance, res.elapsed_s,
    )  # fmt: skip
    if res.balance > tolerance:
        logger.warning("partition: max/min %.4f above tolerance %.3f", res.balance, tolerance)
    return res


# --------------------------------------------------------------------------------------------
# Rebalance
# --------------------------------------------------------------------------------------------


def _resolve_labels(units: UnitTable, current_labels: Any) -> NDArray[np.int64]:
    """Current grid of every unit (-1 for new units), from an aligned array or a Series by unit id."""
    import pandas as pd

    if isinstance(current_labels, pd.Series):
        ser = current_labels.reindex(pd.Index(units.unit_id))
        values = ser.to_numpy(dtype=float, na_value=-1.0)
    else:
        values = np.asarray(current_labels, dtype=float).reshape(-1)
        if values.size != units.n:
            raise InputError(
                _problem("current_labels", f"has {values.size} values for {units.n} units",
                         hint="pass one grid index per unit (-1 for new units) or a Series indexed by unit_id")
            )  # fmt: skip
    values = np.where(np.isnan(values), -1.0, values)
    if (values != np.round(values)).any() or (values < -1).any():
        raise InputError(_problem("current_labels", "grid indices must be integers 0..k-1 (-1 for new units)"))
    if (values < 0).all():
        raise InputError(_problem("current_labels", "no unit has a current grid", hint="use partition() instead"))
    return values.astype(np.int64)


def _fill_new(units: UnitTable, lab: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """New units take the most common grid among labelled neighbours, spreading outwards; else the nearest."""
    lab = lab.copy()
    e = units.edges
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    while (lab < 0).any():
        m = (lab[src] >= 0) & (lab[dst] < 0)
        if not m.any():
            break
        counts = np.zeros((units.n, k))
        np.add.at(counts, (dst[m], lab[src[m]]), 1.0)
        rows = np.unique(dst[m])
        lab[rows] = np.argmax(counts[rows], axis=1)
    known = np.flatnonzero(lab >= 0)
    if known.size == 0:  # nothing labelled to spread from
        lab[:] = 0
    elif (lab < 0).any():
        _, j = cKDTree(units.xy_m[known]).query(units.xy_m[lab < 0])
        lab[lab < 0] = lab[known[j]]
    return lab


def _resolve_locks(units: UnitTable, locked_units: Any) -> NDArray[np.bool_]:
    if locked_units is None:
        return np.zeros(units.n, dtype=bool)
    arr = np.asarray(locked_units)
    if arr.dtype == bool:
        if arr.shape != (units.n,):
            raise InputError(_problem("locked_units", f"boolean mask has {arr.size} values for {units.n} units"))
        return arr.copy()
    ids = list(np.atleast_1d(arr))
    pos = {v: i for i, v in enumerate(units.unit_id.tolist())}
    unknown = [v for v in ids if v not in pos]
    if unknown:
        raise InputError(_problem("locked_units", f"{len(unknown)} locked unit ids are not in the unit table",
                                  unknown[0], "lock units by their unit_id"))  # fmt: skip
    mask = np.zeros(units.n, dtype=bool)
    mask[[pos[v] for v in ids]] = True
    return mask


def _dissolve(state: _State, d: int, closed: NDArray[np.bool_]) -> None:
    """Hand the units of grid ``d`` to neighbouring grids, the lightest neighbour first."""
    while state.count[d] > 0:
        lab = state.lab
        m = (lab[state.src] == d) & (lab[state.dst] != d)
        m &= ~closed[lab[state.dst]]
        if not m.any():
            raise InfeasiblePlanError(f"grid {d} cannot be dissolved: all its neighbours are locked grids")
        hs = lab[state.dst[m]]
        h = int(min(np.unique(hs), key=lambda g: (state.W[g], g)))
        mh = m & (lab[state.dst] == h)
        cand = np.unique(state.src[mh])
        # compact growth: the frontier unit nearest the work centre of h
        a = state.agg[h]
        wsum = a[2] if a[2] > 0 else a[3]
        cx = (a[4] if a[2] > 0 else a[6]) / max(wsum, 1e-12)
        cy = (a[5] if a[2] > 0 else a[7]) / max(wsum, 1e-12)
        d2 = (state.u.xy_m[cand, 0] - cx) ** 2 + (state.u.xy_m[cand, 1] - cy) ** 2
        state.move(int(cand[np.lexsort((cand, d2))[0]]), h)


def _split(state: _State, s: int, new: int) -> None:
    """Split grid ``s`` across its principal axis into two halves of equal additive workload."""
    members = np.flatnonzero(state.lab == s)
    if members.size < 2:
        raise InfeasiblePlanError(f"grid {s} has a single unit and cannot be split")
    xy = state.u.xy_m[members]
    w = state.cols[members, 0] + state.cols[members, 1] + 1e-6
    centred = xy - (xy * w[:, None]).sum(axis=0) / w.sum()
    _, _, vt = np.linalg.svd(centred * np.sqrt(w)[:, None], full_matrices=False)
    proj = centred @ vt[0]
    order = np.argsort(proj, kind="stable")
    half = order[np.cumsum(w[order]) <= w.sum() / 2]
    if half.size == 0:
        half = order[:1]
    side = np.zeros(members.size, dtype=bool)
    side[half] = True
    # the new grid takes the half with fewer retailers (fewer retailers change grid)
    r = state.u.n_retailers[members]
    if r[side].sum() > r[~side].sum():
        side = ~side
    lab = state.lab.copy()
    lab[members[side]] = new
    state.set_labels(lab)


def _lock_diagnosis(
    state: _State,
    opt: _SearchOptions,
    locked_grid_ids: list[int],
    locked_units: NDArray[np.bool_],
    name: Callable[[int], object] = int,
) -> list[str]:
    """Locks that keep the workloads out of range: locked grids out of band, grids walled in by locks."""
    W = state.W
    mean = float(W.mean())
    lo, hi = mean / math.sqrt(opt.tolerance), mean * math.sqrt(opt.tolerance)
    reasons = []
    for g in locked_grid_ids:
        if W[g] < lo or W[g] > hi:
            reasons.append(
                f"locked grid {name(g)} has {W[g]:,.0f} min/month, outside {lo:,.0f}-{hi:,.0f} (mean {mean:,.0f}), "
                "and cannot give or take units"
            )
    lab = state.lab
    for g in np.flatnonzero((lo > W) | (hi < W)):
        if g in locked_grid_ids:
            continue
        m = (lab[state.src] == g) & (lab[state.dst] != g)
        nb_grids = set(lab[state.dst[m]].tolist())
        open_nb = [h for h in nb_grids if not opt.closed_grids[h]]
        heavy = W[g] > hi
        boundary = np.unique(state.src[m] if heavy else state.dst[m])
        blocked_units = boundary[locked_units[boundary]]
        if not open_nb:
            reasons.append(
                f"grid {name(g)} ({W[g]:,.0f} min) only borders locked grids {sorted(name(h) for h in nb_grids)}"
            )
        elif blocked_units.size and blocked_units.size >= 0.8 * boundary.size:
            ids = ", ".join(str(v) for v in state.u.unit_id[blocked_units[:8]])
            reasons.append(
                f"grid {name(g)} ({W[g]:,.0f} min) has {blocked_units.size} of {boundary.size} boundary units locked "
                f"(units {ids}{', ...' if blocked_units.size > 8 else ''})"
            )
    return reasons


def rebalance(
    units: UnitTable,
    current_labels: Any,
    k: int | None = None,
    *,
    locked_units: Any = None,
    locked_grids: Sequence[int] = (),
    tolerance: float = 1.05,
    workload_fn: WorkloadFn | None = None,
    min_compactness: float = 0.40,
    compactness_slack: float = 0.05,
    crossing_weight: float = 1.0,
    retailer_weight: float = REBALANCE_RETAILER_WEIGHT,
    dissolve_candidates: int = 3,
    grid_names: Sequence[object] | None = None,
) -> PartitionResult:
    """Restore balance from the current grids, moving as few retailers as possible.

    New units (label -1) join the grid of their labelled neighbours. When ``k`` is smaller than
    the current number of grids, the grid whose dissolution moves the fewest retailers
    (among the ``dissolve_candidates`` with the fewest retailers, each tried) is handed to its
    neighbours; when larger, the heaviest grid is split in two. Then boundary units move between
    neighbouring grids only, keeping every grid contiguous and compact, preferring units with few
    retailers per minute of workload, until max/min <= ``tolerance``.

    Parameters
    ----------
    units : UnitTable
        The units now (closed units removed, new ones added).
    current_labels : array_like of int (one per unit, -1 = new) or pandas.Series by unit_id
        Current grid index 0..k_old-1.
    k : int, optional
        Number of grids wanted; default the current number.
    locked_units : bool mask or sequence of unit ids, optional
        Units that must keep their grid.
    locked_grids : sequence of int
        Current grid indices that neither give nor take units (and are never dissolved or split).
    tolerance : float, default 1.05
        Target max/min of workloads.
    workload_fn : callable, optional
        As in :func:`partition`.
    min_compactness : float, default 0.40
        Polsby-Popper floor moves never push a grid below, unless it starts below
        ``min_compactness + compactness_slack``: then it may lose ``compactness_slack``
        (``min_compactness=1`` keeps every grid within the slack of where it starts).
    compactness_slack : float, default 0.05
        See ``min_compactness``.
    crossing_weight : float, default 1.0
        Weight of crossing costs when choosing boundary units.
    retailer_weight : float, default 2
        Weight of retailers moved against workload passed, when choosing boundary units.
    dissolve_candidates : int, default 3
        Grids tried for dissolution when ``k`` decreases.
    grid_names : sequence, optional
        Name of each current grid index in error messages (e.g. 1-based grid ids); default the index.

    Returns
    -------
    PartitionResult
        With ``moved``, ``moved_retailers`` (over the retailers of units that had a grid) and
        ``label_map`` (old grid index -> new index, ``None`` for a dissolved grid).

    Raises
    ------
    InputError
        Labels or locks that do not fit the units.
    InfeasiblePlanError
        Bad ``k``, or locks that make the tolerance impossible (the message names them).
    """
    t0 = time.perf_counter()
    fn = workload_fn or WorkloadModel()
    start = _resolve_labels(units, current_labels)
    k_old = int(start.max()) + 1
    k = k_old if k is None else k
    _check_k(k, units.n)
    locked_grid_ids = sorted({int(g) for g in locked_grids})
    bad = [g for g in locked_grid_ids if g < 0 or g >= k_old]
    if bad:
        raise InputError(_problem("locked_grids", f"grid index out of range 0..{k_old - 1}", bad[0]))
    had_grid = start >= 0

    def old_name(g: int) -> object:
        return grid_names[g] if grid_names is not None and 0 <= g < len(grid_names) else g

    lab = _fill_new(units, start, k_old)
    locked = _resolve_locks(units, locked_units) | np.isin(lab, locked_grid_ids)
    closed = np.zeros(k_old, dtype=bool)
    closed[locked_grid_ids] = True
    state = _State(units, lab, k_old, fn)
    W_locked = state.W[closed]
    if W_locked.size >= 2 and balance_ratio(W_locked) > tolerance:
        names = ", ".join(f"grid {old_name(g)} ({state.W[g]:,.0f} min)" for g in locked_grid_ids)
        raise InfeasiblePlanError(
            f"locked grids alone are out of balance (max/min {balance_ratio(W_locked):.3f} > {tolerance}): {names}; "
            "unlock one of them"
        )
    movable = ~locked
    moves = _repair_contiguity(state, movable)
    label_map: dict[int, int | None] = {g: g for g in range(k_old)}

    if k < k_old:
        for _ in range(k_old - k):
            state, closed, movable, label_map = _drop_grid(
                state, closed, movable, locked, label_map, fn, tolerance, min_compactness, compactness_slack,
                crossing_weight, retailer_weight, dissolve_candidates,
            )  # fmt: skip
            locked = ~movable
    elif k > k_old:
        for _ in range(k - k_old):
            open_ = np.flatnonzero(~closed)
            if open_.size == 0:
                raise InfeasiblePlanError("cannot add a grid: every grid is locked")
            heaviest = int(open_[np.argmax(state.W[open_])])
            newk = state.k + 1
            bigger = _State(units, state.lab, newk, fn)
            _split(bigger, heaviest, newk - 1)
            state = bigger
            closed = np.append(closed, False)

    opt = _SearchOptions(
        tolerance=tolerance, min_compactness=min_compactness, movable=movable, closed_grids=closed,
        retailer_weight=retailer_weight, crossing_weight=crossing_weight, compactness_slack=compactness_slack,
    )  # fmt: skip
    lookup = np.array([-1 if label_map[g] is None else label_map[g] for g in range(k_old)] + [-1], dtype=np.int64)
    mapped = lookup[start]  # start == -1 picks the trailing -1
    opt.home = np.where(had_grid, mapped, -1)
    moves += _balance(state, opt)
    moves += _polish(state, opt.home, opt)
    if not locked_grid_ids and not _resolve_locks(units, locked_units).any():
        # which new grid continues which old one: the matching keeping most retailers in place
        label_map = _match_grids(start, state.lab, units.n_retailers, k_old, state.k, label_map)
        lookup = np.array([-1 if label_map[g] is None else label_map[g] for g in range(k_old)] + [-1], dtype=np.int64)
        mapped = lookup[start]
    moved = had_grid & (state.lab != mapped)
    res = _result(
        state, tolerance, iterations=0, n_moves=moves, t0=t0, moved=moved, label_map=label_map,
        total_retailers=float(units.n_retailers[had_grid].sum()),
    )  # fmt: skip
    if res.balance > tolerance:
        new_ids = {old: new for old, new in label_map.items() if new is not None}
        inverse = {new: old for old, new in new_ids.items()}

        def new_name(g: int) -> object:
            return old_name(inverse[g]) if g in inverse else f"new {g}"

        reasons = _lock_diagnosis(state, opt, [new_ids[g] for g in locked_grid_ids], locked, new_name)
        if reasons:
            raise InfeasiblePlanError(
                f"cannot reach max/min <= {tolerance} (best {res.balance:.3f}) because of locks: " + "; ".join(reasons)
            )
        logger.warning("rebalance: max/min %.4f above tolerance %.3f", res.balance, tolerance)
    logger.info(
        "rebalance: k %d -> %d, %d moves, %.1f%% of retailers moved, max/min %.4f in %.2f s",
        k_old, k, moves, 100 * res.moved_share, res.balance, res.elapsed_s,
    )  # fmt: skip
    return res


def _match_grids(
    start: NDArray[np.int64],
    labels: NDArray[np.int64],
    weight: NDArray[np.float64],
    k_old: int,
    k_new: int,
    label_map: dict[int, int | None],
) -> dict[int, int | None]:
    """Old grid -> new grid by the assignment keeping the most retailers (weight) in place.

    Returns ``label_map`` unchanged unless the matching keeps strictly more retailers.
    """
    from scipy.optimize import linear_sum_assignment

    ok = start >= 0
    ct = np.zeros((k_old, k_new))
    np.add.at(ct, (start[ok], labels[ok]), weight[ok])
    rows, cols = linear_sum_assignment(-ct)
    kept_now = sum(ct[g, h] for g, h in label_map.items() if h is not None)
    if ct[rows, cols].sum() <= kept_now + 1e-9:
        return label_map
    out: dict[int, int | None] = {g: None for g in range(k_old)}
    out.update({int(g): int(h) for g, h in zip(rows, cols, strict=True)})
    return out


def _drop_grid(
    state: _State,
    closed: NDArray[np.bool_],
    movable: NDArray[np.bool_],
    locked: NDArray[np.bool_],
    label_map: dict[int, int | None],
    fn: WorkloadFn,
    tolerance: float,
    min_compactness: float,
    compactness_slack: float,
    crossing_weight: float,
    retailer_weight: float,
    candidates: int,
) -> tuple[_State, NDArray[np.bool_], NDArray[np.bool_], dict[int, int | None]]:
    """Dissolve the open grid whose removal (plus rebalancing) moves the fewest retailers."""
    k = state.k
    has_lock = np.bincount(state.lab[locked], minlength=k) > 0
    open_ = np.flatnonzero(~closed & ~has_lock)
    if open_.size == 0:
        raise InfeasiblePlanError("cannot remove a grid: every grid is locked or holds locked units")
    R = state.agg[:, 9]
    tried = open_[np.lexsort((open_, R[open_]))][: max(1, candidates)]
    best: tuple[float, int, _State] | None = None
    for d in tried:
        trial = _State(state.u, state.lab, k, fn)
        _dissolve(trial, int(d), closed)
        cl = closed.copy()
        cl[d] = True
        opt = _SearchOptions(
            tolerance=tolerance, min_compactness=min_compactness, movable=movable, closed_grids=cl,
            retailer_weight=retailer_weight, crossing_weight=crossing_weight,
            compactness_slack=compactness_slack, home=np.where(state.lab == d, -1, state.lab),
        )  # fmt: skip
        _balance(trial, opt)
        _polish(trial, opt.home, opt)
        cost = float(state.u.n_retailers[trial.lab != state.lab].sum())
        ratio = balance_ratio(trial.W[~cl])
        key = cost + (1e12 if ratio > tolerance else 0.0)
        logger.debug("dissolving grid %d: %.0f retailers moved, max/min %.4f", d, cost, ratio)
        if best is None or key < best[0]:
            best = (key, int(d), trial)
    assert best is not None
    _, d, trial = best
    # renumber: grids above d shift down by one
    new_index = np.arange(k) - (np.arange(k) > d)
    lab = new_index[trial.lab]
    new_map: dict[int, int | None] = {}
    for old, cur in label_map.items():
        new_map[old] = None if cur is None or cur == d else int(new_index[cur])
    new_state = _State(state.u, lab, k - 1, fn)
    return new_state, np.delete(closed, d), movable, new_map
