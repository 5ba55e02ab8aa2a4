"""Risk scores: explainable components, the national order warning rule, no leakage, backtest, map."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from gridmgmt.config import RiskWeights
from gridmgmt.risk.district_risk import risk_inputs
from gridmgmt.risk.scores import RiskInputs, order_flags, risk_scores

CRS = "EPSG:32648"


def _retailers(n: int = 4) -> gpd.GeoDataFrame:
    lon = 106.71 + np.arange(n) * 0.01  # about 1 km apart
    return gpd.GeoDataFrame(
        {
            "retailer_id": [f"R{i}" for i in range(n)],
            "name": [f"shop {i}" for i in range(n)],
            "business_type": "grocery",
            "customer_class": ["A"] * (n - 1) + ["D"],
            "licence_date": "2020-01-01",
            "lon": lon,
            "lat": 26.58,
        },
        geometry=gpd.points_from_xy(lon, np.full(n, 26.58)),
        crs=4326,
    )


def _events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"event_id": f"E{i}", "retailer_id": r, "time": pd.Timestamp(t), "type": k, "severity": "serious"}
            for i, (r, t, k) in enumerate(rows)
        ]
    )


def _weekly(retailer: str, cartons: list[float], start: str = "2026-09-07") -> pd.DataFrame:
    weeks = pd.date_range(start, periods=len(cartons), freq="7D")
    return pd.DataFrame({"retailer_id": retailer, "week": weeks, "cartons": cartons})


NO_ORDERS = pd.DataFrame(
    {"retailer_id": pd.Series(dtype=str), "week": pd.Series(dtype="datetime64[ns]"), "cartons": pd.Series(dtype=float)}
)


def test_weekly_spike_above_twice_the_previous_three_weeks_is_flagged() -> None:
    """A 30-carton week after three 10-carton weeks is flagged; the same shape under 20 cartons is not."""
    retailers = _retailers(2)
    orders = pd.concat([_weekly("R0", [10, 10, 10, 30]), _weekly("R1", [5, 5, 5, 15])])
    flags = order_flags(orders, retailers, as_of=pd.Timestamp("2026-12-01"))
    weekly = flags.loc[flags["rule"] == "week"]
    assert list(weekly["retailer_id"]) == ["R0"]
    assert weekly["cartons"].iloc[0] == 30


def test_new_retailers_are_not_flagged() -> None:
    """The warning rule ignores retailers licensed less than four weeks before the order."""
    retailers = _retailers(1).assign(licence_date="2026-09-20")
    flags = order_flags(_weekly("R0", [10, 10, 10, 40]), retailers, as_of=pd.Timestamp("2026-12-01"))
    assert flags.loc[flags["rule"] == "week"].empty


def test_recent_violation_raises_score_and_is_the_top_reason() -> None:
    """A retailer with a recent violation scores higher than one without, and says why in zh and en."""
    retailers = _retailers()
    events = _events([("R0", "2026-11-20T10:00", "violation")])
    scores = risk_scores(RiskInputs(retailers, events, NO_ORDERS, RiskWeights(), CRS), as_of="2026-12-01")
    by_id = scores.set_index("retailer_id")
    assert by_id.loc["R0", "score"] > by_id.loc["R1", "score"] + 10
    assert "违规" in by_id.loc["R0", "reason_1_zh"]
    assert "violation" in by_id.loc["R0", "reason_1_en"]
    assert by_id.loc["R1", "reason_1_en"] == ""
    assert "credit class D" in by_id.loc["R3", "reason_1_en"]


def test_violation_weight_decays_with_age() -> None:
    """An old violation counts less than a recent one (half-life from district.toml)."""
    retailers = _retailers(2)
    events = _events([("R0", "2026-11-25T10:00", "violation"), ("R1", "2025-12-01T10:00", "violation")])
    scores = risk_scores(RiskInputs(retailers, events, NO_ORDERS, RiskWeights(), CRS), as_of="2026-12-01")
    by_id = scores.set_index("retailer_id")
    assert by_id.loc["R0", "score"] > by_id.loc["R1", "score"] > 0


def test_near_repeat_reaches_neighbours_only() -> None:
    """A violation raises the near-repeat component of a neighbour within the radius, not of far retailers."""
    retailers = _retailers(3)
    retailers.loc[1, ["lon"]] = 106.711  # about 100 m from R0
    retailers = retailers.set_geometry(gpd.points_from_xy(retailers["lon"], retailers["lat"]), crs=4326)
    events = _events([("R0", "2026-11-20T10:00", "violation")])
    scores = risk_scores(RiskInputs(retailers, events, NO_ORDERS, RiskWeights(), CRS), as_of="2026-12-01")
    near = scores.set_index("retailer_id")["c_near_repeat"]
    assert near["R1"] > 0.1
    assert near["R0"] == 0 and near["R2"] == 0


def test_nothing_after_the_date_leaks(demo_district) -> None:
    """Scores as of a date are identical with and without the events and orders after it."""
    d = demo_district
    date = "2026-06-01"
    cut = pd.Timestamp(date)
    inputs = risk_inputs(d)
    full = risk_scores(inputs, as_of=date)
    past_events = d.events.loc[pd.to_datetime(d.events["time"]) < cut]
    past_orders = d.orders.loc[pd.to_datetime(d.orders["week"]) + pd.Timedelta(days=7) <= cut]
    trimmed = risk_scores(replace(inputs, events=past_events, orders=past_orders), as_of=date)
    assert len(past_events) < len(d.events)
    pd.testing.assert_series_equal(full["score"], trimmed["score"])
    levels = full["level"].value_counts(normalize=True)
    assert 0.005 < levels.get("high", 0) < 0.15, "about the top few percent should be high risk"


CUTOFFS = ("2026-03-01", "2026-06-01", "2026-09-01")


@pytest.fixture(scope="module")
def backtests(demo_district) -> pd.DataFrame:
    from gridmgmt.risk.district_risk import backtest_table

    return pd.concat([backtest_table(demo_district, cutoff=c) for c in CUTOFFS], ignore_index=True)


@pytest.mark.slow
def test_backtest_meets_the_target_on_the_mean_of_three_cutoffs(backtests: pd.DataFrame) -> None:
    """Mean over three cutoffs: PAI >= 3 at 10% of the area and >= 1.2x the count grid; above past violations."""
    mean = backtests.groupby("model")[["pai_10", "auc"]].mean()
    assert mean.loc["gridmgmt", "pai_10"] >= 3.0
    assert mean.loc["gridmgmt", "pai_10"] >= 1.2 * mean.loc["count_grid", "pai_10"]
    assert mean.loc["gridmgmt", "pai_10"] > mean.loc["past_violations", "pai_10"]
    assert mean.loc["gridmgmt", "auc"] > mean.loc["past_violations", "auc"]
    assert mean.loc["random", "pai_10"] < 1.5
    assert mean.loc["ground_truth", "pai_10"] > mean.loc["count_grid", "pai_10"], "the oracle beats the baseline"


@pytest.mark.slow
def test_backtest_beats_the_count_grid_at_every_cutoff(backtests: pd.DataFrame) -> None:
    """Not one lucky date: the calibrated model beats the count grid at each cutoff on its own."""
    by_cutoff = backtests.pivot(index="cutoff", columns="model", values="pai_10")
    assert len(by_cutoff) == len(CUTOFFS)
    assert (by_cutoff["gridmgmt"] > by_cutoff["count_grid"]).all()


def test_calibration_uses_only_the_past(demo_district) -> None:
    """The expected-violations model fitted as of a date is the same without any event or order after it."""
    from gridmgmt.risk.scores import expected_violations, fit_expected_violations

    d = demo_district
    date = "2026-06-01"
    cut = pd.Timestamp(date)
    inputs = risk_inputs(d)
    past_events = d.events.loc[pd.to_datetime(d.events["time"]) < cut]
    past_orders = d.orders.loc[pd.to_datetime(d.orders["week"]) + pd.Timedelta(days=7) <= cut]
    past = replace(inputs, events=past_events, orders=past_orders)
    model = fit_expected_violations(past, as_of=date)
    assert model.training_rows == 3 * len(d.retailers)
    full = expected_violations(inputs, as_of=date)
    trimmed = expected_violations(past, as_of=date, model=model)
    pd.testing.assert_series_equal(full, trimmed)
    assert full.sum() > 0
    coef = model.coefficients()
    assert coef["c_tip_off"] > 0 and coef["c_order_anomaly"] > 0, "leading indicators raise the expectation"


@pytest.mark.browser
def test_risk_map_renders_offline_and_escaped(demo_district, tmp_path, chromium) -> None:
    """The risk map opens in headless Chromium with markers and layers, no errors, no external requests, < 2 MB."""
    from gridmgmt.ops.risk import run_risk

    d = demo_district
    hostile = d.retailers["name"].str.contains("<", regex=False)
    assert hostile.any(), "the demo holds shop names with HTML in them"
    written = run_risk(d, "2026-12-01", tmp_path, lang="en").written
    page = tmp_path / "risk_map.html"
    assert page in written
    assert page.stat().st_size < 2_000_000
    facts = chromium.open(page, wait_for=".marker-cluster")
    assert facts.console_errors == [] and facts.page_errors == []
    assert facts.external_requests == []
    assert facts.xss_calls == [] and facts.dialogs == []
    assert facts.counts["clusters"] > 10
    assert facts.counts["paths"] > 5  # hexes and the boundary
    assert facts.counts["heat_canvas"] == 1
    assert facts.counts["legend"] == 2
    assert facts.counts["layer_control_entries"] >= 3
    assert "Retailer risk map" in page.read_text(encoding="utf-8")
    risk = pd.read_csv(tmp_path / "risk.csv", dtype={"retailer_id": str})
    assert len(risk) == len(d.retailers) and risk["score"].between(0, 100).all()
