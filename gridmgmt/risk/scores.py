"""Explainable per-retailer risk scores as of a date, with each retailer's top reasons.

score = min(100, sum_k w_k * c_k): each weight w_k is the points its component adds at full strength,
and every component c_k is in [0, 1]:

- ``violation``: 1 - exp(-V), V = sum of past violations weighted by severity and halved
  every ``violation_half_life_days``;
- one per report type (:data:`gridmgmt.vocab.RISK_REPORT_TYPES`: ``tip_off``, ``complaint``,
  ``marketing_report``): 1 - exp(-N), N = decayed count (half-life ``report_half_life_days``);
- ``order_anomaly``: the larger of 1 - exp(-F), F = decayed count of weeks flagged by the
  national warning rule (a week above 200% of the mean of the previous 3 weeks, or a month
  above 200% of the previous month; orders under 20 cartons and retailers licensed less
  than 4 weeks ignored), and a robust z-score of the last 4 weeks' volume against peers of
  the same business type and customer class, mapped (z - 2) / 3 clipped to [0, 1];
- ``near_repeat``: 1 - exp(-S), S = sum over recent violations at *other* retailers within
  ``near_repeat_radius_m`` and ``near_repeat_days`` of (1 - d/R) * (1 - age/T);
- ``school``: 1 when a school is within ``school_radius_m``;
- ``credit_class``: B 0.4, C 0.7, D 1.0, better classes 0.

Only events strictly before the as-of date (00:00) and order weeks that ended by then are
used, so nothing after the date can leak into a score.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from scipy.spatial import cKDTree

from gridmgmt.config import BUSINESS_TYPES, RiskWeights
from gridmgmt.inputs.events import effective_events
from gridmgmt.vocab import EVENT_TYPES_BY_NAME, RISK_REPORT_TYPES

log = logging.getLogger(__name__)

COMPONENTS = (
    "violation",
    *RISK_REPORT_TYPES,
    "order_anomaly",
    "near_repeat",
    "school",
    "credit_class",
)
SEVERITY_WEIGHT = {"minor": 0.6, "serious": 1.0, "criminal": 1.5}
CLASS_RISK = {"B": 0.4, "C": 0.7, "D": 1.0}
SPIKE_RATIO = 2.0  # the national warning rule: 200%
SPIKE_MIN_CARTONS = 20.0
NEW_RETAILER_DAYS = 28
NO_HISTORY_REASON = ("尚无历史记录（仅按静态信息评分）", "no history yet (static evidence only)")
MIN_REASON_POINTS = 1.0  # a component adding less than this is not named as a reason

_REASONS = {
    "violation": ("近期违规{n:.1f}次(时间衰减)", "{n:.1f} recent violations (time-decayed)"),
    **{t.name: t.risk_reason for t in EVENT_TYPES_BY_NAME.values() if t.risk_reason is not None},
    "order_anomaly": ("订单异常(预警{n:.0f}次)", "order anomaly ({n:.0f} warning flags)"),
    "near_repeat": ("周边近期发生违规", "violations nearby recently"),
    "school": ("距学校100米以内", "within 100 m of a school"),
    "credit_class": ("信用等级{n}", "credit class {n}"),
}


@dataclass(frozen=True, eq=False)  # eq=False: frames have no truth value, so compare by identity
class RiskInputs:
    """What every risk function reads: the retailers, the event log, the orders and the settings.

    Attributes
    ----------
    retailers
        Retailers as loaded by :func:`gridmgmt.inputs.district.load_district` (WGS-84 points).
    events
        The event log (all of it: each function reads only what was known before its date).
    orders
        Weekly orders: retailer_id, week (start date), cartons.
    weights
        Points per component and the decay scales (``[risk_weights]`` in district.toml).
    crs
        Local metric CRS for the distances (near-repeat, schools, area context, backtest cells).
    schools
        School points (any CRS), or None when there are none.
    """

    retailers: gpd.GeoDataFrame
    events: pd.DataFrame
    orders: pd.DataFrame
    weights: RiskWeights
    crs: CRS | str
    schools: gpd.GeoDataFrame | None = None

    def known_before(self, as_of: pd.Timestamp) -> RiskInputs:
        """The same inputs with only the events before ``as_of`` (corrections made later are unknown too)."""
        return replace(self, events=self.events.loc[pd.to_datetime(self.events["time"]) < as_of])


def _reason_texts(table: pd.DataFrame, component: str, lang_index: int) -> pd.Series:
    template = _REASONS[component][lang_index]
    return table[f"n_{component}"].map(lambda n: template.format(n=n))


def _decayed(ages_days: pd.Series, half_life_days: float) -> pd.Series:
    return np.power(0.5, ages_days / half_life_days)


def _saturate(x: pd.Series | np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-np.asarray(x, dtype=float))


def order_flags(orders: pd.DataFrame, retailers: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Weeks flagged by the national warning rule, before ``as_of``.

    Returns one row per flagged week: retailer_id, week, cartons, rule ("week" or "month").
    """
    weeks = orders.loc[
        pd.to_datetime(orders["week"]) + pd.Timedelta(days=7) <= as_of, ["retailer_id", "week", "cartons"]
    ].copy()
    if weeks.empty:
        return weeks.assign(rule=pd.Series(dtype=str))
    weeks["week"] = pd.to_datetime(weeks["week"])
    weeks = weeks.sort_values(["retailer_id", "week"], kind="stable")
    grouped = weeks.groupby("retailer_id", sort=False)["cartons"]
    prev_mean = (grouped.shift(1) + grouped.shift(2) + grouped.shift(3)) / 3.0  # NaN until 3 weeks exist
    licensed = pd.to_datetime(retailers.set_index("retailer_id")["licence_date"], errors="coerce")
    established = weeks["week"] - weeks["retailer_id"].map(licensed) >= pd.Timedelta(days=NEW_RETAILER_DAYS)
    established = established.fillna(True)
    weekly = (weeks["cartons"] >= SPIKE_MIN_CARTONS) & (weeks["cartons"] > SPIKE_RATIO * prev_mean) & established
    flagged = weeks.loc[weekly].assign(rule="week")

    months = weeks.assign(month=weeks["week"].dt.to_period("M")).groupby(["retailer_id", "month"])["cartons"].sum()
    months = months.reset_index().sort_values(["retailer_id", "month"])
    months["prev"] = months.groupby("retailer_id")["cartons"].shift(1)
    spike = (months["cartons"] >= SPIKE_MIN_CARTONS) & (months["cartons"] > SPIKE_RATIO * months["prev"])
    monthly = months.loc[spike].assign(week=lambda m: m["month"].dt.start_time, rule="month")
    return pd.concat([flagged, monthly[["retailer_id", "week", "cartons", "rule"]]], ignore_index=True)


def _peer_z(orders: pd.DataFrame, retailers: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.Series:
    """Robust z of each retailer's last-4-week cartons against same type-and-class peers."""
    recent = orders.loc[
        (pd.to_datetime(orders["week"]) + pd.Timedelta(days=7) <= as_of)
        & (pd.to_datetime(orders["week"]) >= as_of - pd.Timedelta(days=35))
    ]
    volume = recent.groupby("retailer_id")["cartons"].sum().reindex(retailers["retailer_id"]).fillna(0.0)
    peers = retailers.set_index("retailer_id")[["business_type", "customer_class"]].reindex(volume.index)
    frame = peers.assign(volume=volume.to_numpy())
    median = frame.groupby(["business_type", "customer_class"])["volume"].transform("median")
    mad = (
        (frame["volume"] - median).abs().groupby([frame["business_type"], frame["customer_class"]]).transform("median")
    )
    scale = (1.4826 * mad).where(mad > 0, np.nan)
    return ((frame["volume"] - median) / scale).fillna(0.0)


def score_components(inputs: RiskInputs, *, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Raw evidence (``n_*``) and components (``c_*`` in [0, 1]) per retailer, indexed by retailer_id."""
    retailers, events, orders, weights = inputs.retailers, inputs.events, inputs.orders, inputs.weights
    as_of = pd.Timestamp(as_of).normalize()
    ids = pd.Index(retailers["retailer_id"].astype(str), name="retailer_id")
    past = effective_events(events.loc[pd.to_datetime(events["time"]) < as_of]).copy()
    past["age_days"] = (as_of - pd.to_datetime(past["time"])).dt.total_seconds() / 86400.0
    out = pd.DataFrame(index=ids)

    violations = past.loc[past["type"] == "violation"]
    severity = violations.get("severity", pd.Series("", index=violations.index)).map(SEVERITY_WEIGHT)
    severity = severity.astype(float).fillna(1.0)
    v = (
        (severity * _decayed(violations["age_days"], weights.violation_half_life_days))
        .groupby(violations["retailer_id"])
        .sum()
    )
    out["n_violation"] = v.reindex(ids).fillna(0.0)
    out["c_violation"] = _saturate(out["n_violation"])

    for kind in RISK_REPORT_TYPES:
        rows = past.loc[past["type"] == kind]
        n = _decayed(rows["age_days"], weights.report_half_life_days).groupby(rows["retailer_id"]).sum()
        out[f"n_{kind}"] = n.reindex(ids).fillna(0.0)
        out[f"c_{kind}"] = _saturate(out[f"n_{kind}"])

    flags = order_flags(orders, retailers, as_of=as_of)
    flag_age = (as_of - pd.to_datetime(flags["week"])).dt.days
    f = _decayed(flag_age, weights.report_half_life_days).groupby(flags["retailer_id"]).sum()
    out["n_order_anomaly"] = flags.groupby("retailer_id").size().reindex(ids).fillna(0).astype(float)
    peer_z = _peer_z(orders, retailers, as_of=as_of).reindex(ids).fillna(0.0)
    out["order_peer_z"] = peer_z.round(2)
    out["c_order_anomaly"] = np.maximum(_saturate(f.reindex(ids).fillna(0.0)), np.clip((peer_z - 2.0) / 3.0, 0, 1))

    metric = retailers.to_crs(inputs.crs)
    xy = np.column_stack([metric.geometry.x, metric.geometry.y])
    recent = violations.loc[violations["age_days"] <= weights.near_repeat_days]
    position = pd.Series(np.arange(len(ids)), index=ids)
    near = np.zeros(len(ids))
    if len(recent):
        src = position.reindex(recent["retailer_id"]).to_numpy()
        ok = ~np.isnan(src)
        src, ages = src[ok].astype(int), recent["age_days"].to_numpy()[ok]
        tree = cKDTree(xy)
        for s, age in zip(src, ages, strict=True):
            hits = np.asarray(tree.query_ball_point(xy[s], weights.near_repeat_radius_m), dtype=int)
            hits = hits[hits != s]
            d = np.hypot(*(xy[hits] - xy[s]).T)
            np.add.at(near, hits, (1 - d / weights.near_repeat_radius_m) * (1 - age / weights.near_repeat_days))
    out["n_near_repeat"] = near.round(3)
    out["c_near_repeat"] = _saturate(near)

    school_near = np.zeros(len(ids))
    if inputs.schools is not None and len(inputs.schools):
        s = inputs.schools.to_crs(inputs.crs)
        dist, _ = cKDTree(np.column_stack([s.geometry.x, s.geometry.y])).query(xy)
        school_near = (np.asarray(dist) <= weights.school_radius_m).astype(float)
    out["c_school"] = school_near
    out["n_school"] = school_near
    out["n_credit_class"] = retailers["customer_class"].to_numpy()
    out["c_credit_class"] = retailers["customer_class"].map(CLASS_RISK).fillna(0.0).to_numpy()

    inspections = past.loc[past["type"] == "inspection"]
    out["last_inspection"] = pd.to_datetime(inspections.groupby("retailer_id")["time"].max()).reindex(ids)
    return out


def risk_levels(score: pd.Series, weights: RiskWeights | None = None) -> pd.Series:
    """``high``, ``medium`` or ``low`` for each score (points) by ``weights``' thresholds; NaN stays NaN.

    One rule for retailers (risk.csv) and for anything scored on their scale (a grid's mean on the map).
    """
    w = weights or RiskWeights()
    level = pd.Series(
        np.select([score >= w.high_min_score, score >= w.medium_min_score], ["high", "medium"], "low"),
        index=score.index,
        dtype=object,
    )
    return level.where(score.notna())


def risk_scores(
    inputs: RiskInputs, *, as_of: str | pd.Timestamp, components: tuple[str, ...] = COMPONENTS
) -> pd.DataFrame:
    """Risk score 0-100, level and top three reasons (zh, en) per retailer as of a date.

    Parameters
    ----------
    inputs
        Retailers, events, orders, weights (points per component), metric CRS and schools.
    as_of
        Scores use only what was known before this date (00:00).
    components
        Components to use (a subset gives the baselines of the backtest).

    Returns
    -------
    DataFrame with retailer_id, score, level, reason_1..3_zh/en, last_inspection and every
    component's evidence ``n_*`` and value ``c_*``.
    """
    weights = inputs.weights
    table = score_components(inputs, as_of=as_of)
    w = {k: float(asdict(weights)[k]) for k in components}
    points = pd.DataFrame({k: w[k] * table[f"c_{k}"] for k in components}, index=table.index)
    table["score"] = points.sum(axis=1).clip(upper=100.0).round(2)
    table["level"] = risk_levels(table["score"], weights).to_numpy()
    values = points.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    rows = np.arange(len(points))
    for lang_index, lang in enumerate(("zh", "en")):
        texts = np.column_stack([_reason_texts(table, k, lang_index).to_numpy(dtype=object) for k in components])
        for rank in range(3):
            if rank < len(components):
                col = order[:, rank]
                shown = values[rows, col] >= MIN_REASON_POINTS
                table[f"reason_{rank + 1}_{lang}"] = np.where(shown, texts[rows, col], "")
            else:
                table[f"reason_{rank + 1}_{lang}"] = ""
    if not _has_history(inputs.events, as_of):
        _add_reason(table, NO_HISTORY_REASON)
    first = [
        "score",
        "level",
        "reason_1_zh",
        "reason_1_en",
        "reason_2_zh",
        "reason_2_en",
        "reason_3_zh",
        "reason_3_en",
        "last_inspection",
    ]
    return table[first + [c for c in table.columns if c not in first]].reset_index()


def _has_history(events: pd.DataFrame, as_of: str | pd.Timestamp) -> bool:
    """True when the log holds any event before ``as_of``."""
    if events is None or events.empty:
        return False
    return bool((pd.to_datetime(events["time"], errors="coerce") < pd.Timestamp(as_of).normalize()).any())


def _add_reason(table: pd.DataFrame, texts: tuple[str, str]) -> None:
    """Put ``texts`` (zh, en) into each retailer's first empty reason slot (the third when all are taken)."""
    placed = np.zeros(len(table), dtype=bool)
    for rank in (1, 2, 3):
        free = ~placed & (table[f"reason_{rank}_en"].to_numpy(dtype=object) == "")
        if rank == 3:
            free = ~placed
        for lang, text in zip(("zh", "en"), texts, strict=True):
            table.loc[free, f"reason_{rank}_{lang}"] = text
        placed |= free


# ----------------------------------------------------------------------------- calibration

CONTEXT_RADIUS_M = 500.0  # neighbourhood of the area context features
CALIBRATION_WINDOWS = 3  # past windows of ``horizon_days`` the calibration is fitted on


@dataclass(frozen=True)
class ExpectedViolationsModel:
    """A Poisson regression of the violations found in the next ``horizon_days`` on the evidence.

    ``expected = exp(intercept + sum_k coef_k * (x_k - mean_k) / scale_k)``; fitted only on windows
    that ended by ``fitted_as_of``.
    """

    features: tuple[str, ...]
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    horizon_days: int
    fitted_as_of: pd.Timestamp
    training_rows: int

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Expected violations per retailer in the next ``horizon_days`` (same index as ``features``)."""
        x = (features[list(self.features)].to_numpy(dtype=float) - self.mean) / self.scale
        return pd.Series(np.exp(self.intercept + x @ self.coef), index=features.index, name="expected_violations")

    def coefficients(self) -> pd.Series:
        """Log-rate change per standard deviation of each feature (positive: raises the expectation)."""
        return pd.Series(self.coef, index=list(self.features), name="coef_per_sd")


def effective_violations(events: pd.DataFrame) -> pd.DataFrame:
    """The violations of the log as it now reads: a corrected violation counts once, in its corrected form.

    The rows of :func:`gridmgmt.inputs.events.effective_events` whose ``type`` is ``violation``
    (so a correction that changes a violation into another type removes it). Filter ``events``
    by time first to see the log as it read at a date.
    """
    effective = effective_events(events)
    return effective.loc[effective["type"] == "violation"]


def _counts(rows: pd.DataFrame, ids: pd.Index, *, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    t = pd.to_datetime(rows["time"])
    return rows.loc[(t >= start) & (t < end)].groupby("retailer_id").size().reindex(ids).fillna(0).to_numpy(float)


def calibration_features(
    inputs: RiskInputs, *, as_of: str | pd.Timestamp, context_radius_m: float = CONTEXT_RADIUS_M
) -> pd.DataFrame:
    """Evidence per retailer as of a date for :func:`fit_expected_violations`, indexed by retailer_id.

    The score's components ``c_*``; the business type (indicator per type, grocery the reference);
    the retailer's own violations in the last two years; and the area context within
    ``context_radius_m`` (weights 1 - d/R, the retailer itself weight 1): violations in the last
    365 and 90 days and tip-offs in the last 90 days, as log(1 + weighted count). Only events before
    ``as_of`` are used.
    """
    as_of = pd.Timestamp(as_of).normalize()
    inputs = inputs.known_before(as_of)
    retailers, events = inputs.retailers, inputs.events
    comp = score_components(inputs, as_of=as_of)
    ids = comp.index
    out = comp[[f"c_{k}" for k in COMPONENTS]].copy()
    kinds = retailers["business_type"].astype(str).to_numpy()
    for kind in sorted(set(BUSINESS_TYPES) - {"grocery"}):
        out[f"type_{kind}"] = (kinds == kind).astype(float)
    metric = retailers.to_crs(inputs.crs)
    tree = cKDTree(np.column_stack([metric.geometry.x, metric.geometry.y]))
    near = tree.sparse_distance_matrix(tree, context_radius_m, output_type="coo_matrix").tocsr()
    near.data = 1.0 - near.data / context_radius_m  # zero distances (the retailer itself) are not stored
    violations = effective_violations(events)
    tips = events.loc[events["type"] == "tip_off"]
    day = pd.Timedelta(days=1)
    out["own_violations_2y"] = np.log1p(_counts(violations, ids, start=as_of - 730 * day, end=as_of))
    for name, rows, days in (("violations_365d", violations, 365), ("violations_90d", violations, 90)):
        n = _counts(rows, ids, start=as_of - days * day, end=as_of)
        out[f"area_{name}"] = np.log1p(near @ n + n)
    n_tips = _counts(tips, ids, start=as_of - 90 * day, end=as_of)
    out["area_tip_offs_90d"] = np.log1p(near @ n_tips + n_tips)
    return out


def fit_expected_violations(
    inputs: RiskInputs,
    *,
    as_of: str | pd.Timestamp,
    horizon_days: int = 90,
    windows: int = CALIBRATION_WINDOWS,
    alpha: float = 1e-3,
) -> ExpectedViolationsModel:
    """Calibrate the evidence to expected violations, using only what was known before ``as_of``.

    For each window k = 1..``windows`` the features are computed as of ``as_of - k * horizon_days``
    and the target is the number of violations found in the ``horizon_days`` that follow (ending by
    ``as_of``); a Poisson regression (L2 penalty ``alpha`` on standardised features) is fitted on all
    windows together. Nothing at or after ``as_of`` is used.

    Raises
    ------
    ValueError
        If the history before ``as_of`` holds no violation to calibrate on.
    """
    from sklearn.linear_model import PoissonRegressor

    as_of = pd.Timestamp(as_of).normalize()
    inputs = inputs.known_before(as_of)
    ids = pd.Index(inputs.retailers["retailer_id"].astype(str), name="retailer_id")
    violations = effective_violations(inputs.events)
    xs, ys = [], []
    for k in range(1, windows + 1):
        start = as_of - pd.Timedelta(days=horizon_days * k)
        xs.append(calibration_features(inputs, as_of=start))
        ys.append(_counts(violations, ids, start=start, end=start + pd.Timedelta(days=horizon_days)))
    x_all, y_all = pd.concat(xs), np.concatenate(ys)
    if y_all.sum() == 0:
        raise ValueError(f"no violation in the {windows} x {horizon_days} days before {as_of.date()} to calibrate on")
    values = x_all.to_numpy(dtype=float)
    mean, scale = values.mean(axis=0), values.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    reg = PoissonRegressor(alpha=alpha, max_iter=1000).fit((values - mean) / scale, y_all)
    log.info("expected violations: fitted on %d rows, %d violations, as of %s", len(y_all), int(y_all.sum()), as_of)
    return ExpectedViolationsModel(
        features=tuple(x_all.columns),
        coef=reg.coef_,
        intercept=float(reg.intercept_),
        mean=mean,
        scale=scale,
        horizon_days=horizon_days,
        fitted_as_of=as_of,
        training_rows=len(y_all),
    )


def expected_violations(
    inputs: RiskInputs,
    *,
    as_of: str | pd.Timestamp,
    horizon_days: int = 90,
    model: ExpectedViolationsModel | None = None,
) -> pd.Series:
    """Expected violations per retailer in the ``horizon_days`` after ``as_of`` (indexed by retailer_id).

    Fits :func:`fit_expected_violations` on the history before ``as_of`` unless a ``model`` is given.
    Summed over an area it ranks areas for patrols (the backtest's ``gridmgmt`` model).
    """
    if model is None:
        model = fit_expected_violations(inputs, as_of=as_of, horizon_days=horizon_days)
    return model.predict(calibration_features(inputs, as_of=as_of))
