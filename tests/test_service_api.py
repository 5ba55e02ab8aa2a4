"""The service's JSON API: every endpoint for every role, 401/403 audited, corrections only, the public channel."""

from __future__ import annotations

import pandas as pd
import pytest
from service_fixtures import PASSWORD, TODAY, USERS, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.store import audit as audit_log

pytestmark = pytest.mark.slow  # builds and serves a district per test: outside the quick loop


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    with TestClient(app) as c:
        yield c


def login(client, name: str) -> dict[str, str]:
    """Bearer headers of a fresh session of ``name``."""
    r = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def grid_retailer(client, grid: str) -> str:
    """A retailer of ``grid`` today."""
    owners = client.app.state.service.live.owners()
    return str(owners.loc[owners["grid_id"] == grid, "retailer_id"].sort_values().iat[0])


# every API endpoint and the permission behind it (None: any logged-in user)
ENDPOINTS = [
    ("post", "/api/logout", None, None),
    ("get", "/api/me", None, None),
    ("get", "/api/today", "today:view", None),
    ("get", "/api/tasks", "tasks:list", None),
    ("get", "/api/retailers?q=a", "retailers:search", None),
    ("get", "/api/events", "tasks:view", None),
    ("post", "/api/events", None, {"type": "visit", "retailer_id": "x"}),
    ("post", "/api/events/E1/corrections", None, {"type": "visit", "retailer_id": "x"}),
    ("get", "/api/risk/x", "tasks:view", None),
    ("post", "/api/plans", "plan:generate", {"date": "not a date"}),  # 422: no plan job starts
    ("get", "/api/jobs/abc", None, None),
    ("get", "/api/plans", "plan:view", None),
    ("post", "/api/plans/R-1/publish", "plan:generate", None),
    ("get", "/api/plans/R-1/left-out", "plan:view", None),
    ("get", "/api/assessment", "assessment:view", None),
    ("get", "/api/audit", "audit:view", None),
    ("get", "/api/users", "users:view", None),
    ("get", "/api/mediation/cases", "mediation:view", None),
    ("post", "/api/mediation/cases", "mediation:edit", {"retailer_id": "x", "subject": "s"}),
    ("post", "/api/mediation/cases/1/notes", "mediation:edit", {"text": "n"}),
    ("post", "/api/mediation/cases/1/outcome", "mediation:edit", {"outcome": "o"}),
]


def test_openapi_lists_every_endpoint_and_no_edit_or_delete(client) -> None:
    """/openapi.json documents the API; no PUT, PATCH or DELETE exists anywhere (events are corrected, never edited)."""
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for _method, path, _perm, _body in ENDPOINTS:
        template = path.split("?")[0].replace("E1", "{event_id}").replace("R-1", "{run_id}").replace("abc", "{job_id}")
        template = template.replace("/risk/x", "/risk/{retailer_id}").replace("cases/1/", "cases/{case_id}/")
        assert template in paths, template
    verbs = {verb for item in paths.values() for verb in item}
    assert verbs <= {"get", "post"}
    assert client.delete("/api/events/E1").status_code in (404, 405)
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(("method", "path", "permission", "body"), ENDPOINTS)
def test_unauthenticated_calls_get_401_and_are_audited(client, method, path, permission, body) -> None:
    """Without a session every staff endpoint answers 401, and the audit table says who (nobody), what and when."""
    r = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == 401
    rows = audit_log.read(client.app.state.service.engine, outcome="unauthenticated")
    assert rows["action"].iloc[0] == f"{method.upper()} {path.split('?')[0]}"
    assert rows["username"].iloc[0] == ""


def test_every_role_gets_exactly_its_endpoints(client) -> None:
    """Each role gets 403 (audited with its name) exactly where its permission is missing."""
    from gridmgmt.permissions import allowed

    engine = client.app.state.service.engine
    for name, (role, _staff) in USERS.items():
        headers = login(client, name)
        for method, path, permission, body in ENDPOINTS:
            if path == "/api/logout":
                continue
            r = getattr(client, method)(path, headers=headers, **({"json": body} if body is not None else {}))
            if permission is not None and not allowed(role, permission):
                assert r.status_code == 403, (name, path, r.text)
                last = audit_log.read(engine, limit=1)
                assert (last["username"].iat[0], last["outcome"].iat[0]) == (name, "forbidden")
            else:
                # records and risk are also scoped to the pair's grid: 403 there is the grid check
                scoped = path.startswith(("/api/events", "/api/risk"))
                assert r.status_code not in (401, 403) or scoped, (name, path, r.text)
                assert r.status_code < 500, (name, path, r.text)


def test_officer_records_violation_closing_the_task_and_raising_the_risk(client) -> None:
    """A tip-off from the customer manager opens a task the officer sees at once; the officer's violation closes it."""
    cm, officer = login(client, "cm1"), login(client, "officer1")
    rid = grid_retailer(client, "1")
    before = client.get(f"/api/risk/{rid}", headers=officer).json()
    r = client.post("/api/events", headers=cm, json={"type": "tip_off", "retailer_id": rid, "note": "fake cigarettes"})
    assert r.status_code == 201
    task_id = r.json()[0]["event_id"]
    tasks = client.get("/api/today", headers=officer).json()["tasks"]
    assert task_id in {t["task_id"] for t in tasks}
    r = client.post(
        "/api/events",
        headers=officer,
        json={
            "type": "inspection",
            "retailer_id": rid,
            "outcome": "violation",
            "severity": "serious",
            "violation_kind": "counterfeit",
        },
    )
    assert r.status_code == 201
    added = r.json()
    assert [e["type"] for e in added] == ["inspection", "violation"]
    assert added[1]["severity"] == "serious" and added[1]["violation_kind"] == "counterfeit"
    all_tasks = client.get("/api/tasks?status=all", headers=officer).json()
    assert {t["task_id"]: t["status"] for t in all_tasks}[task_id] == "closed"
    after = client.get(f"/api/risk/{rid}", headers=officer).json()
    assert after["score"] > before["score"]
    log = client.app.state.service.live.events()
    mine = log.loc[log["event_id"].isin([e["event_id"] for e in added])]
    assert len(mine) == 2


def test_customer_manager_cannot_record_a_violation_nor_see_another_grid(client) -> None:
    """403 for a violation by a customer manager, for another grid's retailer; their tasks are their grid's only."""
    cm = login(client, "cm1")
    own, other = grid_retailer(client, "1"), grid_retailer(client, "2")
    body = {"type": "inspection", "retailer_id": own, "outcome": "violation", "severity": "minor"}
    assert client.post("/api/events", headers=cm, json=body).status_code == 403
    assert client.post("/api/events", headers=cm, json={"type": "visit", "retailer_id": other}).status_code == 403
    assert client.get(f"/api/risk/{other}", headers=cm).status_code == 403
    assert client.post("/api/events", headers=cm, json={"type": "visit", "retailer_id": own}).status_code == 201
    officer2 = login(client, "officer2")
    client.post("/api/events", headers=officer2, json={"type": "tip_off", "retailer_id": other, "note": "x"})
    grids = {t["grid_id"] for t in client.get("/api/tasks", headers=cm).json()}
    assert grids <= {"1"}
    assert client.get(f"/api/events?retailer_id={other}", headers=cm).json() == []
    refused = audit_log.read(client.app.state.service.engine, outcome="forbidden")
    assert (refused["username"] == "cm1").sum() == 3


def test_corrections_add_an_event_naming_the_corrected_one(client) -> None:
    """A correction is a new event with ``corrects`` and who recorded it; the original stays in the log."""
    officer = login(client, "officer1")
    rid = grid_retailer(client, "1")
    first = client.post(
        "/api/events", headers=officer, json={"type": "violation", "retailer_id": rid, "severity": "criminal"}
    ).json()[0]
    fixed = client.post(
        f"/api/events/{first['event_id']}/corrections",
        headers=officer,
        json={"type": "violation", "retailer_id": rid, "severity": "minor"},
    )
    assert fixed.status_code == 201
    assert fixed.json()[0]["corrects"] == first["event_id"]
    assert (
        client.post(
            "/api/events/nope/corrections", headers=officer, json={"type": "visit", "retailer_id": rid}
        ).status_code
        == 404
    )
    store = client.app.state.service.live.store
    log = store.events_between()
    assert first["event_id"] in set(log["event_id"])
    import sqlalchemy as sa

    from gridmgmt.store.schema import events

    with store.engine.connect() as conn:
        who = conn.execute(sa.select(events.c.recorded_by).where(events.c.corrects == first["event_id"])).scalar()
    assert who == "officer1"


def test_cookie_writes_need_the_csrf_token(client) -> None:
    """A browser session (cookie) must send its CSRF token with a write; without it the write is refused (403)."""
    r = client.post("/login", data={"username": "cm1", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie
    rid = grid_retailer(client, "1")
    assert client.post("/api/events", json={"type": "visit", "retailer_id": rid}).status_code == 403
    csrf = client.get("/api/me").json()["csrf"]
    r = client.post("/api/events", json={"type": "visit", "retailer_id": rid}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


def test_login_is_rate_limited_and_disabled_users_lose_their_sessions(client) -> None:
    """Ten wrong passwords, then 429 even with the right one; disabling a user ends their session."""
    from gridmgmt.service.accounts import disable_user

    for _ in range(10):
        assert client.post("/api/login", json={"username": "planner", "password": "wrong password"}).status_code == 401
    assert client.post("/api/login", json={"username": "planner", "password": PASSWORD}).status_code == 429
    engine = client.app.state.service.engine
    assert (audit_log.read(engine, outcome="failed_login")["username"] == "planner").sum() == 10
    headers = login(client, "manager")
    assert client.get("/api/me", headers=headers).status_code == 200
    disable_user(engine, "manager")
    assert client.get("/api/me", headers=headers).status_code == 401
    assert client.post("/api/login", json={"username": "manager", "password": PASSWORD}).status_code == 401


def test_public_report_opens_the_task_and_shows_only_its_status(client) -> None:
    """A public tip-off (no login) gets a tracking code, opens the right grid's task; its status follows the task."""
    rid = grid_retailer(client, "2")
    token = client.get("/api/public/form-token").json()["form_token"]
    body = {"kind": "tip_off", "text": "sells to minors", "retailer_id": rid, "contact": "138 0000 0000"}
    assert client.post("/api/public/reports", json={**body, "form_token": token, "website": "x"}).status_code == 400
    assert client.post("/api/public/reports", json={**body, "form_token": token + "0"}).status_code == 400
    assert client.post("/api/public/reports", json={**body, "form_token": "1.签名"}).status_code == 400  # was a 500
    r = client.post("/api/public/reports", json={**body, "form_token": token})
    assert r.status_code == 201
    code = r.json()["tracking_code"]
    status = client.get(f"/api/public/reports/{code}").json()
    assert status == {"tracking_code": code, "kind": "tip_off", "filed": TODAY, "status": "assigned"}
    officer2 = login(client, "officer2")
    tasks = client.get("/api/today", headers=officer2).json()["tasks"]
    assert [t for t in tasks if t["retailer_id"] == rid and t["type"] == "tip_off"]
    client.post("/api/events", headers=officer2, json={"type": "inspection", "retailer_id": rid, "outcome": "ok"})
    assert client.get(f"/api/public/reports/{code}").json()["status"] == "handled"
    assert client.get("/api/public/reports/TS-NONE-XXXX").status_code == 404
    found = client.get("/api/public/retailers", params={"q": rid[:8]}).json()
    assert found and set(found[0]) == {"retailer_id", "name", "address"}


def test_public_channel_rate_limit_and_minimum_time(small_district, service_store) -> None:  # noqa: F811
    """Per address: five reports an hour, then 429; a form sent faster than the minimum time is refused."""
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    client = TestClient(app)
    rid = grid_retailer(client, "3")
    for n in range(6):
        token = client.get("/api/public/form-token").json()["form_token"]
        r = client.post(
            "/api/public/reports", json={"kind": "complaint", "text": f"n{n}", "retailer_id": rid, "form_token": token}
        )
        assert r.status_code == (201 if n < 5 else 429)
    slow = TestClient(create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=60)))
    token = slow.get("/api/public/form-token").json()["form_token"]
    r = slow.post(
        "/api/public/reports", json={"kind": "complaint", "text": "x", "retailer_id": rid, "form_token": token}
    )
    assert r.status_code == 400


def test_public_report_by_map_point(client) -> None:
    """A point within 300 m of a shop names that shop; a point far from every shop is refused."""
    live = client.app.state.service.live
    shop = live.retailers().iloc[0]
    token = client.get("/api/public/form-token").json()["form_token"]
    body = {"kind": "complaint", "text": "t", "lon": float(shop["lon"]) + 0.0001, "lat": float(shop["lat"])}
    assert client.post("/api/public/reports", json={**body, "form_token": token}).status_code == 201
    far = {**body, "lon": 0.0, "lat": 0.0, "form_token": token}
    assert client.post("/api/public/reports", json=far).status_code == 400


def test_mediation_case_with_dated_notes_visible_to_managers(client) -> None:
    """A mediator opens a case, adds a note and closes it; a manager reads it; an officer may not."""
    mediator, manager = login(client, "mediator"), login(client, "manager")
    rid = grid_retailer(client, "1")
    r = client.post(
        "/api/mediation/cases",
        headers=mediator,
        json={"retailer_id": rid, "subject": "fine disputed", "parties": "shop owner; bureau"},
    )
    case_id = r.json()["case_id"]
    assert (
        client.post(f"/api/mediation/cases/{case_id}/notes", headers=mediator, json={"text": "met both"}).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/mediation/cases/{case_id}/outcome", headers=mediator, json={"outcome": "fine reduced"}
        ).status_code
        == 200
    )
    cases = client.get("/api/mediation/cases", headers=manager).json()
    assert cases[0]["outcome"] == "fine reduced" and cases[0]["mediator"] == "mediator"
    assert client.post(f"/api/mediation/cases/{case_id}/notes", headers=manager, json={"text": "x"}).status_code == 403
    assert client.get("/api/mediation/cases", headers=login(client, "officer1")).status_code == 403


def test_monthly_assessment_per_pair_and_person(client) -> None:
    """The manager's 考核 table: one row per grid (and two per pair's people), as JSON and CSV."""
    manager = login(client, "manager")
    pairs = client.get("/api/assessment?month=2026-11", headers=manager).json()
    assert len(pairs) == 12
    assert {"inspection_coverage", "tasks_on_time", "tip_off_response_days", "violations_found"} <= set(pairs[0])
    people = client.get("/api/assessment?month=2026-11&by=person", headers=manager).json()
    assert len(people) == 24 and {p["department"] for p in people} == {"marketing", "monopoly"}
    csv = client.get("/api/assessment?month=2026-11&by=person&format=csv", headers=manager)
    assert csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(__import__("io").StringIO(csv.content.decode("utf-8-sig")))
    assert len(table) == 24


def test_plans_publish_only_drafts(client) -> None:
    """The squad leader sees stored plans; publishing a run that is not a draft is refused (400)."""
    leader = login(client, "leader")
    runs = client.get("/api/plans", headers=leader).json()
    published = [r for r in runs if r["kind"] == "plan"]
    assert published and published[0]["date"] == TODAY
    assert client.post(f"/api/plans/{published[0]['run_id']}/publish", headers=leader).status_code == 400
