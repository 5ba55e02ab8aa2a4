"""A phone's own event ids are stored once: sent again with the same content nothing is added, else refused."""

from __future__ import annotations

import pytest
from service_fixtures import service_store, small_district, template_store  # noqa: F401

from gridmgmt.store import open_store
from gridmgmt.store.eventlog import EventIdConflict

ID = "P-01890a5d-ac96-774b-bcce-b302099a8057"
SENT = {
    "event_id": ID,
    "retailer_id": "R1",
    "time": "2026-03-02T09:30",
    "type": "inspection",
    "department": "monopoly",
    "outcome": "ok",
    "x_tapped_at": "2026-03-02T09:29:58",
}


def test_an_id_sent_again_is_stored_once_on_both_backends(store_url: str) -> None:
    """Three sends of one id (the later at another server time): one row, the first's; the same rows come back."""
    with open_store(store_url, create=True) as store:
        first, stored_now = store.add_records_once([SENT], recorded_by="officer1")
        assert stored_now and first[0]["event_id"] == ID
        for later in ("2026-03-02T10:45", "2026-03-03T08:00"):
            again, stored_now = store.add_records_once([{**SENT, "time": later}], recorded_by="officer1")
            assert not stored_now
            assert again == first  # the stored event, its first time included
        assert store.count_events() == 1


@pytest.mark.parametrize(
    ("change", "recorder", "differs"),
    [({"outcome": "violation", "severity": "minor"}, "officer1", "outcome, severity"),
     ({"x_tapped_at": "2026-03-02T11:00:00"}, "officer1", "extra"),
     ({}, "officer2", "recorded_by")],
)  # fmt: skip
def test_an_id_with_other_content_is_refused_on_both_backends(
    store_url: str, change: dict, recorder: str, differs: str
) -> None:
    """The same id with another outcome, tap time or recorder: refused naming what differs; nothing is added."""
    with open_store(store_url, create=True) as store:
        store.add_records_once([SENT], recorded_by="officer1")
        with pytest.raises(EventIdConflict) as error:
            store.add_records_once([{**SENT, **change}], recorded_by=recorder)
        assert f"event_id already in the log with another {differs}" in str(error.value)
        assert store.count_events() == 1


def test_a_batch_with_one_id_stored_adds_only_the_new_one(store_url: str) -> None:
    """An inspection sent before and a new violation in one call: the violation alone is added."""
    with open_store(store_url, create=True) as store:
        store.add_records_once([SENT], recorded_by="officer1")
        second = {**SENT, "event_id": ID + ".v", "type": "violation", "outcome": "", "severity": "minor"}
        added, stored_now = store.add_records_once([SENT, second], recorded_by="officer1")
        assert stored_now and [e["event_id"] for e in added] == [ID, ID + ".v"]
        assert store.count_events() == 2


def test_the_clerks_path_still_refuses_an_id_in_the_log(tmp_path) -> None:
    """``events add`` (append_records) keeps refusing a stored id, even with the same content."""
    from gridmgmt._errors import InputError

    with open_store(tmp_path / "s.sqlite", create=True) as store:
        store.add_records([SENT])
        with pytest.raises(InputError, match="event_id already in the log"):
            store.add_records([SENT])


@pytest.mark.slow  # builds and serves a district
def test_the_api_answers_a_resend_with_the_stored_events(small_district, service_store) -> None:  # noqa: F811
    """POST /api/events with a phone id: 201, then 200 with the same events and nothing added; other content 409."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from service_fixtures import PASSWORD, TODAY

    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY))
    with TestClient(app) as client:
        token = client.post("/api/login", json={"username": "officer1", "password": PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        stops = app.state.service.live.latest_plan().layers["stops"]
        rid = str(stops.loc[stops["squad_id"] == "G01", "retailer_id"].iat[0])
        body = {"event_id": ID, "type": "inspection", "retailer_id": rid, "outcome": "violation",
                "severity": "minor", "violation_kind": "counterfeit", "x_tapped_at": "2026-12-01T09:30:00"}  # fmt: skip
        before = service_store.count_events()
        first = client.post("/api/events", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert [e["event_id"] for e in first.json()] == [ID, ID + ".v"]  # the implied violation's id derives
        again = client.post("/api/events", json=body, headers=headers)
        assert again.status_code == 200 and again.json() == first.json()
        assert service_store.count_events() == before + 2
        other = client.post("/api/events", json={**body, "severity": "serious"}, headers=headers)
        assert other.status_code == 409 and "another severity" in other.json()["detail"]
        bad_id = client.post("/api/events", json={**body, "event_id": "G-1"}, headers=headers)
        assert bad_id.status_code == 422
        assert service_store.count_events() == before + 2
