"""District risk adapters: the hotspot map's violation points read the log as scores do (corrections count once)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd

from gridmgmt.risk.district_risk import violation_points

AS_OF = "2026-12-01"


def _district(events: list[dict]) -> SimpleNamespace:
    """The two tables :func:`violation_points` reads, for two retailers."""
    retailers = pd.DataFrame({"retailer_id": ["R1", "R2"], "lon": [106.70, 106.71], "lat": [26.57, 26.58]})
    frame = pd.DataFrame(events)
    for column in ("outcome", "severity", "note", "corrects"):
        frame[column] = frame.get(column, pd.Series("", index=frame.index)).fillna("")
    frame["time"] = pd.to_datetime(frame["time"])
    return SimpleNamespace(retailers=retailers, events=frame)


def _event(event_id: str, retailer_id: str, time: str, type_: str = "violation", **values: str) -> dict:
    return {"event_id": event_id, "retailer_id": retailer_id, "time": time, "type": type_, "department": "monopoly"} | (
        values
    )


def test_a_corrected_violation_is_one_point_with_the_corrected_severity() -> None:
    """A violation and its correction (``corrects``) give one point, with the correction's severity."""
    district = _district(
        [
            _event("E1", "R1", "2026-05-02T10:00", outcome="violation", severity="minor"),
            _event("E2", "R2", "2026-06-10T15:30", outcome="violation", severity="serious"),
            _event("E3", "R1", "2026-05-04T09:00", severity="criminal", corrects="E1", note="upgraded"),
            _event("E4", "R2", "2026-07-01T11:00", "inspection", outcome="ok"),
        ]
    )
    points = violation_points(district, AS_OF)
    assert sorted(points["event_id"]) == ["E2", "E3"]
    assert points.loc[points["retailer_id"] == "R1", "severity"].tolist() == ["criminal"]
    assert list(points.columns) == ["event_id", "retailer_id", "time", "severity", "lon", "lat"]


def test_a_correction_made_after_the_date_is_not_known_on_it() -> None:
    """As in the scores, the log is read as it stood on ``as_of``: a later correction does not apply yet."""
    district = _district(
        [
            _event("E1", "R1", "2026-11-20T10:00", outcome="violation", severity="minor"),
            _event("E2", "R1", "2026-12-03T09:00", severity="serious", corrects="E1"),
        ]
    )
    before = violation_points(district, AS_OF)
    assert before["event_id"].tolist() == ["E1"] and before["severity"].tolist() == ["minor"]
    after = violation_points(district, "2026-12-10")
    assert after["event_id"].tolist() == ["E2"] and after["severity"].tolist() == ["serious"]


def test_a_correction_into_another_type_removes_the_violation() -> None:
    """A violation corrected into an ``ok`` inspection is no longer a violation point."""
    district = _district(
        [
            _event("E1", "R1", "2026-05-02T10:00", outcome="violation", severity="minor"),
            _event("E2", "R1", "2026-05-03T10:00", "inspection", outcome="ok", corrects="E1"),
            _event("E3", "R2", "2026-06-01T10:00", outcome="violation", severity="serious"),
        ]
    )
    assert violation_points(district, AS_OF)["event_id"].tolist() == ["E3"]


def test_too_few_violations_give_no_hotspots_and_say_why() -> None:
    """A district with little history gets an empty hotspot layer and the reason, not an error."""
    from gridmgmt.risk.district_risk import risk_hotspots

    district = _district([_event("E1", "R1", "2026-05-02T10:00", outcome="violation", severity="minor")])
    district.boundary = None  # never reached: too few points to test
    result = risk_hotspots(district, AS_OF)
    assert len(result.cells) == 0 and result.n_points == 1
    assert "hotspots need at least" in result.notes[0]


def test_scores_without_any_history_say_so() -> None:
    """No event before the date: scores rest on static evidence, and every retailer's reasons say so."""
    import geopandas as gpd

    from gridmgmt.config import RiskWeights
    from gridmgmt.risk.scores import NO_HISTORY_REASON, RiskInputs, risk_scores

    table = pd.DataFrame({"retailer_id": ["R1", "R2"], "lon": [106.70, 106.71], "lat": [26.57, 26.58]})
    table = table.assign(business_type="grocery", customer_class=["A", "D"], open_time="08:00", close_time="21:00")
    retailers = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    events = _district([_event("E1", "R1", "2027-01-05T10:00", outcome="violation")]).events  # after the date
    orders = pd.DataFrame(columns=["retailer_id", "week", "cartons"])
    inputs = RiskInputs(retailers, events, orders, RiskWeights(), crs=retailers.estimate_utm_crs())
    scores = risk_scores(inputs, as_of=AS_OF)
    reasons = scores[["reason_1_en", "reason_2_en", "reason_3_en"]]
    assert (reasons == NO_HISTORY_REASON[1]).sum(axis=1).tolist() == [1, 1]
    assert (scores[["reason_1_zh", "reason_2_zh", "reason_3_zh"]] == NO_HISTORY_REASON[0]).any(axis=1).all()


def test_risk_inputs_take_the_districts_tables_and_settings() -> None:
    """risk_inputs passes the district's own frames, risk weights, metric CRS and schools, unchanged."""
    from gridmgmt.config import RiskWeights
    from gridmgmt.risk.district_risk import risk_inputs

    district = _district([_event("E1", "R1", "2026-05-02T10:00", outcome="violation")])
    district.orders = pd.DataFrame(columns=["retailer_id", "week", "cartons"])
    district.settings = SimpleNamespace(risk_weights=RiskWeights(violation=40.0))
    district.crs, district.schools = "EPSG:32648", None
    inputs = risk_inputs(district)
    assert inputs.retailers is district.retailers and inputs.events is district.events
    assert inputs.orders is district.orders and inputs.schools is None
    assert inputs.weights.violation == 40.0 and inputs.crs == "EPSG:32648"


def test_risk_map_without_significant_hotspots_still_draws() -> None:
    """Hotspot cells none of which is significant give a map without a hotspot layer, not an error."""
    import geopandas as gpd
    import shapely

    from gridmgmt.maps import label, to_offline_html
    from gridmgmt.risk.risk_map import risk_map

    table = pd.DataFrame(
        {"retailer_id": ["R1", "R2"], "name": ["甲", "乙"], "lon": [106.70, 106.71], "lat": [26.57, 26.58]}
        | {"address": ["", ""], "customer_class": ["C", "C"]}
    )
    retailers = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    scores = pd.DataFrame(
        {"retailer_id": ["R1", "R2"], "score": [5.0, 70.0], "level": ["low", "high"], "last_inspection": [None, None]}
        | {f"reason_{i}_en": ["", ""] for i in (1, 2, 3)}
    )
    boundary = gpd.GeoDataFrame(geometry=[shapely.box(106.69, 26.56, 106.72, 26.59)], crs="EPSG:4326")
    cells = gpd.GeoDataFrame(
        {"cell_id": [0], "count": [1], "gi_z": [0.3], "p_fdr": [0.9], "hotspot_class": ["not_significant"]},
        geometry=[shapely.box(106.70, 26.57, 106.705, 26.575)],
        crs="EPSG:4326",
    )
    html = to_offline_html(risk_map(retailers, scores, as_of=AS_OF, boundary=boundary, hotspot_cells=cells, lang="en"))
    assert "fitBounds" in html and "R2" in html
    assert label("gi_hotspots", "en") not in html  # no hotspot layer in the layer switcher


def _risk_map_html(scores: list[float], *, reason_en: str = "", **options) -> str:
    """The English risk map of four retailers with these scores: R1, R2 in grid 1 (west), R3, R4 in grid 2 (east)."""
    import geopandas as gpd
    import shapely

    from gridmgmt.maps import to_offline_html
    from gridmgmt.risk.risk_map import risk_map

    ids = ["R1", "R2", "R3", "R4"]
    table = pd.DataFrame(
        {"retailer_id": ids, "name": ids, "lon": [106.702, 106.705, 106.712, 106.715], "lat": [26.575] * 4}
        | {"address": "", "customer_class": "B", "grid_id": [1, 1, 2, 2]}
    )
    retailers = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    level = ["high" if s >= 20 else "medium" if s >= 8 else "low" for s in scores]
    scores_table = pd.DataFrame(
        {"retailer_id": ids, "score": scores, "level": level, "last_inspection": [None] * 4}
        | {f"reason_{i}_{lang}": [reason_en if i == 1 else ""] * 4 for i in (1, 2, 3) for lang in ("zh", "en")}
    )
    boxes = [shapely.box(106.70, 26.57, 106.71, 26.58), shapely.box(106.71, 26.57, 106.72, 26.58)]
    grids = gpd.GeoDataFrame({"grid_id": [1, 2]}, geometry=boxes, crs="EPSG:4326")
    boundary = gpd.GeoDataFrame(geometry=[shapely.box(106.70, 26.57, 106.72, 26.58)], crs="EPSG:4326")
    m = risk_map(retailers, scores_table, as_of=AS_OF, boundary=boundary, grids=grids, lang="en", **options)
    return to_offline_html(m)


def _grid_strokes(html: str) -> list[str]:
    return re.findall(r'"stroke": "(#[0-9a-f]{6})"', html)


def test_risk_map_grid_colours_use_the_absolute_score_scale() -> None:
    """Grids take the colour of their mean score's level (the retailers' thresholds), not a share of the top grid.

    All shops low risk (grid means 3 and 5.5 points): both grids low, none in the top colour; means of 11 and
    35 points: medium and high; with high_min_score 50 both are medium.
    """
    from gridmgmt.config import RiskWeights
    from gridmgmt.risk.risk_map import LEVEL_COLORS

    low, medium, high = LEVEL_COLORS["low"], LEVEL_COLORS["medium"], LEVEL_COLORS["high"]
    html = _risk_map_html([2.0, 4.0, 5.0, 6.0])
    assert _grid_strokes(html) == [low, low]
    assert "Grid mean risk" in html and "Low (&lt; 8)" in html  # the grids' legend states the scale
    assert _grid_strokes(_risk_map_html([10.0, 12.0, 30.0, 40.0])) == [medium, high]
    strict = RiskWeights(high_min_score=50.0)
    assert _grid_strokes(_risk_map_html([10.0, 12.0, 30.0, 40.0], weights=strict)) == [medium, medium]


def test_risk_map_says_no_history_on_the_map() -> None:
    """Scores made without history put a note on the map itself (in the page's language), not only in popups."""
    from gridmgmt.maps.escape import esc
    from gridmgmt.risk.scores import NO_HISTORY_REASON

    note = esc("No history yet: risk scores use static evidence only")  # as the page writes text
    assert note in _risk_map_html([3.2] * 4, reason_en=NO_HISTORY_REASON[1])
    assert note not in _risk_map_html([3.2] * 4, reason_en="")
