"""Incremental spatial autocorrelation: global Moran's I over distance bands, and the choice of the Gi* band.

Bands add one ring of the hexagon lattice at a time (1, sqrt 3, 2, sqrt 7, 3, ... cell
spacings); the chosen band is the first significant peak of Moran's z (see :func:`choose_band`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gridmgmt.risk.neighbours import BandNeighbours

if TYPE_CHECKING:
    from scipy import sparse

Z_SIGNIFICANT = 1.959964  # two-sided 5% for the Moran's I curve
MAX_BAND_SPACINGS = 6.0
DEFAULT_BAND_SPACINGS = 2.0  # the band without significant clustering: 18 neighbours


def lattice_bands(spacing_m: float, n_cells: int, max_spacings: float = MAX_BAND_SPACINGS) -> list[float]:
    """Distance bands (m) that add one ring of the hexagon lattice each (>= 10% apart).

    ``spacing_m`` is the distance between neighbouring cell centres (m); ``n_cells`` bounds the
    bands to at most a quarter of the cells as neighbours; ``max_spacings`` is the largest band
    in cell spacings.
    """
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
    neighbours = BandNeighbours(coords, max(bands_m))
    out = []
    for band in bands_m:
        moran_i, z = moran_z(np.asarray(values, dtype=float), neighbours.matrix(band))
        # None rather than nan where undefined, so scale_info stays valid JSON
        out.append({"band_m": float(band), "moran_i": _or_none(moran_i), "z": _or_none(z)})
    return out


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def moran_z(y: np.ndarray, binary: sparse.csr_matrix) -> tuple[float, float]:
    """Moran's I and its z-score under randomisation (Cliff and Ord) with row-standardised weights.

    ``y`` holds one value per location; ``binary`` is the 0/1 neighbour matrix (zero diagonal).
    Returns ``(I, z)``, NaN where undefined (constant values, fewer than 4 locations, no pairs).
    """
    n = len(y)
    z = y - y.mean()
    z2 = float((z * z).sum())
    if n < 4 or z2 == 0:
        return math.nan, math.nan
    row = np.asarray(binary.sum(axis=1)).ravel()
    inv = np.divide(1.0, row, out=np.zeros(n), where=row > 0)  # islands keep a zero row, as in libpysal
    # scipy-stubs type sparse.multiply(dense) as an ndarray; scipy returns a sparse matrix
    w = binary.multiply(inv[:, None]).tocsr()  # type: ignore[attr-defined]
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
        if z[i] >= Z_SIGNIFICANT and z[i] > z[i - 1] and z[i] > z[i + 1]:
            return curve[i]["band_m"], "first_peak"
    if len(z) and z.max() >= Z_SIGNIFICANT:
        return curve[int(np.argmax(z))]["band_m"], "max"
    return default_m, "default"
