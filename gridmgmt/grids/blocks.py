"""Street blocks as the building units of service grids.

The street centrelines (network edges, undirected) plus the district boundary line are noded
and polygonized; the faces inside the boundary are the blocks. They partition the district
exactly, so a grid built as a union of blocks has its internal boundaries along streets and
grids never overlap or leave gaps. Slivers smaller than ``min_block_m2`` join the neighbour
they share the longest boundary with.

Blocks are adjacent when they share a boundary of positive length (a street segment between
them). A shared boundary lying along a major road (trunk, primary, secondary) costs more to
cross, so grid boundaries prefer major roads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

if TYPE_CHECKING:
    import networkx as nx
    from pyproj import CRS

logger = logging.getLogger(__name__)

#: Highway classes whose crossing costs more (grid boundaries prefer them).
MAJOR_HIGHWAYS = frozenset({"motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link",
                            "primary_link", "secondary_link"})  # fmt: skip


#: spacing of the lattice that cuts large fringe blocks, metres
LATTICE_M = 500.0


@dataclass
class Blocks:
    """Street blocks of a district (metric CRS).

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        One polygon per block (``block_id`` 0..n-1), metric CRS.
    edges : numpy.ndarray of int, shape (m, 2)
        Adjacent block pairs ``i < j`` (sharing a street segment).
    shared_m : numpy.ndarray, shape (m,)
        Shared boundary length, metres.
    major_share : numpy.ndarray, shape (m,)
        Share of the shared boundary lying along a major road (0..1).
    split_share : numpy.ndarray, shape (m,)
        Share of the shared boundary lying on the split of a heavy block (0..1): off every street
        and off the lattice that cuts large fringe blocks.
    streets : geopandas.GeoSeries
        Undirected street centrelines (metric CRS), for boundary checks.
    major : geopandas.GeoSeries
        Major-road centrelines (metric CRS).
    """

    cells: gpd.GeoDataFrame
    edges: np.ndarray
    shared_m: np.ndarray
    major_share: np.ndarray
    split_share: np.ndarray
    streets: gpd.GeoSeries
    major: gpd.GeoSeries

    @property
    def n(self) -> int:
        """Number of blocks."""
        return len(self.cells)


def street_lines(graph: nx.MultiDiGraph, crs: CRS) -> gpd.GeoDataFrame:
    """Undirected street centrelines of an osmnx graph, projected to ``crs``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``highway`` (first class if a list), ``major`` (bool) and line geometry, one row per street
        segment (both directions of a two-way street give one row).
    """
    import osmnx as ox

    edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True).reset_index()
    a = edges[["u", "v"]].min(axis=1)
    b = edges[["u", "v"]].max(axis=1)
    edges = edges.assign(_a=a, _b=b).drop_duplicates(subset=["_a", "_b", "length"]).drop(columns=["_a", "_b"])
    hw = edges["highway"].map(lambda v: v[0] if isinstance(v, list) else v).fillna("").astype(str)
    major = edges["highway"].map(
        lambda v: any(h in MAJOR_HIGHWAYS for h in v) if isinstance(v, list) else v in MAJOR_HIGHWAYS
    )
    out = gpd.GeoDataFrame({"highway": hw.to_numpy(), "major": major.to_numpy(dtype=bool)},
                           geometry=edges.geometry.to_numpy(), crs=edges.crs).to_crs(crs)  # fmt: skip
    return out


def street_blocks(
    graph: nx.MultiDiGraph,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries,
    crs: CRS,
    *,
    min_block_m2: float = 2000.0,
    max_block_m2: float = 250_000.0,
    cut_m: float = LATTICE_M,
) -> Blocks:
    """Polygonize the streets and the boundary line into blocks that partition the boundary.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Road network (osmnx, WGS-84).
    boundary : geopandas.GeoDataFrame or GeoSeries
        District boundary (any CRS).
    crs : pyproj.CRS
        Metric CRS to work in (e.g. ``District.crs``).
    min_block_m2 : float, default 2000
        Blocks smaller than this (m2) merge into the neighbour with the longest shared boundary.
    max_block_m2 : float, default 250000
        Blocks on the district boundary larger than this and not compact (Polsby-Popper < 0.3):
        the fringe between the outermost streets and the boundary, are cut by a square lattice of
        ``cut_m`` (m) so that no block wraps around the district. Those cut lines are the only
        block edges that are not streets or the boundary, so grids may draw boundaries along
        them; inner blocks without streets (a hill, a harbour, a campus) stay whole.
    cut_m : float, default 500
        Lattice spacing for cutting large non-compact blocks, metres.

    Returns
    -------
    Blocks
    """
    area = shapely.make_valid(boundary.to_crs(crs).union_all())
    streets = street_lines(graph, crs)
    lines = np.asarray(streets.geometry.array)
    ring = shapely.boundary(area)
    noded = shapely.union_all(np.append(lines, ring))  # nodes every crossing
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    # faces outside the boundary are dropped; faces inside are kept whole (the ring is in the noding)
    inside = shapely.contains(area, shapely.point_on_surface(faces))
    faces = faces[inside & (shapely.area(faces) > 1.0)]
    faces = shapely.make_valid(faces)
    faces = np.asarray([p for f in faces for p in shapely.get_parts(f) if shapely.get_type_id(p) == 3])
    faces = _cut_large(faces, max_block_m2, cut_m, ring)
    # a common precision grid makes neighbouring cells share exactly the same vertices
    faces = shapely.set_precision(faces, 0.01)
    faces = faces[~shapely.is_empty(faces)]
    faces = _merge_slivers(faces, min_block_m2)
    cells = gpd.GeoDataFrame({"block_id": np.arange(len(faces))}, geometry=faces, crs=crs)
    edges, shared, major_share, split_share = _adjacency(faces, streets)
    covered = float(shapely.area(faces).sum())
    logger.info("street blocks: %d blocks, %d adjacencies, cover %.3f%% of the boundary",
                len(faces), len(edges), 100 * covered / max(area.area, 1e-9))  # fmt: skip
    return Blocks(cells=cells, edges=edges, shared_m=shared, major_share=major_share, split_share=split_share,
                  streets=streets.geometry, major=streets.geometry[streets["major"].to_numpy()])  # fmt: skip


def _cut_large(faces: np.ndarray, max_m2: float, cut_m: float, ring: BaseGeometry) -> np.ndarray:
    """Cut large non-compact faces on the boundary ``ring`` by a square lattice (anchored at multiples of ``cut_m``)."""
    area = shapely.area(faces)
    pp = 4 * np.pi * area / np.maximum(shapely.length(faces) ** 2, 1e-9)
    fringe = shapely.length(shapely.intersection(shapely.boundary(faces), shapely.buffer(ring, 0.5))) > 1.0
    big = np.flatnonzero((area > max_m2) & (pp < 0.3) & fringe)
    if big.size == 0:
        return faces
    out = [f for i, f in enumerate(faces) if i not in set(big.tolist())]
    for i in big:
        x0, y0, x1, y1 = shapely.bounds(faces[i])
        xs = np.arange(np.floor(x0 / cut_m), np.ceil(x1 / cut_m)) * cut_m
        ys = np.arange(np.floor(y0 / cut_m), np.ceil(y1 / cut_m)) * cut_m
        gx, gy = np.meshgrid(xs, ys)
        boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cut_m, gy.ravel() + cut_m)
        pieces = shapely.intersection(faces[i], boxes)
        for piece in pieces[~shapely.is_empty(pieces)]:
            out.extend(p for p in shapely.get_parts(piece) if shapely.get_type_id(p) == 3 and p.area > 1.0)
    logger.info("cut %d large non-compact blocks by a %.0f m lattice", big.size, cut_m)
    return np.asarray(out)


#: boundaries closer than this (m) count as shared: clipping and splitting leave collinear edges
#: with different vertices, whose exact intersection is only points
SHARED_TOLERANCE_M = 0.05


def _pairs(faces: np.ndarray, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rook pairs (sharing a boundary of positive length), optionally only pairs touching ``subset``."""
    tree = shapely.STRtree(faces)
    tol = SHARED_TOLERANCE_M
    if subset is None:
        a, b = tree.query(faces, predicate="dwithin", distance=tol)
    else:
        q, b = tree.query(faces[subset], predicate="dwithin", distance=tol)
        a = subset[q]
        a, b = np.minimum(a, b), np.maximum(a, b)
        ab = np.unique(np.stack([a, b], axis=1), axis=0)
        a, b = ab[:, 0], ab[:, 1]
    keep = a < b
    a, b = a[keep], b[keep]
    bnd = shapely.boundary(faces)
    # the part of a's boundary within the tolerance of b's (so the grid perimeter bookkeeping
    # sum(cell perimeters) - 2 * sum(shared) matches the dissolved polygon's perimeter)
    shared = shapely.intersection(bnd[a], shapely.buffer(bnd[b], tol, quad_segs=2))
    length = shapely.length(shared)
    rook = length > 10 * tol
    return a[rook], b[rook], shared[rook]


def _merge_slivers(faces: np.ndarray, min_m2: float) -> np.ndarray:
    """Union every face under ``min_m2`` into its neighbour with the longest shared boundary."""
    for _ in range(3):
        areas = shapely.area(faces)
        small = np.flatnonzero(areas < min_m2)
        if small.size == 0:
            break
        a, b, shared = _pairs(faces, small)
        length = shapely.length(shared)
        target = np.arange(len(faces))
        # smallest first, merging into the largest-boundary neighbour that is not itself merging away
        for i in small[np.argsort(areas[small], kind="stable")]:
            m = (a == i) | (b == i)
            if not m.any():
                continue
            nb = np.where(a[m] == i, b[m], a[m])
            ln = length[m]
            ok = target[nb] == nb
            if not ok.any():
                continue
            target[i] = int(nb[ok][np.argmax(ln[ok])])
        order = np.argsort(target, kind="stable")
        cuts = np.flatnonzero(np.diff(target[order])) + 1
        merged: list[BaseGeometry] = []
        for g in np.split(order, cuts):
            f = shapely.union_all(faces[g]) if len(g) > 1 else faces[g[0]]
            # faces whose target merged away, or touching only at a point, stay separate faces for the next
            # round: dropping a part would leave a hole in the blocks and in the grid polygons
            merged.extend(shapely.get_parts(f))
        faces = np.asarray(merged)
    return faces


def _adjacency(faces: np.ndarray, streets: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rook pairs, their shared length (m), and the share of it along a major road and on a heavy-block split."""
    a, b, shared = _pairs(faces)
    length = shapely.length(shared)
    lines = np.asarray(streets.geometry.array)
    major_share = _share_near(shared, lines[streets["major"].to_numpy()])
    off_street = 1.0 - _share_near(shared, lines)
    split_share = np.clip(off_street - _share_on_lattice(shared), 0.0, 1.0)
    return np.stack([a, b], axis=1).astype(np.int64), length, major_share, split_share


_SAMPLES = np.array([0.1, 0.3, 0.5, 0.7, 0.9])


def _share_near(shared: np.ndarray, lines: np.ndarray, distance_m: float = 2.0) -> np.ndarray:
    """Share of each shared boundary within ``distance_m`` of ``lines``, sampled at 5 points."""
    if not lines.size or not len(shared):
        return np.zeros(len(shared))
    tree = shapely.STRtree(lines)
    hits = np.zeros(len(shared))
    for f in _SAMPLES:
        pts = shapely.line_interpolate_point(shared, f, normalized=True)
        near, _ = tree.query(pts, predicate="dwithin", distance=distance_m)
        hits[np.unique(near)] += 1.0
    return hits / _SAMPLES.size


def _share_on_lattice(shared: np.ndarray, cut_m: float = LATTICE_M) -> np.ndarray:
    """Share of each shared boundary on a lattice cut line (x or y a multiple of ``cut_m``), sampled at 5 points."""
    on = np.zeros(len(shared))
    for f in _SAMPLES if len(shared) else ():
        xy = shapely.get_coordinates(shapely.line_interpolate_point(shared, f, normalized=True))
        on += np.abs(xy - np.round(xy / cut_m) * cut_m).min(axis=1) < 0.05
    return on / _SAMPLES.size


def split_heavy_blocks(
    blocks: Blocks, point_xy: np.ndarray, point_block: np.ndarray, weight: np.ndarray, cap: float, *, seed: int = 0
) -> Blocks:
    """Split blocks whose point weight exceeds ``cap`` into Voronoi parts around weighted k-means centres.

    Dense blocks (e.g. at 50,000 retailers) are too coarse to balance many grids; each is cut into
    ``ceil(weight / cap)`` parts. The cuts are the only unit edges inside a block (not along a street).

    Parameters
    ----------
    blocks : Blocks
    point_xy : numpy.ndarray, shape (p, 2)
        Points (retailers), metres, same CRS as the blocks.
    point_block : numpy.ndarray of int
        Block of every point.
    weight : numpy.ndarray
        Weight of every point (e.g. monthly minutes).
    cap : float
        Largest weight a unit should hold.
    seed : int
        Seed of the k-means.
    """
    from sklearn.cluster import KMeans

    tot = np.bincount(point_block, weights=weight, minlength=blocks.n)
    heavy = np.flatnonzero(tot > cap)
    if heavy.size == 0:
        return blocks
    geoms = list(blocks.cells.geometry.to_numpy())
    out: list = []
    for i, g in enumerate(geoms):
        if i not in set(heavy.tolist()):
            out.append(g)
            continue
        members = np.flatnonzero(point_block == i)
        xy = np.unique(point_xy[members], axis=0)
        parts = int(min(np.ceil(tot[i] / cap), len(xy)))
        if parts < 2:
            out.append(g)
            continue
        km = KMeans(n_clusters=parts, n_init=1, random_state=seed).fit(point_xy[members], sample_weight=weight[members])
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(km.cluster_centers_), extend_to=g))
        pieces = shapely.intersection(cells, g)
        for piece in pieces[~shapely.is_empty(pieces)]:
            out.extend(p for p in shapely.get_parts(piece) if shapely.get_type_id(p) == 3 and p.area > 1.0)
    faces = shapely.set_precision(np.asarray(out), 0.01)
    faces = faces[~shapely.is_empty(faces)]
    faces = np.asarray(
        [f if shapely.get_type_id(f) == 3 else max(shapely.get_parts(f), key=shapely.area) for f in faces]
    )
    streets = gpd.GeoDataFrame({"major": np.zeros(len(blocks.streets), dtype=bool)}, geometry=blocks.streets)
    streets.loc[blocks.streets.index.isin(blocks.major.index), "major"] = True
    edges, shared, major_share, split_share = _adjacency(faces, streets)
    cells = gpd.GeoDataFrame({"block_id": np.arange(len(faces))}, geometry=faces, crs=blocks.cells.crs)
    logger.info("split %d dense blocks: %d -> %d units", heavy.size, blocks.n, len(faces))
    return Blocks(cells=cells, edges=edges, shared_m=shared, major_share=major_share, split_share=split_share,
                  streets=blocks.streets,
                  major=blocks.major)  # fmt: skip


def assign_points(blocks: Blocks, points: gpd.GeoSeries) -> np.ndarray:
    """Index of the block containing each point (metric CRS); points outside any block get the nearest.

    Parameters
    ----------
    blocks : Blocks
    points : geopandas.GeoSeries
        Points in the blocks' CRS.

    Returns
    -------
    numpy.ndarray of int
        Block position 0..n-1 of every point, in order.
    """
    geoms = np.asarray(blocks.cells.geometry.array)
    pts = np.asarray(points.geometry.array)
    tree = shapely.STRtree(geoms)
    pi, bi = tree.query(pts, predicate="intersects")
    out = np.full(len(pts), -1, dtype=np.int64)
    # a point on a shared street line touches two blocks: the lowest index wins (deterministic)
    order = np.lexsort((bi, pi))
    first = order[np.r_[True, np.diff(pi[order]) != 0]] if len(pi) else order
    out[pi[first]] = bi[first]
    miss = np.flatnonzero(out < 0)
    if miss.size:
        hits = tree.query_nearest(pts[miss], all_matches=False)
        out[miss[hits[0]]] = hits[1]
        logger.info("%d points outside every block joined the nearest block", miss.size)
    return out


def boundary_on_street_share(
    grids: gpd.GeoSeries, streets: gpd.GeoSeries, *, tolerance_m: float = 15.0, step_m: float = 5.0
) -> float:
    """Share of internal grid boundary length within ``tolerance_m`` of a street centreline.

    Internal boundaries are where two grids meet (the outer district boundary is excluded);
    they are sampled every ``step_m`` metres.
    """
    geoms = np.asarray(grids.geometry.array)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    shared = shapely.intersection(shapely.boundary(geoms[a[keep]]), shapely.boundary(geoms[b[keep]]))
    parts = shapely.get_parts(shared)
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
    lengths = shapely.length(parts)
    if lengths.sum() <= 0:
        return float("nan")
    n = np.maximum(np.ceil(lengths / step_m).astype(int), 1)
    line_of = np.repeat(np.arange(parts.size), n)
    frac = (np.concatenate([np.arange(m) for m in n]) + 0.5) / np.repeat(n, n)
    pts = shapely.line_interpolate_point(parts[line_of], frac, normalized=True)
    weight = lengths[line_of] / np.repeat(n, n)
    near, _ = shapely.STRtree(np.asarray(streets.geometry.array)).query(pts, predicate="dwithin", distance=tolerance_m)
    ok = np.zeros(len(pts), dtype=bool)
    ok[near] = True
    return float(weight[ok].sum() / weight.sum())
