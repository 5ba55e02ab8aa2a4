"""District risk adapters: the hotspot map's violation points read the log as scores do (corrections count once)."""

from __future__ import annotations

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
