"""Emerging hotspots: Gi* per time window on one fixed grid and band, and a trend class per cell."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from scipy import stats
from shapely.geometry.base import BaseGeometry

from gridmgmt._errors import InputError, Problem
from gridmgmt.inputs.checks import TableCheck
from gridmgmt.risk.hotspots import MIN_AREA_SHARE, HotspotResult, find_hotspots
from gridmgmt.risk.neighbours import BandNeighbours

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
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
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
    stamps = _event_times(points, time, source)
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
    weights = np.ones(len(points)) if weight is None else pd.to_numeric(points[weight]).to_numpy(float)
    window_of = window_index.get_indexer(periods)
    z, p_fdr, counts = _window_gi_star(overall, weights, window_of, len(window_index))
    hot = (p_fdr < _WINDOW_FDR) & (z > 0)
    tau, tau_p = _trends(z)
    classes = np.array([_emerging_class(hot[i], tau[i], tau_p[i]) for i in range(len(z))], dtype=object)

    cells = overall.cells
    n_cells, n_windows = len(cells), len(window_index)
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


def _event_times(points: gpd.GeoDataFrame | pd.DataFrame, time: str, source: str) -> pd.Series:
    """The ``time`` column as naive local date-times (0-based index); InputError when missing or unreadable."""
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
        return stamps
    check = TableCheck(pd.DataFrame({time: points[time].to_numpy()}), source)
    check.to_datetime(time, required=True)
    if check.has_errors:
        raise InputError(check.problems)
    return pd.to_datetime(check.frame[time])


def _window_gi_star(
    overall: HotspotResult, weights: np.ndarray, window_of: np.ndarray, n_windows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic Gi* z, BH-adjusted p and point counts per cell (rows) and window (columns).

    The cells, band and area shares are those of ``overall``; ``weights`` and ``window_of`` (the
    window index) are per input point. A window with fewer than two non-empty cells has z = 0, p = 1.
    """
    import esda

    crs = CRS.from_user_input(overall.scale_info["crs"])
    cells = overall.cells
    coords = np.column_stack([cells.to_crs(crs).geometry.centroid.x, cells.to_crs(crs).geometry.centroid.y])
    band = overall.scale_info["band_m"]
    w = BandNeighbours(coords, band).weights(band)
    share = np.maximum(cells["area_share"].to_numpy(), MIN_AREA_SHARE)
    cell_of = overall.point_cell_id
    n_cells = len(cells)
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
    return z, p_fdr, counts


def _trends(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend of each row of ``z`` over the windows: Kendall's tau against time and its p-value."""
    steps = np.arange(z.shape[1])
    tau = np.zeros(len(z))
    tau_p = np.ones(len(z))
    for i in range(len(z)):
        if np.ptp(z[i]) > 0:
            result = stats.kendalltau(steps, z[i])
            tau[i], tau_p[i] = float(result.statistic), float(result.pvalue)
    return tau, tau_p


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
