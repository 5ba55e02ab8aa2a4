"""Pointy-top hexagon lattice in a metric CRS: cells of a region, the cell of each point, the size rule.

The lattice is anchored at the origin of the CRS, so a given side length gives the same cells
for any region; cells are addressed by axial coordinates ``(q, r)``.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: Area of a regular hexagon of side 1 (multiply by side**2, in m2 for a side in m).
HEX_AREA_PER_SIDE2 = 1.5 * math.sqrt(3)


def hex_axial(x: np.ndarray, y: np.ndarray, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates ``(q, r)`` of the pointy-top hexagon of side ``size_m`` (m) containing each point (m)."""
    qf = (math.sqrt(3) / 3 * x - y / 3) / size_m
    rf = (2 / 3 * y) / size_m
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def hex_centres(q: np.ndarray, r: np.ndarray, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(x, y)`` in metres of the hexagons with axial coordinates ``(q, r)`` and side ``size_m`` (m)."""
    return size_m * math.sqrt(3) * (q + r / 2), size_m * 1.5 * r


def hex_grid(region: BaseGeometry, size_m: float, *, min_share: float = 0.5) -> gpd.GeoDataFrame:
    """Pointy-top hexagons of side ``size_m`` with at least ``min_share`` of their area in ``region``.

    Parameters
    ----------
    region
        Polygonal study region in a metric CRS.
    size_m
        Hexagon side (= circumradius), metres.
    min_share
        Smallest fraction (0-1) of a hexagon's area inside ``region`` for it to be kept.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``q``, ``r`` (axial lattice indices), ``x``, ``y`` (centre, m), ``area_share``
        (fraction of the hexagon inside the region, 0-1) and whole-hexagon ``geometry`` (no CRS
        set), ordered by ``r`` then ``q``.
    """
    minx, miny, maxx, maxy = region.bounds
    r_lo, r_hi = math.floor(miny / (1.5 * size_m)) - 1, math.ceil(maxy / (1.5 * size_m)) + 1
    r = np.arange(r_lo, r_hi + 1)
    width = size_m * math.sqrt(3)
    q_lo = math.floor(minx / width - r_hi / 2) - 1
    q_hi = math.ceil(maxx / width - r_lo / 2) + 1
    q_mesh, r_mesh = np.meshgrid(np.arange(q_lo, q_hi + 1), r)
    qq, rr = q_mesh.ravel(), r_mesh.ravel()
    cx, cy = hex_centres(qq, rr, size_m)
    near = (cx >= minx - width) & (cx <= maxx + width) & (cy >= miny - 2 * size_m) & (cy <= maxy + 2 * size_m)
    qq, rr, cx, cy = qq[near], rr[near], cx[near], cy[near]
    angles = np.deg2rad(30 + 60 * np.arange(7))  # pointy-top corners, ring closed
    ring = np.stack([cx[:, None] + size_m * np.cos(angles), cy[:, None] + size_m * np.sin(angles)], axis=-1)
    hexes = shapely.polygons(ring)
    assert isinstance(hexes, np.ndarray)  # one polygon per ring
    shapely.prepare(region)
    touching = shapely.intersects(region, hexes)
    share = np.zeros(len(hexes))
    share[touching] = shapely.area(shapely.intersection(hexes[touching], region)) / (HEX_AREA_PER_SIDE2 * size_m**2)
    keep = share >= min_share
    grid = gpd.GeoDataFrame(
        {"q": qq[keep], "r": rr[keep], "x": cx[keep], "y": cy[keep], "area_share": np.minimum(share[keep], 1.0)},
        geometry=hexes[keep],
    )
    return grid.sort_values(["r", "q"], kind="stable").reset_index(drop=True)


def hex_size_from_density(
    region_area_m2: float, n_points: int, points_per_cell: float, min_cells: int, max_cells: int
) -> tuple[float, float]:
    """Hexagon side (m) and the target cell count for ``points_per_cell`` points per cell on average.

    The count ``n_points / points_per_cell`` is clamped to ``[min_cells, max_cells]``; the cells
    then share ``region_area_m2`` (m2) equally.
    """
    target_cells = min(max(n_points / points_per_cell, min_cells), max_cells)
    area = region_area_m2 / target_cells
    return math.sqrt(2 * area / (3 * math.sqrt(3))), target_cells
