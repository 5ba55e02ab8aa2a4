"""Backtest: score at a cutoff, evaluate on the next days' violations.

Area metrics use a square grid of ``cell_m`` cells clipped to the district: cells are ranked
by the summed scores of their retailers (or, for the count-grid baseline, by past violation
counts) and taken greedily until 5% or 10% of the area is covered.

- hit rate = share of the evaluation violations that fall in the selected cells;
- PAI (Predictive Accuracy Index) = hit rate / selected area share;
- AUC = area under the ROC curve of the retailer scores against "had a violation".

:func:`standard_backtest` compares gridmgmt's calibrated expected violations (``gridmgmt``) and
its 0-100 points score (``gridmgmt_score``) with past violations only, the count grid, random
and, when known, the demo's hidden ground truth.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sklearn.metrics import roc_auc_score

from gridmgmt.risk.scores import RiskInputs, effective_violations, expected_violations, risk_scores

AREA_SHARES = (0.05, 0.10)


def square_cells(boundary: gpd.GeoDataFrame, *, cell_m: float, crs: CRS | str) -> gpd.GeoDataFrame:
    """Square cells of ``cell_m`` metres covering the boundary, clipped to it (metric CRS)."""
    shape = boundary.to_crs(crs).union_all()
    x0, y0, x1, y1 = shape.bounds
    xs, ys = np.arange(x0, x1, cell_m), np.arange(y0, y1, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell_m, gy.ravel() + cell_m)
    cells = gpd.GeoDataFrame(geometry=boxes, crs=crs)
    cells = cells.loc[cells.intersects(shape)].copy()
    cells["geometry"] = cells.intersection(shape)
    cells["area_m2"] = cells.area
    return cells.reset_index(drop=True)


def _cell_of(points: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the cell holding each point (-1 when outside every cell)."""
    joined = gpd.sjoin(points.to_crs(cells.crs)[["geometry"]], cells[["geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined["index_right"].fillna(-1).astype(int).reindex(points.index).to_numpy()


def area_metrics(
    cell_rank_score: np.ndarray, cell_area: np.ndarray, cell_hits: np.ndarray, *, rng: np.random.Generator | None = None
) -> dict[str, float]:
    """Hit rate and PAI at each area share for one ranking of cells (ties broken at random)."""
    rng = rng or np.random.default_rng(0)
    tiebreak = rng.random(len(cell_rank_score))
    order = np.lexsort((tiebreak, -cell_rank_score))
    area_share = np.cumsum(cell_area[order]) / cell_area.sum()
    hits = np.cumsum(cell_hits[order]) / max(cell_hits.sum(), 1)
    out = {}
    for share in AREA_SHARES:
        k = int(np.searchsorted(area_share, share))  # first cell reaching the share
        hit, area = hits[min(k, len(hits) - 1)], area_share[min(k, len(hits) - 1)]
        pct = round(share * 100)
        out[f"hit_rate_{pct}"] = float(hit)
        out[f"pai_{pct}"] = float(hit / area) if area > 0 else float("nan")
    return out


def run_backtest(
    inputs: RiskInputs,
    boundary: gpd.GeoDataFrame,
    models: dict[str, pd.Series | Callable[[gpd.GeoDataFrame], np.ndarray]],
    *,
    cutoff: str | pd.Timestamp,
    horizon_days: int = 90,
    cell_m: float = 250.0,
    count_grid_days: int = 365,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluate retailer-level models (score Series indexed by retailer_id) on the next ``horizon_days``.

    Reads the retailers, the event log and the metric CRS of ``inputs``. Adds the baselines
    ``count_grid`` (past violations per cell in the last ``count_grid_days``) and ``random``.
    Returns one row per model with hit rates, PAI and AUC.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    retailers = inputs.retailers
    violations = effective_violations(inputs.events)  # a correction is not a second violation
    times = pd.to_datetime(violations["time"])
    future = violations.loc[(times >= cutoff) & (times < cutoff + pd.Timedelta(days=horizon_days))]
    past = violations.loc[(times < cutoff) & (times >= cutoff - pd.Timedelta(days=count_grid_days))]
    cells = square_cells(boundary, cell_m=cell_m, crs=inputs.crs)
    ids = retailers["retailer_id"].astype(str).to_numpy()
    cell = _cell_of(retailers.reset_index(drop=True), cells)
    n_cells = len(cells)

    def per_cell(values_by_retailer: pd.Series) -> np.ndarray:
        v = values_by_retailer.reindex(ids).fillna(0.0).to_numpy(dtype=float)
        ok = cell >= 0
        return np.bincount(cell[ok], weights=v[ok], minlength=n_cells)

    future_count = future.groupby("retailer_id").size()
    hits = per_cell(future_count.astype(float))
    had_violation = future_count.reindex(ids).fillna(0).to_numpy() > 0
    area = cells["area_m2"].to_numpy()
    rng = np.random.default_rng(seed)

    rows = []
    for name, scores in models.items():
        s = pd.Series(scores, dtype=float).reindex(ids).fillna(0.0)
        row = {"model": name, **area_metrics(per_cell(s), area, hits, rng=rng)}
        row["auc"] = float(roc_auc_score(had_violation, s.to_numpy())) if 0 < had_violation.sum() < len(ids) else np.nan
        rows.append(row)
    past_cells = per_cell(past.groupby("retailer_id").size().astype(float))
    rows.append(
        {
            "model": "count_grid",
            **area_metrics(past_cells, area, hits, rng=rng),
            "auc": float(roc_auc_score(had_violation, past_cells[np.maximum(cell, 0)])),
        }
    )
    random_runs = [area_metrics(rng.random(n_cells), area, hits, rng=rng) for _ in range(20)]
    rows.append({"model": "random", **pd.DataFrame(random_runs).mean().to_dict(), "auc": 0.5})
    table = pd.DataFrame(rows)
    table["violations"] = len(future)
    table["cutoff"] = cutoff.date().isoformat()
    table["horizon_days"] = horizon_days
    return table


def truth_column(ground_truth: pd.DataFrame, cutoff: str | pd.Timestamp) -> str:
    """The ground-truth column for a backtest at ``cutoff``: ``expected_90d_<cutoff>`` if present, else true_risk."""
    name = f"expected_90d_{pd.Timestamp(cutoff).date().isoformat()}"
    return name if name in ground_truth else "true_risk"


def standard_backtest(
    inputs: RiskInputs,
    boundary: gpd.GeoDataFrame,
    *,
    cutoff: str | pd.Timestamp,
    ground_truth: pd.DataFrame | None = None,
    horizon_days: int = 90,
    cell_m: float = 250.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Backtest at ``cutoff``: gridmgmt (calibrated expected violations and points score) against baselines.

    Models: ``gridmgmt`` (:func:`gridmgmt.risk.scores.expected_violations`, fitted on the history
    before the cutoff), ``gridmgmt_score`` (the 0-100 score), ``past_violations`` (the score's
    violation component alone), ``ground_truth`` (the hidden process's expected offences in the
    90 days after the cutoff when the ground truth has that column, else ``true_risk``),
    ``count_grid`` and ``random``. Returns the table of :func:`run_backtest`.
    """
    ours = risk_scores(inputs, as_of=cutoff).set_index("retailer_id")
    past = risk_scores(inputs, as_of=cutoff, components=("violation",)).set_index("retailer_id")
    models: dict[str, pd.Series] = {
        "gridmgmt": expected_violations(inputs, as_of=cutoff, horizon_days=horizon_days),
        "gridmgmt_score": ours["score"],
        "past_violations": past["score"],
    }
    if ground_truth is not None:
        truth = ground_truth.assign(retailer_id=ground_truth["retailer_id"].astype(str)).set_index("retailer_id")
        models["ground_truth"] = pd.to_numeric(truth[truth_column(ground_truth, cutoff)], errors="coerce")
    return run_backtest(inputs, boundary, models, cutoff=cutoff, horizon_days=horizon_days, cell_m=cell_m, seed=seed)
