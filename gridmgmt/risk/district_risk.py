"""Risk of a loaded District: scores, trend, violation points, hotspots and backtest.

The adapters from :class:`gridmgmt.inputs.district.District` to the pure functions in
:mod:`gridmgmt.risk.scores`, :mod:`gridmgmt.risk.hotspots` and :mod:`gridmgmt.risk.backtest`.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridmgmt.inputs.district import District
from gridmgmt.risk.backtest import standard_backtest
from gridmgmt.risk.hotspots import MIN_POINTS, HotspotResult, find_hotspots, points_from_table
from gridmgmt.risk.scores import RiskInputs, effective_violations, risk_scores


def risk_inputs(district: District) -> RiskInputs:
    """What the risk functions read from ``district``: retailers, events, orders, weights, metric CRS, schools."""
    return RiskInputs(
        retailers=district.retailers,
        events=district.events,
        orders=district.orders,
        weights=district.settings.risk_weights,
        crs=district.crs,
        schools=district.schools,
    )


def score_risk(district: District, as_of: str) -> pd.DataFrame:
    """Risk scores of every retailer of ``district`` as of ``as_of`` (YYYY-MM-DD)."""
    return risk_scores(risk_inputs(district), as_of=as_of)


def risk_trend(district: District, as_of: str, *, months: int = 6) -> pd.DataFrame:
    """Mean score and retailers at high risk at the start of each of the last ``months`` months and at ``as_of``."""
    end = pd.Timestamp(as_of).normalize()
    starts = [end.to_period("M").to_timestamp() - pd.DateOffset(months=k) for k in range(months, 0, -1)]
    rows = []
    for day in sorted({*starts, end}):
        scores = score_risk(district, day.date().isoformat())
        rows.append(
            {
                "date": day.date().isoformat(),
                "mean_score": round(float(scores["score"].mean()), 2),
                "high": int((scores["level"] == "high").sum()),
            }
        )
    return pd.DataFrame(rows)


def risk_layer(district: District, scores: pd.DataFrame) -> gpd.GeoDataFrame:
    """Scores as a point layer for the store."""
    layer = district.retailers[["retailer_id", "geometry"]].merge(scores, on="retailer_id")
    layer["last_inspection"] = layer["last_inspection"].astype(str)
    return layer


def violation_points(district: District, as_of: str, *, days: int = 365) -> pd.DataFrame:
    """Violations in the ``days`` before ``as_of`` with their retailer's lon/lat (WGS-84).

    The log as it read on ``as_of`` (:func:`gridmgmt.risk.scores.effective_violations` of the
    events before it), as scores and tasks read it, so a corrected violation counts once, in its
    corrected form.
    """
    end = pd.Timestamp(as_of).normalize()
    known = district.events.loc[pd.to_datetime(district.events["time"]) < end]
    rows = effective_violations(known)
    rows = rows.loc[pd.to_datetime(rows["time"]) >= end - pd.Timedelta(days=days)]
    where = district.retailers[["retailer_id", "lon", "lat"]]
    return rows[["event_id", "retailer_id", "time", "severity"]].merge(where, on="retailer_id", how="inner")


def risk_hotspots(district: District, as_of: str, *, seed: int = 0, **options) -> HotspotResult:
    """Gi* hotspots of the last year's violations (options: :func:`gridmgmt.risk.hotspots.find_hotspots`).

    With fewer than :data:`gridmgmt.risk.hotspots.MIN_POINTS` violations (a district with little or
    no history) there are no hotspot statistics: the result has no cells and says why in ``notes``.
    """
    table = violation_points(district, as_of)
    if len(table) < MIN_POINTS:
        return HotspotResult.none_found(
            len(table), f"{len(table)} violations in the last year: hotspots need at least {MIN_POINTS}"
        )
    points = points_from_table(table, file="events (violations)")
    return find_hotspots(points, boundary=district.boundary, seed=seed, source="violations", **options)


def backtest_table(district: District, cutoff: str, *, horizon_days: int = 90, cell_m: float = 250.0) -> pd.DataFrame:
    """Backtest at ``cutoff`` (see :func:`gridmgmt.risk.backtest.standard_backtest`)."""
    return standard_backtest(
        risk_inputs(district),
        district.boundary,
        cutoff=cutoff,
        ground_truth=district.ground_truth,
        horizon_days=horizon_days,
        cell_m=cell_m,
    )
