"""The violation an inspection implies is found whatever spelling the inspection came in."""

from __future__ import annotations

import pytest

from gridmgmt.ops.events import implied_violations


@pytest.mark.parametrize(
    ("type_", "outcome"), [("inspection", "violation"), ("检查", "violation"), ("Inspection", "VIOLATION")]
)
def test_an_inspection_finding_implies_a_violation_in_any_accepted_spelling(type_, outcome) -> None:
    rows = implied_violations(
        [{"event_id": "E1", "retailer_id": "R1", "time": "2026-12-02T09:30", "type": type_, "outcome": outcome}]
    )
    assert [(r["event_id"], r["type"], r.get("severity")) for r in rows][1:] == [("E1-V", "violation", "serious")]


def test_a_violation_already_given_is_not_doubled() -> None:
    records = [
        {"event_id": "E1", "retailer_id": "R1", "time": "2026-12-02T09:30", "type": "检查", "outcome": "violation"},
        {"event_id": "E2", "retailer_id": "R1", "time": "2026-12-02T09:30", "type": "违法", "severity": "minor"},
    ]
    assert [r["event_id"] for r in implied_violations(records)] == ["E1", "E2"]


def test_an_inspection_without_a_finding_implies_nothing() -> None:
    rows = implied_violations(
        [{"event_id": "E1", "retailer_id": "R1", "time": "2026-12-02T09:30", "type": "检查", "outcome": "ok"}]
    )
    assert len(rows) == 1
