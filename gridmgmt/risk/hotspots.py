"""Hotspots of any point layer: hexagon counts, Getis-Ord Gi* with FDR control, and a kernel density peak.

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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import stats

from gridmgmt._errors import InputError, Problem
from gridmgmt.inputs.checks import TableCheck

log = logging.getLogger(__name__)

HOTSPOT_CLASSES = ("hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant")
MIN_POINTS = 10
MIN_CLUSTER_CELLS = 7  # one hexagon and its first ring: the smallest hotspot the test must be able to find
MAX_PERMUTATIONS = 9_999
MIN_PERMUTATIONS = 999
MIN_AREA_SHARE = 0.5  # empty cells with less of their area in the region are left out
_FDR_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))
_Z_SIGNIFICANT = 1.959964  # two-sided 5% for the Moran's I curve
_MAX_BAND_SPACINGS = 6.0
_DEFAULT_BAND_SPACINGS = 2.0
_WGS84 = "EPSG:4326"


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
    geometry = gpd.points_from_xy(table[lon].to_numpy(float), table[lat].to_numpy(float), crs=_WGS84)
    return gpd.GeoDataFrame(table, geometry=geometry, crs=_WGS84)


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
        points = points.set_crs(_WGS84)
    elif not CRS.from_user_input(points.crs).equals(CRS.from_user_input(_WGS84)):
        points = points.to_crs(_WGS84)
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


# -- hexagon grid --------------------------------------------------------------------------------


def _hex_axial(x: np.ndarray, y: np.ndarray, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates (q, r) of the pointy-top hexagon containing each point (origin at 0, 0)."""
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


def _hex_centres(q: np.ndarray, r: np.ndarray, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    return size_m * math.sqrt(3) * (q + r / 2), size_m * 1.5 * r


def hex_grid(region: shapely.Geometry, size_m: float, *, min_share: float = 0.5) -> gpd.GeoDataFrame:
    """Pointy-top hexagons of side ``size_m`` with at least ``min_share`` of their area in ``region``.

    The lattice is anchored at the origin of the (metric) CRS, so the same size gives the
    same cells for any region. Returns columns ``q``, ``r`` (axial lattice indices), ``x``,
    ``y`` (centre, m), ``area_share`` (fraction of the hexagon inside the region, 0-1) and
    whole-hexagon ``geometry`` (no CRS set), ordered by ``r`` then ``q``.
    """
    minx, miny, maxx, maxy = region.bounds
    r_lo, r_hi = math.floor(miny / (1.5 * size_m)) - 1, math.ceil(maxy / (1.5 * size_m)) + 1
    r = np.arange(r_lo, r_hi + 1)
    width = size_m * math.sqrt(3)
    q_lo = math.floor(minx / width - r_hi / 2) - 1
    q_hi = math.ceil(maxx / width - r_lo / 2) + 1
    qq, rr = np.meshgrid(np.arange(q_lo, q_hi + 1), r)
    qq, rr = qq.ravel(), rr.ravel()
    cx, cy = _hex_centres(qq, rr, size_m)
    near = (cx >= minx - width) & (cx <= maxx + width) & (cy >= miny - 2 * size_m) & (cy <= maxy + 2 * size_m)
    qq, rr, cx, cy = qq[near], rr[near], cx[near], cy[near]
    angles = np.deg2rad(30 + 60 * np.arange(7))  # pointy-top corners, ring closed
    ring = np.stack([cx[:, None] + size_m * np.cos(angles), cy[:, None] + size_m * np.sin(angles)], axis=-1)
    hexes = shapely.polygons(ring)
    shapely.prepare(region)
    touching = shapely.intersects(region, hexes)
    share = np.zeros(len(hexes))
    share[touching] = shapely.area(shapely.intersection(hexes[touching], region)) / (1.5 * math.sqrt(3) * size_m**2)
    keep = share >= min_share
    grid = gpd.GeoDataFrame(
        {"q": qq[keep], "r": rr[keep], "x": cx[keep], "y": cy[keep], "area_share": np.minimum(share[keep], 1.0)},
        geometry=hexes[keep],
    )
    return grid.sort_values(["r", "q"], kind="stable").reset_index(drop=True)


def _hex_size_from_density(
    region_area_m2: float, n_points: int, points_per_cell: float, min_cells: int, max_cells: int
) -> tuple[float, float]:
    """Hexagon side (m) and the target cell count for ``points_per_cell`` points per cell on average."""
    target_cells = min(max(n_points / points_per_cell, min_cells), max_cells)
    area = region_area_m2 / target_cells
    return math.sqrt(2 * area / (3 * math.sqrt(3))), target_cells


# -- spatial statistics ----------------------------------------------------------------------------


class _Neighbours:
    """Pairs of locations within the largest band of interest, to build binary band weights quickly.

    libpysal's ``DistanceBand`` builds a dictionary-of-keys matrix per band, which takes
    seconds for thousands of cells; the pairs are found once here (scipy ``cKDTree``) and
    each band becomes a libpysal ``W`` through its sparse constructor.
    """

    def __init__(self, coords: np.ndarray, max_band_m: float) -> None:
        from scipy.spatial import cKDTree

        self.n = len(coords)
        tree = cKDTree(coords)
        pairs = tree.sparse_distance_matrix(tree, max_band_m, output_type="coo_matrix")
        off_diagonal = pairs.row != pairs.col
        self.i, self.j, self.d = pairs.row[off_diagonal], pairs.col[off_diagonal], pairs.data[off_diagonal]
        self.max_band_m = max_band_m

    def matrix(self, band_m: float):
        """Binary ``scipy.sparse`` CSR matrix of all pairs within ``band_m`` metres (zero diagonal)."""
        from scipy import sparse

        if band_m > self.max_band_m:
            raise ValueError(f"band {band_m} m exceeds the precomputed {self.max_band_m} m")
        near = self.d <= band_m
        return sparse.csr_matrix((np.ones(int(near.sum())), (self.i[near], self.j[near])), shape=(self.n, self.n))

    def weights(self, band_m: float):
        """Binary weights (libpysal ``W``) of all pairs within ``band_m`` metres."""
        from libpysal.weights import WSP

        matrix = self.matrix(band_m)
        # silence_warnings: islands (cells without a neighbour) are legitimate on a ragged
        # boundary; Gi* then compares the cell with itself only, which esda handles.
        return WSP(matrix).to_W(silence_warnings=True)


def _lattice_bands(spacing_m: float, n_cells: int, max_spacings: float = _MAX_BAND_SPACINGS) -> list[float]:
    """Distance bands that add one ring of the hexagon lattice each (>= 10% apart), in metres."""
    k = math.ceil(max_spacings) + 1
    a, b = np.meshgrid(np.arange(0, k + 1), np.arange(0, k + 1))
    dist = np.unique(np.round(np.sqrt(a**2 + a * b + b**2), 9))
    dist = dist[(dist >= 1) & (dist <= max_spacings + 1e-9)]
    bands: list[float] = []
    for d in dist:
        if not bands or d >= bands[-1] * 1.1:
            bands.append(float(d))
    # a band may take at most a quarter of the cells as neighbours (hexagonal lattice: ~ pi d^2 / area)
    max_neighbours = max(n_cells / 4, 6)
    bands = [d for d in bands if 2 * math.pi / math.sqrt(3) * d**2 <= max_neighbours] or bands[:1]
    return [d * spacing_m * (1 + 1e-6) for d in bands]  # +epsilon: a band includes its ring


def moran_curve(values: np.ndarray, coords: np.ndarray, bands_m: Sequence[float]) -> list[dict]:
    """Global Moran's I and its randomisation z-score for each distance band.

    The statistic and its variance under randomisation are esda's ``Moran`` (``I``,
    ``z_rand``, row-standardised binary band weights) computed on a sparse matrix directly:
    building a libpysal ``W`` per band costs seconds for thousands of cells. The test suite
    checks the two agree.

    Parameters
    ----------
    values
        One value per location (e.g. cell counts).
    coords
        ``(n, 2)`` metric coordinates of the locations.
    bands_m
        Distance bands in metres.

    Returns
    -------
    list of dict
        ``band_m``, ``moran_i``, ``z`` (None when undefined: constant values), one per band.
    """
    bands_m = list(bands_m)
    if not bands_m:
        return []
    neighbours = _Neighbours(coords, max(bands_m))
    out = []
    for band in bands_m:
        moran_i, z = _moran(np.asarray(values, dtype=float), neighbours.matrix(band))
        # None rather than nan where undefined, so scale_info stays valid JSON
        out.append({"band_m": float(band), "moran_i": _or_none(moran_i), "z": _or_none(z)})
    return out


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _moran(y: np.ndarray, binary) -> tuple[float, float]:
    """Moran's I and its z-score under randomisation (Cliff and Ord) with row-standardised weights."""
    n = len(y)
    z = y - y.mean()
    z2 = float((z * z).sum())
    if n < 4 or z2 == 0:
        return math.nan, math.nan
    row = np.asarray(binary.sum(axis=1)).ravel()
    inv = np.divide(1.0, row, out=np.zeros(n), where=row > 0)  # islands keep a zero row, as in libpysal
    w = binary.multiply(inv[:, None]).tocsr()
    s0 = float(w.sum())
    if s0 == 0:
        return math.nan, math.nan
    moran_i = n / s0 * float(z @ (w @ z)) / z2
    sym = w + w.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    s2 = float(((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2).sum())
    expected = -1.0 / (n - 1)
    kurtosis = (z**4).sum() / n / (z2 / n) ** 2
    a = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s0 * s0)
    b = kurtosis * ((n * n - n) * s1 - 2 * n * s2 + 6 * s0 * s0)
    variance = (a - b) / ((n - 1) * (n - 2) * (n - 3) * s0 * s0) - expected**2
    if not variance > 0:
        return float(moran_i), math.nan
    return float(moran_i), float((moran_i - expected) / math.sqrt(variance))


def choose_band(curve: list[dict], default_m: float) -> tuple[float, str]:
    """The band of the first significant peak of Moran's z, else of the largest significant z, else the default.

    Returns the band (m) and the rule used (``first_peak``, ``max`` or ``default``).
    """
    z = np.array([np.nan if c["z"] is None else c["z"] for c in curve], dtype=float)
    z = np.where(np.isfinite(z), z, -np.inf)
    for i in range(1, len(z) - 1):
        if z[i] >= _Z_SIGNIFICANT and z[i] > z[i - 1] and z[i] > z[i + 1]:
            return curve[i]["band_m"], "first_peak"
    if len(z) and z.max() >= _Z_SIGNIFICANT:
        return curve[int(np.argmax(z))]["band_m"], "max"
    return default_m, "default"


def _permutations_needed(n_cells: int, alpha: float = 0.01, cluster: int = MIN_CLUSTER_CELLS) -> int:
    """Smallest 10^k - 1 style count so a ``cluster`` of cells at minimum two-sided p survives BH at ``alpha``."""
    needed = math.ceil(2 * n_cells / (alpha * cluster)) - 1
    return max(MIN_PERMUTATIONS, int(math.ceil((needed + 1) / 1000) * 1000) - 1)


def gi_star(
    values: np.ndarray,
    coords: np.ndarray,
    band_m: float,
    *,
    inference: str = "auto",
    permutations: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Getis-Ord Gi* with binary distance-band weights, two-sided p-values and BH FDR classes.

    Parameters
    ----------
    values
        Non-negative value per location (counts or weight sums).
    coords
        ``(n, 2)`` metric coordinates (m).
    band_m
        Neighbourhood distance band (m); binary weights, the focal location included (star).
    inference
        ``"auto"`` (the rule in the module docstring), ``"permutation"`` or ``"analytic"``.
    permutations
        Number of conditional permutations; None picks it by the rule.
    seed
        Seed of the permutations.

    Returns
    -------
    (pandas.DataFrame, dict)
        Columns ``gi_z``, ``p_value``, ``p_fdr``, ``hotspot_class``; and ``inference``,
        ``permutations`` used.
    """
    import esda

    if inference not in ("auto", "permutation", "analytic"):
        raise ValueError(f"inference must be 'auto', 'permutation' or 'analytic', not {inference!r}")
    values = np.asarray(values, dtype=float)
    n = len(values)
    needed = _permutations_needed(n)
    if inference == "auto":
        inference = "permutation" if (permutations or needed) <= MAX_PERMUTATIONS else "analytic"
    n_perm = 0 if inference == "analytic" else int(permutations or min(needed, MAX_PERMUTATIONS))
    w = _Neighbours(coords, band_m).weights(band_m)
    state = np.random.get_state()  # esda seeds numpy's global generator: restore it afterwards
    try:
        with warnings.catch_warnings():
            # esda 2.9 asks callers to choose an alternative it does not let G_Local pass on;
            # we compute two-sided p-values from the simulations ourselves below.
            warnings.filterwarnings(
                "ignore",
                message="The alternative hypothesis for conditional randomization",
                category=DeprecationWarning,
            )
            # zero-variance inputs (every cell equal) give 0/0 in the analytic moments: handled below
            with np.errstate(divide="ignore", invalid="ignore"):
                g = esda.G_Local(
                    values, w, transform="B", star=True, permutations=n_perm, keep_simulations=True, n_jobs=1, seed=seed
                )
    finally:
        np.random.set_state(state)
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    if n_perm:
        # two-sided pseudo p: twice the smaller tail, ties counted as at least as extreme
        # (esda's "directed" p counts ties on one side only, which marks all-zero
        # neighbourhoods as significant cold spots).
        sims = np.asarray(g.rGs, dtype=float)
        obs = np.asarray(g.Gs, dtype=float)[:, None]
        tol = 1e-9 * np.maximum(np.abs(obs), 1e-300)
        greater = ((sims >= obs - tol).sum(axis=1) + 1) / (n_perm + 1)
        lesser = ((sims <= obs + tol).sum(axis=1) + 1) / (n_perm + 1)
        p = np.minimum(1.0, 2 * np.minimum(greater, lesser))
    else:
        p = np.minimum(1.0, 2 * stats.norm.sf(np.abs(z)))
    p = np.where(np.isfinite(p), p, 1.0)
    p_fdr = stats.false_discovery_control(p, method="bh")
    cls = np.full(n, "not_significant", dtype=object)
    for level, label in reversed(_FDR_LEVELS):  # loosest first, stricter levels overwrite
        sig = p_fdr < level
        cls[sig & (z > 0)] = f"hot_{label}"
        cls[sig & (z < 0)] = f"cold_{label}"
    frame = pd.DataFrame({"gi_z": z, "p_value": p, "p_fdr": p_fdr, "hotspot_class": cls})
    return frame, {"inference": inference, "permutations": n_perm, "permutations_rule": needed}


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
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
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
    crs = points.estimate_utm_crs()
    metric = points.geometry.to_crs(crs)
    xy = np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])

    if boundary is not None:
        region = _boundary_region(boundary, crs)
        region_kind = "boundary"
        inside = shapely.intersects_xy(region, xy[:, 0], xy[:, 1])
        n_in_region = int(inside.sum())
    else:
        region = shapely.MultiPoint(xy).convex_hull
        region_kind = "convex_hull"
        inside = np.ones(len(xy), dtype=bool)
        n_in_region = len(xy)
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

    if hex_size_m is None:
        size_m, target_cells = _hex_size_from_density(region.area, n_in_region, points_per_cell, min_cells, max_cells)
        size_rule = "density"
    else:
        if not hex_size_m > 0:
            raise ValueError(f"hex_size_m must be positive, not {hex_size_m}")
        size_m, target_cells, size_rule = float(hex_size_m), None, "given"
    spacing_m = size_m * math.sqrt(3)

    # Points outside a boundary are ignored. Cells are kept when at least half of them lies
    # in the region, or when they hold points (hull slivers at the outermost points).
    grid = hex_grid(region, size_m, min_share=0.0)
    q, r = _hex_axial(xy[:, 0], xy[:, 1], size_m)
    pos = pd.MultiIndex.from_arrays([grid["q"], grid["r"]]).get_indexer(pd.MultiIndex.from_arrays([q, r]))
    in_cell = (pos >= 0) & inside
    occupied = np.bincount(pos[in_cell], minlength=len(grid)) > 0
    keep = (grid["area_share"].to_numpy() >= MIN_AREA_SHARE) | occupied
    grid = grid[keep].reset_index(drop=True)
    pos = np.where(in_cell, np.cumsum(keep)[np.maximum(pos, 0)] - 1, -1)
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

    bands = _lattice_bands(spacing_m, n_cells)
    curve = moran_curve(values, coords, bands)
    if band_m is None:
        band, band_rule = choose_band(curve, _DEFAULT_BAND_SPACINGS * spacing_m * (1 + 1e-6))
    else:
        band, band_rule = float(band_m), "given"
    mean_neighbours = float(_Neighbours(coords, band).weights(band).mean_neighbors)
    stats_frame, inference_info = gi_star(
        values, coords, band, inference=inference, permutations=permutations, seed=seed
    )
    density, peak = _kde(xy[in_cell], weights[in_cell], coords, spacing_m)

    to_wgs = Transformer.from_crs(crs, _WGS84, always_xy=True)
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
    cells = gpd.GeoDataFrame(cells, geometry=geometry, crs=crs).to_crs(_WGS84)

    hex_area = 1.5 * math.sqrt(3) * size_m**2
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
    notes = [
        f"{n_cells} hexagons of side {size_m:.0f} m ({hex_area / 1e6:.3f} km2, rule: {size_rule}, target "
        f"{points_per_cell:g} points per cell) over the {region_kind.replace('_', ' ')}.",
        f"Getis-Ord Gi* (binary distance band {band:.0f} m including the cell itself, rule: {band_rule} of "
        f"Moran's I z over {len(curve)} bands).",
        (
            f"Two-sided p-values from {inference_info['permutations']} conditional permutations (seed {seed})."
            if inference_info["inference"] == "permutation"
            else "Two-sided p-values from the normal approximation of Gi* (too many cells for permutations to reach "
            "1% after FDR)."
        ),
        "Benjamini-Hochberg false discovery rate across all cells; classes at FDR 1%, 5% and 10%.",
        f"Kernel density with Scott's rule bandwidth ({peak['bandwidth_m']:.0f} m).",
    ]
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
        notes=notes,
        point_cell_id=pos.astype(np.int64),
    )


def _boundary_region(boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry, crs: CRS) -> shapely.Geometry:
    """The boundary as one polygonal geometry in ``crs`` (WGS-84 assumed when it has no CRS)."""
    if isinstance(boundary, gpd.GeoDataFrame):
        boundary = boundary.geometry
    if not isinstance(boundary, gpd.GeoSeries):
        boundary = gpd.GeoSeries([boundary])
    if boundary.crs is None:
        boundary = boundary.set_crs(_WGS84)
    region = shapely.union_all(boundary.to_crs(crs).to_numpy())
    return shapely.make_valid(region) if not region.is_valid else region


# -- emerging hotspots ---------------------------------------------------------------------------------

EMERGING_CLASSES = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "historical",
    "sporadic",
    "no_pattern",
)
_PERSISTENT_SHARE = 0.9
_WINDOW_FDR = 0.05
MIN_WINDOWS = 4


@dataclass
class EmergingResult:
    """Hotspot trends of one point layer over time windows.

    Attributes
    ----------
    cells
        The cells of :func:`find_hotspots` on all points (WGS-84) plus ``windows_hot`` (number
        of windows in which the cell is a hot spot at FDR 5%), ``share_hot`` (0-1),
        ``final_hot`` (hot in the last window), ``trend_tau`` and ``trend_p`` (Mann-Kendall
        trend of the window Gi* z-scores: Kendall's tau against time and its p-value) and
        ``emerging_class`` (one of :data:`EMERGING_CLASSES`).
    windows
        One row per cell and window: ``cell_id``, ``window`` (e.g. ``"2025-03"``), ``count``,
        ``gi_z``, ``p_fdr``, ``hot``.
    overall
        The :class:`HotspotResult` over all points (grid, band and scale rules come from it).
    notes
        The method in plain sentences.
    """

    cells: gpd.GeoDataFrame
    windows: pd.DataFrame
    overall: HotspotResult
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Number of cells in each emerging class (every class listed, zeros included)."""
        counts = self.cells["emerging_class"].value_counts()
        return {c: int(counts.get(c, 0)) for c in EMERGING_CLASSES}


def emerging_hotspots(
    points: gpd.GeoDataFrame | pd.DataFrame,
    *,
    time: str = "time",
    freq: str = "M",
    weight: str | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None = None,
    seed: int = 0,
    source: str = "points",
    **options,
) -> EmergingResult:
    """Emerging hotspots: Gi* per time window on a fixed grid and band, and a trend class per cell.

    The grid, band and area shares come from :func:`find_hotspots` on all points, so every
    window is tested on the same cells and neighbourhoods. In each window (calendar months by
    default, empty windows included) Gi* z-scores are analytic (windows hold too few points
    for permutations to reach FDR levels) and a cell is *hot* when its BH-adjusted p < 0.05
    and z > 0. Per cell, the Mann-Kendall trend of z over the windows is Kendall's tau of z
    against time (``scipy.stats.kendalltau``, significant at p < 0.05). Classes, checked in
    this order (after ArcGIS's Emerging Hot Spot Analysis, hot side only):

    - ``no_pattern``: never hot;
    - ``new``: hot in the last window only;
    - at least 90% of windows hot: ``intensifying`` (last window hot, significant upward
      trend), ``diminishing`` (last window hot, significant downward trend), ``historical``
      (last window not hot), else ``persistent``;
    - ``consecutive``: one uninterrupted run of at least two hot windows at the end;
    - ``sporadic``: hot in some windows, none of the above.

    Parameters
    ----------
    points
        Points as for :func:`find_hotspots`, with a ``time`` column (ISO date-times).
    time
        Column of event times.
    freq
        Window length as a pandas period alias: ``"M"`` (months, default), ``"W"``, ``"Q"``.
    weight, boundary, seed, source, **options
        As for :func:`find_hotspots` (``options``: ``hex_size_m``, ``band_m``,
        ``points_per_cell``, ``min_cells``, ``max_cells``, ``inference``, ``permutations``).

    Returns
    -------
    EmergingResult

    Raises
    ------
    InputError
        A missing or unreadable time column, fewer than :data:`MIN_WINDOWS` windows, or any
        error of :func:`find_hotspots`.
    """
    import esda

    if time not in points.columns:
        geometry_name = points.geometry.name if isinstance(points, gpd.GeoDataFrame) else None
        present = ", ".join(str(c) for c in points.columns if c != geometry_name)
        raise InputError(
            Problem(
                file=source, field=time, message=f"missing time column {time!r}", hint=f"columns present: {present}"
            )
        )
    if pd.api.types.is_datetime64_any_dtype(points[time]):
        stamps = pd.Series(points[time].to_numpy())
        if getattr(points[time].dt, "tz", None) is not None:
            stamps = points[time].dt.tz_localize(None).reset_index(drop=True)  # local wall-clock windows
        if stamps.isna().any():
            first = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise InputError(Problem(file=source, row=first + 1, unit="record", field=time, message="empty time"))
    else:
        check = TableCheck(pd.DataFrame({time: points[time].to_numpy()}), source)
        check.to_datetime(time, required=True)
        if check.has_errors:
            raise InputError(check.problems)
        stamps = pd.to_datetime(check.frame[time])
    periods = stamps.dt.to_period(freq)
    window_index = pd.period_range(periods.min(), periods.max(), freq=freq)
    if len(window_index) < MIN_WINDOWS:
        raise InputError(
            Problem(
                file=source,
                field=time,
                message=f"the times span {len(window_index)} windows of {freq!r}",
                hint=f"trends need at least {MIN_WINDOWS} windows: give a longer period or a shorter freq",
            )
        )
    options.pop("clip", None)  # window statistics need whole cells
    overall = find_hotspots(points, weight=weight, boundary=boundary, seed=seed, source=source, **options)
    crs = CRS.from_user_input(overall.scale_info["crs"])
    cells = overall.cells
    coords = np.column_stack([cells.to_crs(crs).geometry.centroid.x, cells.to_crs(crs).geometry.centroid.y])
    band = overall.scale_info["band_m"]
    w = _Neighbours(coords, band).weights(band)
    share = np.maximum(cells["area_share"].to_numpy(), MIN_AREA_SHARE)
    weights = np.ones(len(points)) if weight is None else pd.to_numeric(points[weight]).to_numpy(float)
    cell_of = overall.point_cell_id
    window_of = window_index.get_indexer(periods)
    n_cells, n_windows = len(cells), len(window_index)
    z = np.zeros((n_cells, n_windows))
    p_fdr = np.ones((n_cells, n_windows))
    counts = np.zeros((n_cells, n_windows), dtype=np.int64)
    counted = cell_of >= 0
    for k in range(n_windows):
        mask = counted & (window_of == k)
        counts[:, k] = np.bincount(cell_of[mask], minlength=n_cells)
        values = np.bincount(cell_of[mask], weights=weights[mask], minlength=n_cells) / share
        if np.count_nonzero(values) < 2:
            continue  # no spatial pattern to test in an (almost) empty window
        with np.errstate(divide="ignore", invalid="ignore"):
            g = esda.G_Local(values, w, transform="B", star=True, permutations=0)
        z[:, k] = np.nan_to_num(np.asarray(g.Zs, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
        p_fdr[:, k] = stats.false_discovery_control(np.minimum(1.0, 2 * stats.norm.sf(np.abs(z[:, k]))), method="bh")
    hot = (p_fdr < _WINDOW_FDR) & (z > 0)

    steps = np.arange(n_windows)
    tau = np.zeros(n_cells)
    tau_p = np.ones(n_cells)
    for i in range(n_cells):
        if np.ptp(z[i]) > 0:
            result = stats.kendalltau(steps, z[i])
            tau[i], tau_p[i] = float(result.statistic), float(result.pvalue)
    classes = np.array([_emerging_class(hot[i], tau[i], tau_p[i]) for i in range(n_cells)], dtype=object)

    out = cells.copy()
    out["windows_hot"] = hot.sum(axis=1)
    out["share_hot"] = hot.mean(axis=1)
    out["final_hot"] = hot[:, -1]
    out["trend_tau"] = tau
    out["trend_p"] = tau_p
    out["emerging_class"] = classes
    labels = window_index.astype(str)
    windows = pd.DataFrame(
        {
            "cell_id": np.repeat(cells["cell_id"].to_numpy(), n_windows),
            "window": np.tile(np.asarray(labels), n_cells),
            "count": counts.ravel(),
            "gi_z": z.ravel(),
            "p_fdr": p_fdr.ravel(),
            "hot": hot.ravel(),
        }
    )
    notes = [
        *overall.notes[:2],
        f"{n_windows} windows of {freq!r} from {labels[0]} to {labels[-1]}; analytic Gi* per window, hot at "
        f"FDR {_WINDOW_FDR:.0%}; Mann-Kendall trend of z (Kendall's tau, p < 0.05).",
    ]
    return EmergingResult(cells=out, windows=windows, overall=overall, notes=notes)


def _emerging_class(hot: np.ndarray, tau: float, tau_p: float) -> str:
    """The emerging class of one cell from its hot flags per window and the trend of its z-scores."""
    if not hot.any():
        return "no_pattern"
    final = bool(hot[-1])
    if final and hot.sum() == 1:
        return "new"
    trend = tau_p < 0.05
    if hot.mean() >= _PERSISTENT_SHARE:
        if final and trend and tau > 0:
            return "intensifying"
        if final and trend and tau < 0:
            return "diminishing"
        return "persistent" if final else "historical"
    first_hot = int(np.argmax(hot))
    if final and hot[first_hot:].all() and len(hot) - first_hot >= 2:
        return "consecutive"
    return "sporadic"
