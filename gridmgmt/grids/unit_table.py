"""The unit table: building units of a partition (centroids, workload parts, areas, adjacency), validated.

The partition core is geography-free: a :class:`UnitTable` is built from plain arrays
(:meth:`UnitTable.from_arrays`, the canonical builder) or from a GeoDataFrame of unit cells
(:meth:`UnitTable.from_geodataframe`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridmgmt._errors import InputError, Problem

if TYPE_CHECKING:
    import geopandas as gpd
    from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

_SOURCE = "units"


def unit_problem(field_: str, message: str, value: object = None, hint: str = "") -> Problem:
    """A problem with the units given to the partition (file ``units``), for an :class:`InputError`."""
    return Problem(file=_SOURCE, field=field_, value=value, message=message, hint=hint)


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
    travel_factor : numpy.ndarray, shape (n,), or None
        Routed over modelled travel where each unit lies (:meth:`with_travel_factor`): a grid's
        modelled travel is scaled by the stop-weighted mean over its units. None: 1 everywhere.
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
    travel_factor: NDArray[np.float64] | None = None

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
            raise InputError(unit_problem("xy_m", "need an (n, 2) array of unit centroids in metres", xy.shape))
        n = xy.shape[0]

        def vec(name: str, values: ArrayLike | None, default: float | None) -> NDArray[np.float64]:
            if values is None:
                return np.full(n, default if default is not None else 0.0)
            v = np.asarray(values, dtype=float).reshape(-1)
            if v.size != n:
                problems.append(unit_problem(name, f"has {v.size} values for {n} units"))
                return np.zeros(n)
            bad = ~np.isfinite(v) | (v < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problems.append(
                    unit_problem(
                        name,
                        f"{int(bad.sum())} values are negative or missing, first at unit {i}",
                        v[i],
                        "workload parts and areas must be finite and >= 0",
                    )
                )
            return v

        if not np.isfinite(xy).all():
            problems.append(unit_problem("xy_m", "centroids must be finite", hint="drop units without coordinates"))
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
            raise InputError(unit_problem("unit_id", f"has {ids.size} values for {n} units"))
        if len(np.unique(ids)) != n:
            raise InputError(unit_problem("unit_id", "unit identifiers must be unique"))
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
                unit_problem("geometry", "unit cells must be in a projected (metric) CRS", str(crs),
                         "reproject first, e.g. gdf.to_crs(gdf.estimate_utm_crs())")
            )  # fmt: skip
        missing = [c for c in (service_col, access_col, stops_col, retailers_col, id_col) if c and c not in gdf]
        if missing:
            raise InputError(unit_problem(missing[0], "column not found", hint=f"columns are {list(gdf.columns)}"))
        geoms = np.asarray(gdf.geometry.array)
        kinds = shapely.get_type_id(geoms)
        if not np.isin(kinds, (3, 6)).all():
            raise InputError(
                unit_problem("geometry", "unit cells must be polygons", hint="buffer points or use from_arrays")
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
        ).with_travel_factor(None if self.travel_factor is None else self.travel_factor[mask])  # fmt: skip

    def with_travel_factor(self, factor: ArrayLike | None) -> UnitTable:
        """The same units with each unit's travel priced ``factor`` times the model's (None: the model's)."""
        if factor is None:
            return replace(self, travel_factor=None)
        f = np.asarray(factor, dtype=float)
        if f.shape != (self.n,) or not (np.isfinite(f).all() and (f > 0).all()):
            raise ValueError(f"travel_factor: expected {self.n} positive finite values, got shape {f.shape}")
        return replace(self, travel_factor=f)


def _median_spacing(xy: NDArray[np.float64]) -> float:
    if len(xy) < 2:
        return 100.0
    d, _ = cKDTree(xy).query(xy, k=2)
    s = float(np.median(np.asarray(d)[:, 1]))
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
        # scipy-stubs: issparse narrows to SparseABC, which coo_array's overloads do not take
        coo = sparse.coo_array(edges)  # type: ignore[call-overload]
        if coo.shape != (n, n):
            problems.append(unit_problem("edges", f"adjacency matrix is {coo.shape}, expected ({n}, {n})"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
        e = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
        cross = np.zeros(len(e))
        shared = None
    else:
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        cross = np.zeros(len(e)) if crossing_cost is None else np.asarray(crossing_cost, dtype=float).reshape(-1)
        if cross.size != len(e):
            problems.append(unit_problem("crossing_cost", f"has {cross.size} values for {len(e)} edges"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
        if shared is not None and shared.size != len(e):
            problems.append(unit_problem("shared_m", f"has {shared.size} values for {len(e)} edges"))
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
    if e.size and (e.min() < 0 or e.max() >= n):
        bad = int(e.max() if e.max() >= n else e.min())
        problems.append(unit_problem("edges", f"unit index out of range 0..{n - 1}", bad))
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), None
    if (~np.isfinite(cross) | (cross < 0)).any():
        problems.append(unit_problem("crossing_cost", "crossing costs must be finite and >= 0"))
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
        target = int(np.flatnonzero(joined)[np.asarray(j)[best]])
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
