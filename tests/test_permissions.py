"""The one permission model: every role x event type x grid relation, to record and to correct, rule and service."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

from gridmgmt.permissions import (
    NO_GRID,
    OTHER,
    OWN,
    RELATIONS,
    correct_refusal,
    record_refusal,
    write_table,
)
from gridmgmt.vocab import DEPARTMENTS, EVENT_TYPES, ROLES

ANY = {OWN, OTHER, NO_GRID}
# the rules as the issue states them, written out by hand (not derived): type -> role -> where it may record
RECORDS = {
    "inspection": {"monopoly": {OWN}},
    "violation": {"monopoly": {OWN}},
    "tip_off": {"marketing": ANY, "monopoly": ANY},
    "complaint": {"marketing": ANY, "monopoly": ANY},
    "marketing_report": {"marketing": {OWN}},
    "visit": {"marketing": {OWN}},
}
# department of the corrected event -> role -> where it may correct: its department in its grid, or a supervisor
CORRECTS = {
    "monopoly": {"monopoly": {OWN}, "squad_leader": ANY, "manager": ANY},
    "marketing": {"marketing": {OWN}, "squad_leader": ANY, "manager": ANY},
    "public": {"squad_leader": ANY, "manager": ANY},
}


def test_every_role_records_exactly_its_types_in_its_grids() -> None:
    """Role x event type x grid relation: allowed exactly as the table says (admin records nothing)."""
    assert set(RECORDS) == set(EVENT_TYPES)
    for role in ROLES:
        for kind in EVENT_TYPES:
            for relation in RELATIONS:
                refusal = record_refusal(role, kind, relation)
                assert (refusal is None) == (relation in RECORDS[kind].get(role, set())), (role, kind, relation)


def test_every_role_corrects_exactly_the_events_it_may() -> None:
    """Role x corrected event's department x grid relation; never a marketing user over a monopoly finding."""
    assert set(CORRECTS) == set(DEPARTMENTS)
    for role in ROLES:
        for department in DEPARTMENTS:
            for relation in RELATIONS:
                refusal = correct_refusal(role, department, relation)
                assert (refusal is None) == (relation in CORRECTS[department].get(role, set())), (role, department)
    assert correct_refusal("marketing", "monopoly", OWN) == (
        "a marketing user may not correct a monopoly event: only its department in its own grid, "
        "a squad leader or a manager may correct it"
    )


def test_an_officer_records_a_stop_without_finding_in_own_grid_only() -> None:
    """A visit whose result is 'not found' or 'closed' is the officer's too, in their own grid."""
    assert record_refusal("monopoly", "visit", OWN, attempt=True) is None
    assert record_refusal("monopoly", "visit", OTHER, attempt=True) is not None
    assert record_refusal("monopoly", "visit", OWN) is not None


def test_the_readme_states_the_table() -> None:
    """The README's permission table is the one the code enforces."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert write_table() in readme


# ------------------------------------------------------------------ through the service


@pytest.fixture
def live(small_district, service_store):  # noqa: F811
    from gridmgmt.service.live import LiveDistrict

    return LiveDistrict(small_district, service_store, today=TODAY)


GRID_OF = {"officer1": "1", "cm1": "1", "officer2": "2"}  # the fixture's pairs: whose grid is whose


def _retailers(live) -> dict[str, str]:
    """A retailer of grid 1, one of grid 2 and, when there is one, one in no grid: grid -> retailer."""
    owners = live.owners()
    found = {g: str(owners.loc[owners["grid_id"] == g, "retailer_id"].min()) for g in ("1", "2")}
    loose = sorted(set(live.retailers()["retailer_id"]) - set(owners.loc[owners["grid_id"] != "", "retailer_id"]))
    return {**found, **({"": loose[0]} if loose else {})}


def _relation(name: str, grid: str) -> str:
    """The grid relation of a retailer in ``grid`` ('' none) to user ``name``, by hand."""
    if not grid:
        return NO_GRID
    return OWN if GRID_OF.get(name) == grid else OTHER


def _fields(kind: str, retailer: str) -> dict[str, str]:
    extra = {"inspection": {"outcome": "ok"}, "violation": {"severity": "minor"}}.get(kind, {})
    return {"type": kind, "retailer_id": retailer, "note": "walk", **extra}


@pytest.mark.slow
def test_the_service_walks_every_role_type_and_relation(live) -> None:
    """live.record (the API's and the pages' one write path) allows and refuses exactly as the rules."""
    from service_fixtures import USERS

    from gridmgmt.service.accounts import User
    from gridmgmt.service.live import Forbidden

    retailers = _retailers(live)
    for name, (role, staff_id) in USERS.items():
        user = User(name, role, staff_id)
        for kind in EVENT_TYPES:
            for grid, retailer in retailers.items():
                relation = _relation(name, grid)
                assert live.relation(user, retailer) == relation
                allowed = relation in RECORDS[kind].get(role, set())
                if allowed:
                    assert live.record(user, _fields(kind, retailer))[0]["type"] == kind
                else:
                    with pytest.raises(Forbidden):
                        live.record(user, _fields(kind, retailer))
    # corrections: an officer's and a customer manager's event in grid 1, and one in grid 2
    officer1, cm1, officer2 = (User(name, *USERS[name]) for name in ("officer1", "cm1", "officer2"))
    targets = {
        "1": [live.record(officer1, _fields("violation", retailers["1"]))[0]]
        + [live.record(cm1, _fields(kind, retailers["1"]))[0] for kind in ("visit", "tip_off")],
        "2": [live.record(officer2, _fields("violation", retailers["2"]))[0]],
    }
    public = {**_fields("complaint", retailers["1"]), "time": live.now(), "department": "public"}
    targets["1"] += live.store.add_records([public], source="public channel")
    assert [t["department"] for t in targets["1"]] == ["monopoly", "marketing", "marketing", "public"]
    for name, (role, staff_id) in USERS.items():
        user = User(name, role, staff_id)
        for grid, target in ((g, t) for g, ts in targets.items() for t in ts):
            department, relation = target["department"], _relation(name, grid)
            fix = {**_fields(target["type"], target["retailer_id"]), "corrects": target["event_id"]}
            if relation in CORRECTS[department].get(role, set()):
                assert live.record(user, fix)[0]["department"] == department
            else:
                with pytest.raises(Forbidden):
                    live.record(user, fix)


@pytest.mark.slow
def test_a_customer_manager_cannot_erase_an_officers_violation(small_district, service_store) -> None:  # noqa: F811
    """The finding: a marketing user's 'visit' correcting another grid's violation -> 403 with a clear message.

    The officer's own correction is taken; the original then shows ``corrected_by`` in the API,
    and the month's assessment counts the correction instead of losing the violation.
    """
    from fastapi.testclient import TestClient

    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    with TestClient(app) as client:
        officer, cm, manager = (_login(client, name) for name in ("officer2", "cm1", "manager"))
        rid = _retailers(app.state.service.live)["2"]  # officer2's grid, not cm1's
        violation = client.post(
            "/api/events", headers=officer, json={"type": "violation", "retailer_id": rid, "severity": "criminal"}
        ).json()[0]
        url = f"/api/events/{violation['event_id']}/corrections"
        refused = client.post(url, headers=cm, json={"type": "visit", "retailer_id": rid})
        assert refused.status_code == 403
        assert "a marketing user may not correct a monopoly event" in refused.text
        month = TODAY[:7]
        before = _grid_row(client, manager, month, "2")
        assert before["corrections"] == 0
        fixed = client.post(url, headers=officer, json={"type": "violation", "retailer_id": rid, "severity": "minor"})
        assert fixed.status_code == 201, fixed.text
        listed = client.get(f"/api/events?retailer_id={rid}", headers=manager).json()
        assert {e["event_id"]: e["corrected_by"] for e in listed}[violation["event_id"]] == fixed.json()[0]["event_id"]
        after = _grid_row(client, manager, month, "2")
        assert after["violations_found"] == before["violations_found"]  # corrected, counted once, not erased
        assert after["corrections"] == 1
        other_shop = client.post(
            url, headers=officer, json={"type": "violation", "retailer_id": "x", "severity": "minor"}
        )
        assert other_shop.status_code in (400, 422) and "another retailer" in other_shop.text


def _login(client, name: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _grid_row(client, headers: dict, month: str, grid: str) -> dict:
    rows = client.get(f"/api/assessment?month={month}", headers=headers).json()
    return next(r for r in rows if str(r["grid_id"]) == grid)
