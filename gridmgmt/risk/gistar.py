"""Getis-Ord Gi* with binary distance-band weights, two-sided p-values and Benjamini-Hochberg FDR classes.

Inference rule: a cluster of :data:`MIN_CLUSTER_CELLS` (one hexagon and its ring) at the
smallest permutation p-value must survive Benjamini-Hochberg at 1%, which needs
``permutations + 1 >= 2 * n_cells / (0.01 * 7)``. When that is at most
:data:`MAX_PERMUTATIONS` conditional permutation is used (two-sided p = 2 x the smaller tail,
ties counted against significance, fixed seed); with more cells the analytic normal
approximation of Gi* (as ArcGIS's Hot Spot Analysis uses).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from gridmgmt.risk.neighbours import BandNeighbours

HOTSPOT_CLASSES = ("hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant")
MIN_CLUSTER_CELLS = 7  # one hexagon and its first ring: the smallest hotspot the test must be able to find
MAX_PERMUTATIONS = 9_999
MIN_PERMUTATIONS = 999
_FDR_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))


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
    w = BandNeighbours(coords, band_m).weights(band_m)
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
