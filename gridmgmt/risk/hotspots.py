"""Hotspots of any point layer: hexagon counts, Getis-Ord Gi* with FDR control, and a kernel density peak.

The steps live in :mod:`gridmgmt.risk.hexgrid` (cells), :mod:`gridmgmt.risk.moran` (band),
:mod:`gridmgmt.risk.gistar` (test and FDR classes); :func:`find_hotspots` runs them in order.

The method, step by step (every scale is chosen by a rule, never tuned by hand):

1. **Region.** The study region is the given ``boundary`` (points outside it are ignored and
   counted) or, without one, the convex hull of the points, in the local UTM CRS
   (``estimate_utm_crs``).
2. **Hexagon size.** Pointy-top hexagons of equal area tile the region. The area is set so the
   mean count per cell is ``points_per_cell`` (default 8): ``area = points_per_cell / intensity``
   with ``intensity = n_points / region_area``, i.e. about ``n_points / points_per_cell`` cells,
   clamped to ``[min_cells, max_cells]`` so the test has enough units and stays fast. A cell
   is kept when at least half of it lies in the region or when it holds points. Cells are
   kept *whole* (equal areas) and only clipped for display when ``clip=True``; the tested
   value is the count (or weight sum) divided by the cell's share of area in the region
   (floored at 0.5), so edge cells are not mistaken for cold spots.
3. **Neighbourhood.** Binary distance-band weights on the hexagon centres (a libpysal ``W``,
   as ``DistanceBand`` builds, from a scipy KD-tree). The band is chosen by incremental spatial
   autocorrelation: global Moran's I (randomisation z-score, as ``esda.Moran``'s ``z_rand``)
   of the tested values for bands that add one ring of the hexagon lattice at a time (1,
   sqrt 3, 2, sqrt 7, 3, ... cell spacings, each at least 10% longer than the last, up to 6
   spacings and at most a quarter of the cells as neighbours). The band is the first peak of
   the z curve among significant z (>= 1.96); without a peak the band of the largest
   significant z; without significant clustering the default of 2 spacings (18
   neighbours). Curve and choice are recorded in ``scale_info``.
4. **Gi\\*.** ``esda.G_Local(star=True, transform="B")`` on the cell counts (or weight sums).
   Inference rule: a cluster of ``MIN_CLUSTER_CELLS`` (7: one hexagon and its ring) at the
   smallest permutation p-value must survive Benjamini-Hochberg at 1%, which needs
   ``permutations + 1 >= 2 * n_cells / (0.01 * 7)``. When that is at most
   ``MAX_PERMUTATIONS`` (9,999; about 350 cells) conditional permutation is used (two-sided
   p = 2 x the smaller tail, ties counted against significance, fixed ``seed``); with more
   cells the analytic normal approximation of Gi\\* (two-sided, from esda's ``Zs``) is used,
   which ArcGIS's Hot Spot Analysis also uses; it is reasonable here because interior cells
   have at least 6 neighbours and counts average ``points_per_cell``, but it is less
   conservative than permutations when a few cells hold most points.
5. **FDR.** Benjamini-Hochberg across all cells (``scipy.stats.false_discovery_control``);
   valid under the positive dependence of overlapping Gi\\* neighbourhoods. Classes
   ``hot_99/95/90`` and ``cold_99/95/90`` by FDR-adjusted p below 0.01/0.05/0.10 and the sign
   of the z-score, otherwise ``not_significant``.
6. **Kernel density.** ``scipy.stats.gaussian_kde`` in metric coordinates with Scott's rule
   bandwidth (weighted when a weight column is given), evaluated at cell centres
   (``kde_per_km2``: expected points, or weight, per km2) and refined on a fine raster
   around the best centre for the peak.

Everything is deterministic for a given ``seed`` (only the permutations use it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import stats
from shapely.geometry.base import BaseGeometry

from gridmgmt._errors import InputError, Problem
from gridmgmt.coords import WGS84, metric_crs
from gridmgmt.inputs.checks import TableCheck
from gridmgmt.risk.gistar import HOTSPOT_CLASSES, MIN_CLUSTER_CELLS, gi_star
from gridmgmt.risk.hexgrid import HEX_AREA_PER_SIDE2, hex_axial, hex_grid, hex_size_from_density
from gridmgmt.risk.moran import DEFAULT_BAND_SPACINGS, choose_band, lattice_bands, moran_curve
from gridmgmt.risk.neighbours import BandNeighbours

log = logging.getLogger(__name__)

MIN_POINTS = 10
MIN_AREA_SHARE = 0.5  # empty cells with less of their area in the region are left out


@dataclass
class HotspotResult:
    """Hotspots of one point layer.

    Attributes
    ----------
    cells
        Hexagon cells in WGS-84: ``cell_id`` (int), ``count`` (points in the cell),
        ``weight_sum`` (only with a weight column), ``area_share`` (fraction of the cell in
        the region; the tested value is count or weight sum / max(share, 0.5)), ``gi_z`` (Gi* z-score), ``p_value``
        (two-sided), ``p_fdr`` (Benjamini-Hochberg adjusted), ``hotspot_class`` (one of
        :data:`HOTSPOT_CLASSES`), ``kde_per_km2`` (kernel density at the centre, points or
        weight per km2), ``geometry``.
    kde_peak
        ``lon``, ``lat`` (WGS-84) and ``value_per_km2`` of the kernel density maximum, and
        ``bandwidth_m`` (Scott's rule, the geometric mean of the two axes).
    scale_info
        The chosen scales and how: ``hex_size_m`` (hexagon side = circumradius), ``hex_area_m2``,
        ``cell_spacing_m`` (distance between neighbouring centres), ``band_m``, ``band_rule``
        (``first_peak`` | ``max`` | ``default`` | ``given``), ``band_curve`` (list of dicts
        ``band_m``, ``moran_i``, ``z``), ``inference`` (``permutation`` | ``analytic``),
        ``permutations``, ``n_cells``, ``region``, ``region_area_km2``, ``crs`` and more.
    n_points
        Points counted in a cell (points outside the boundary are counted in
        ``scale_info["n_points_outside"]``).
    notes
        The method in plain sentences, for reports.
    point_cell_id
        For each input point (in input order), the ``cell_id`` it was counted in, -1 when outside.
    """

    cells: gpd.GeoDataFrame
    kde_peak: dict
    scale_info: dict
    n_points: int
    notes: list[str] = field(default_factory=list)
    point_cell_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)

    @classmethod
    def none_found(cls, n_points: int, reason: str) -> HotspotResult:
        """No hotspot statistics (too few points): empty cells and the reason in ``notes``."""
        columns = ["cell_id", "count", "area_share", "gi_z", "p_value", "p_fdr", "hotspot_class", "kde_per_km2"]
        cells = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns}, geometry=[], crs=WGS84)
        return cls(cells=cells, kde_peak={}, scale_info={"skipped": reason}, n_points=n_points, notes=[reason])

    def summary(self) -> dict[str, int]:
        """Number of cells in each hotspot class (every class listed, zeros included)."""
        counts = self.cells["hotspot_class"].value_counts()
        return {c: int(counts.get(c, 0)) for c in HOTSPOT_CLASSES}

    def hot_cells(self, level: int = 95) -> gpd.GeoDataFrame:
        """Cells classed hot at ``level`` percent confidence or more (99, 95 or 90)."""
        wanted = [f"hot_{lv}" for lv in (99, 95, 90) if lv >= level]
        return self.cells[self.cells["hotspot_class"].isin(wanted)]


# -- input -------------------------------------------------------------------------------------


def points_from_table(
    frame: pd.DataFrame,
    *,
    lon: str = "lon",
    lat: str = "lat",
    weight: str | None = None,
    file: str = "points",
) -> gpd.GeoDataFrame:
    """Validate a table of WGS-84 coordinates (as :func:`gridmgmt.io.read_table` gives) into points.

    Parameters
    ----------
    frame
        Table with longitude and latitude columns (strings or numbers, degrees WGS-84).
    lon, lat
        Column names of longitude and latitude.
    weight
        Optional column of non-negative weights, checked and converted to float.
    file
        File name used in error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows as points in ``EPSG:4326``, every column kept.

    Raises
    ------
    InputError
        Missing columns, no rows, non-numeric or out-of-range coordinates or weights, naming
        each bad row.
    """
    check = TableCheck(frame, file)
    required = [lon, lat] + ([weight] if weight else [])
    if check.require_columns(required) or not check.not_empty("points"):
        raise InputError(check.problems)
    check.to_float(lon, minimum=-180, maximum=180, what="a longitude in degrees")
    check.to_float(lat, minimum=-90, maximum=90, what="a latitude in degrees")
    if weight:
        check.to_float(weight, minimum=0, what="a weight >= 0")
    if check.has_errors:
        raise InputError(check.problems)
    table = check.frame
    geometry = gpd.points_from_xy(table[lon].to_numpy(float), table[lat].to_numpy(float), crs=WGS84)
    return gpd.GeoDataFrame(table, geometry=geometry, crs=WGS84)


def _validated_points(
    points: gpd.GeoDataFrame | pd.DataFrame, weight: str | None, source: str
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Points in WGS-84 and their weights (ones without a weight column); InputError otherwise."""
    if not isinstance(points, gpd.GeoDataFrame):
        points = points_from_table(points, weight=weight, file=source)
    if len(points) == 0:
        raise InputError(
            Problem(
                file=source, message="no points", hint=f"the layer needs at least {MIN_POINTS} points with coordinates"
            )
        )
    if weight is not None and weight not in points.columns:
        present = ", ".join(str(c) for c in points.columns if c != points.geometry.name) or "none"
        raise InputError(
            Problem(
                file=source,
                field=weight,
                message=f"missing weight column {weight!r}",
                hint=f"name an existing numeric column or leave the weight out; columns present: {present}",
            )
        )
    geom = points.geometry
    bad = geom.isna() | geom.is_empty | (geom.geom_type != "Point")
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            Problem(
                file=source,
                row=first + 1,
                unit="record",
                field="geometry",
                message=f"{int(bad.sum())} features are not points (or are empty)",
                hint="give one Point per incident",
            )
        )
    if points.crs is None:
        points = points.set_crs(WGS84)
    elif not CRS.from_user_input(points.crs).equals(CRS.from_user_input(WGS84)):
        points = points.to_crs(WGS84)
    if weight is None:
        return points, np.ones(len(points))
    check = TableCheck(pd.DataFrame({weight: points[weight].to_numpy()}), source)
    check.to_float(weight, minimum=0, what="a weight >= 0")
    if check.has_errors:
        raise InputError(check.problems)
    weights = check.frame[weight].to_numpy(float)
    if not weights.sum() > 0:
        raise InputError(
            Problem(
                file=source,
                field=weight,
                message="the weights sum to zero",
                hint="at least one point needs a positive weight",
            )
        )
    return points, weights


# -- kernel density ----------------------------------------------------------------------------------


def _kde(xy: np.ndarray, weights: np.ndarray, at: np.ndarray, spacing_m: float) -> tuple[np.ndarray, dict]:
    """Kernel density (per km2, scaled to the total weight) at ``at`` and the refined peak (metric).

    Scott's rule is applied to the raw points (``gaussian_kde``'s factor ``neff ** -1/6``
    with the weighted covariance); the points are then binned on a square raster of a third
    of the smaller bandwidth, which changes the density by well under 1% and makes 20,000
    points cost as much as a few thousand bins.
    """
    total = float(weights.sum())
    raw = stats.gaussian_kde(xy.T, bw_method="scott", weights=weights)
    bandwidths = np.sqrt(np.diag(raw.covariance))
    bin_m = max(float(bandwidths.min()) / 3, 1e-6)
    origin = xy.min(axis=0)
    ij = np.floor((xy - origin) / bin_m).astype(np.int64)
    keys, inverse = np.unique(ij, axis=0, return_inverse=True)
    bin_weights = np.bincount(inverse.ravel(), weights=weights, minlength=len(keys))
    bin_xy = origin + (keys + 0.5) * bin_m
    # the raw points' factor: the binned covariance differs from theirs by bin_m**2 / 12 only
    kde = stats.gaussian_kde(bin_xy.T, bw_method=raw.factor, weights=bin_weights) if len(keys) > 2 else raw
    scale = total * 1e6  # probability per m2 -> points (or weight) per km2
    at_density = kde(at.T) * scale
    best = at[int(np.argmax(at_density))]
    # refine on a 25 x 25 raster spanning one cell spacing each way around the best centre
    offsets = np.linspace(-spacing_m, spacing_m, 25)
    gx, gy = np.meshgrid(best[0] + offsets, best[1] + offsets)
    fine = np.column_stack([gx.ravel(), gy.ravel()])
    fine_density = kde(fine.T) * scale
    i = int(np.argmax(fine_density))
    bandwidth = float(np.sqrt(bandwidths.prod()))
    return at_density, {
        "x": float(fine[i, 0]),
        "y": float(fine[i, 1]),
        "value_per_km2": float(fine_density[i]),
        "bandwidth_m": bandwidth,
    }


# -- the whole analysis ------------------------------------------------------------------------------


def find_hotspots(
    points: gpd.GeoDataFrame | pd.DataFrame,
    *,
    weight: str | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    clip: bool = False,
    hex_size_m: float | None = None,
    band_m: float | None = None,
    points_per_cell: float = 8.0,
    min_cells: int = 30,
    max_cells: int = 2500,
    inference: str = "auto",
    permutations: int | None = None,
    seed: int = 0,
    source: str = "points",
) -> HotspotResult:
    """Hotspots of a point layer: hexagon counts, Gi* with FDR classes and a kernel density peak.

    Parameters
    ----------
    points
        Points in WGS-84 (a GeoDataFrame; another CRS is converted), or a table with ``lon``
        and ``lat`` columns as :func:`gridmgmt.io.read_table` returns.
    weight
        Optional column of non-negative weights (e.g. severity); cells then sum weights.
    boundary
        Optional study region (polygons; WGS-84 when it has no CRS). Without it the region
        is the convex hull of the points (pass the district boundary when there is one: a
        hull of a non-convex district includes empty land that shows as cold). Cells with
        at least half their area in the region, or holding points, are kept whole; points
        outside the boundary are ignored (counted in ``scale_info["n_points_outside"]``).
    clip
        Clip the output cell geometries to ``boundary`` (display only: statistics always use
        whole, equal-area cells).
    hex_size_m
        Hexagon side (m); None chooses it by the density rule (module docstring).
    band_m
        Gi* neighbourhood band (m); None chooses it by incremental spatial autocorrelation.
    points_per_cell
        Target mean number of points per cell for the size rule.
    min_cells, max_cells
        Bounds of the cell count for the size rule.
    inference
        ``"auto"``, ``"permutation"`` or ``"analytic"`` (see :func:`gi_star`).
    permutations
        Number of permutations; None chooses it by the rule.
    seed
        Seed of the permutations; the result is deterministic for a seed.
    source
        Name of the input used in error messages (the file name).

    Returns
    -------
    HotspotResult

    Raises
    ------
    InputError
        No or too few points, a missing or non-numeric weight column, negative weights, or
        points spread over no area.
    """
    points, weights = _validated_points(points, weight, source)
    if len(points) < MIN_POINTS:
        raise InputError(
            Problem(
                file=source,
                message=f"only {len(points)} points",
                hint=f"hotspot statistics need at least {MIN_POINTS} points",
            )
        )
    crs = metric_crs(points)
    metric = points.geometry.to_crs(crs)
    xy = np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])
    region, region_kind, inside = _study_region(xy, boundary, crs, source)
    n_in_region = int(inside.sum())

    if hex_size_m is None:
        size_m, target_cells = hex_size_from_density(region.area, n_in_region, points_per_cell, min_cells, max_cells)
        size_rule = "density"
    else:
        if not hex_size_m > 0:
            raise ValueError(f"hex_size_m must be positive, not {hex_size_m}")
        size_m, target_cells, size_rule = float(hex_size_m), None, "given"
    spacing_m = size_m * math.sqrt(3)
    grid, pos, in_cell = _cells_of_points(region, xy, inside, size_m)
    n_cells = len(grid)
    counts = np.bincount(pos[in_cell], minlength=n_cells)
    totals = np.bincount(pos[in_cell], weights=weights[in_cell], minlength=n_cells) if weight else counts.astype(float)
    # Edge cells only partly inside the region would look cold under any null of uniform
    # intensity: test values per whole-cell area (share floored at 0.5, so at most doubled).
    values = totals / np.maximum(grid["area_share"].to_numpy(), MIN_AREA_SHARE)
    if n_cells < MIN_CLUSTER_CELLS or values.sum() <= 0:
        raise InputError(
            Problem(
                file=source,
                message=f"only {n_cells} cells of {size_m:.0f} m",
                hint="give a smaller hex size or more points",
            )
        )
    coords = grid[["x", "y"]].to_numpy()

    curve = moran_curve(values, coords, lattice_bands(spacing_m, n_cells))
    if band_m is None:
        band, band_rule = choose_band(curve, DEFAULT_BAND_SPACINGS * spacing_m * (1 + 1e-6))
    else:
        band, band_rule = float(band_m), "given"
    mean_neighbours = float(BandNeighbours(coords, band).weights(band).mean_neighbors)
    stats_frame, inference_info = gi_star(
        values, coords, band, inference=inference, permutations=permutations, seed=seed
    )
    density, peak = _kde(xy[in_cell], weights[in_cell], coords, spacing_m)

    to_wgs = Transformer.from_crs(crs, WGS84, always_xy=True)
    peak_lon, peak_lat = to_wgs.transform(peak["x"], peak["y"])
    kde_peak = {
        "lon": float(peak_lon),
        "lat": float(peak_lat),
        "value_per_km2": peak["value_per_km2"],
        "bandwidth_m": peak["bandwidth_m"],
    }

    geometry = grid.geometry.to_numpy()
    if clip and boundary is not None:
        geometry = shapely.intersection(geometry, region)
    cells = pd.DataFrame({"cell_id": np.arange(n_cells), "count": counts})
    if weight:
        cells["weight_sum"] = totals
    cells["area_share"] = grid["area_share"].to_numpy()
    cells = pd.concat([cells, stats_frame], axis=1)
    cells["kde_per_km2"] = density
    cells = gpd.GeoDataFrame(cells, geometry=geometry, crs=crs).to_crs(WGS84)

    hex_area = HEX_AREA_PER_SIDE2 * size_m**2
    scale_info = {
        "crs": crs.to_string(),
        "region": region_kind,
        "region_area_km2": region.area / 1e6,
        "size_rule": size_rule,
        "points_per_cell_target": points_per_cell,
        "target_cells": target_cells,
        "hex_size_m": size_m,
        "hex_area_m2": hex_area,
        "cell_spacing_m": spacing_m,
        "n_cells": n_cells,
        "band_m": band,
        "band_rule": band_rule,
        "band_curve": curve,
        "mean_neighbours": mean_neighbours,
        **inference_info,
        "seed": seed,
        "n_points_outside": int((~in_cell).sum()),
        "kde_bandwidth_m": peak["bandwidth_m"],
    }
    log.info(
        "hotspots: %d points, %d cells, band %.0f m (%s), %s",
        int(in_cell.sum()),
        n_cells,
        band,
        band_rule,
        inference_info["inference"],
    )
    return HotspotResult(
        cells=cells,
        kde_peak=kde_peak,
        scale_info=scale_info,
        n_points=int(in_cell.sum()),
        notes=_method_notes(scale_info, region_kind),
        point_cell_id=pos.astype(np.int64),
    )


def _study_region(
    xy: np.ndarray, boundary: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None, crs: CRS, source: str
) -> tuple[BaseGeometry, str, np.ndarray]:
    """The region (metric), its kind (``boundary`` or ``convex_hull``) and which points (xy, m) lie in it.

    Raises InputError when the region has no area or holds fewer than :data:`MIN_POINTS` points.
    """
    if boundary is not None:
        region = _boundary_region(boundary, crs)
        region_kind = "boundary"
        inside = shapely.intersects_xy(region, xy[:, 0], xy[:, 1])
    else:
        region = shapely.MultiPoint(xy).convex_hull
        region_kind = "convex_hull"
        inside = np.ones(len(xy), dtype=bool)
    n_in_region = int(inside.sum())
    if region.area <= 0 or n_in_region < MIN_POINTS:
        raise InputError(
            Problem(
                file=source,
                message="the points cover no area"
                if region.area <= 0
                else f"only {n_in_region} points inside the boundary",
                hint=f"give at least {MIN_POINTS} points at distinct places inside the study area",
            )
        )
    return region, region_kind, inside


def _cells_of_points(
    region: BaseGeometry, xy: np.ndarray, inside: np.ndarray, size_m: float
) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """The kept hexagons of side ``size_m`` (m), each point's row in them (-1 if none) and the counted mask.

    Points outside a boundary are ignored. Cells are kept when at least half of them lies in
    the region, or when they hold points (hull slivers at the outermost points).
    """
    grid = hex_grid(region, size_m, min_share=0.0)
    q, r = hex_axial(xy[:, 0], xy[:, 1], size_m)
    pos = pd.MultiIndex.from_arrays([grid["q"], grid["r"]]).get_indexer(pd.MultiIndex.from_arrays([q, r]))
    in_cell = (pos >= 0) & inside
    occupied = np.bincount(pos[in_cell], minlength=len(grid)) > 0
    keep = (grid["area_share"].to_numpy() >= MIN_AREA_SHARE) | occupied
    grid = grid[keep].reset_index(drop=True)
    pos = np.where(in_cell, np.cumsum(keep)[np.maximum(pos, 0)] - 1, -1)
    return grid, pos, in_cell


def _method_notes(info: dict, region_kind: str) -> list[str]:
    """The method in plain sentences, from the ``scale_info`` of :func:`find_hotspots`."""
    return [
        f"{info['n_cells']} hexagons of side {info['hex_size_m']:.0f} m ({info['hex_area_m2'] / 1e6:.3f} km2, rule: "
        f"{info['size_rule']}, target {info['points_per_cell_target']:g} points per cell) over the "
        f"{region_kind.replace('_', ' ')}.",
        f"Getis-Ord Gi* (binary distance band {info['band_m']:.0f} m including the cell itself, rule: "
        f"{info['band_rule']} of Moran's I z over {len(info['band_curve'])} bands).",
        (
            f"Two-sided p-values from {info['permutations']} conditional permutations (seed {info['seed']})."
            if info["inference"] == "permutation"
            else "Two-sided p-values from the normal approximation of Gi* (too many cells for permutations to reach "
            "1% after FDR)."
        ),
        "Benjamini-Hochberg false discovery rate across all cells; classes at FDR 1%, 5% and 10%.",
        f"Kernel density with Scott's rule bandwidth ({info['kde_bandwidth_m']:.0f} m).",
    ]


def _boundary_region(boundary: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry, crs: CRS) -> BaseGeometry:
    """The boundary as one polygonal geometry in ``crs`` (WGS-84 assumed when it has no CRS)."""
    if isinstance(boundary, gpd.GeoDataFrame):
        boundary = boundary.geometry
    if not isinstance(boundary, gpd.GeoSeries):
        boundary = gpd.GeoSeries([boundary])
    if boundary.crs is None:
        boundary = boundary.set_crs(WGS84)
    region = shapely.union_all(boundary.to_crs(crs).to_numpy())
    return shapely.make_valid(region) if not region.is_valid else region
