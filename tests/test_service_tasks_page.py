"""The Tasks page (issue 24, item 3a): leaders and managers read every task's text, mediators complaints and public
reports only, officers are refused; every text is escaped; filters narrow; one read rule for page and API."""

from __future__ import annotations

import pytest
from markupsafe import escape
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.permissions import (
    ALL_TASK_KINDS,
    MEDIATION_KINDS,
    OTHER,
    OWN,
    PERMISSIONS,
    TASK_READ,
    allowed,
    may_read_task,
)
from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.service.accounts import User
from gridmgmt.vocab import ROLES

pytestmark = pytest.mark.slow  # builds and serves a district per test: outside the quick loop

TIP = "<script>alert('tip')</script>暗中销售假烟"  # a customer manager's tip-off: staff only
COMPLAINT = "店主态度恶劣 <b>bold</b> & 拒开发票"  # a customer manager's complaint
PUBLIC = "公众举报: <img src=x onerror=alert(1)> 向学生售烟"  # a tip-off from the public channel


@pytest.fixture
def desk(small_district, service_store):  # noqa: F811
    """The service with three fresh tasks in grid 1: a staff tip-off, a staff complaint, a public tip-off.

    Yields (client, ids): ids maps "tip", "complaint", "public" to task ids and "code" to the public report's
    tracking code.
    """
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    live = app.state.service.live
    owners = live.owners()
    rid = str(owners.loc[owners["grid_id"] == "1", "retailer_id"].sort_values().iat[1])
    cm = User("cm1", "marketing", "M01")
    ids = {
        "rid": rid,
        "tip": live.record(cm, {"type": "tip_off", "retailer_id": rid, "note": TIP})[0]["event_id"],
        "complaint": live.record(cm, {"type": "complaint", "retailer_id": rid, "note": COMPLAINT})[0]["event_id"],
    }
    with TestClient(app) as client:
        token = client.get("/api/public/form-token").json()["form_token"]
        r = client.post(
            "/api/public/reports",
            json={"kind": "tip_off", "text": PUBLIC, "retailer_id": rid, "form_token": token},
        )
        assert r.status_code == 201, r.text
        ids["code"] = r.json()["tracking_code"]
        from gridmgmt.service.public import find_report

        ids["public"] = find_report(live.store.engine, ids["code"])["event_id"]
        yield client, ids


def page_as(client, user: str, path: str):
    client.cookies.clear()
    r = client.post("/login", data={"username": user, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    return client.get(path)


def test_the_read_rules_walk_every_role_kind_and_grid() -> None:
    """Pairs read every kind in their own grids only; leaders, planners, managers everything; mediators only
    complaints and the public's reports; the Tasks page is for leaders, managers and mediators."""
    for role in ROLES:
        for kind in ALL_TASK_KINDS:
            for relation in (OWN, OTHER):
                reads = may_read_task(role, *kind, relation)
                if role in ("marketing", "monopoly"):
                    assert reads == (relation == OWN), (role, kind, relation)
                elif role == "mediator":
                    assert reads == (kind in MEDIATION_KINDS), (role, kind)
                    assert kind[0] == "complaint" or kind[1] == "public" or not reads
                else:
                    assert reads, (role, kind)
    assert ("tip_off", "monopoly") not in MEDIATION_KINDS and ("complaint", "marketing") in MEDIATION_KINDS
    assert {r for r in ROLES if allowed(r, "tasks:desk") and r != "admin"} == {"squad_leader", "manager", "mediator"}
    assert PERMISSIONS["tasks:list"] == frozenset(TASK_READ) - {"admin"}


def test_leader_and_manager_read_every_task_with_its_text_escaped(desk) -> None:
    """Both see the three texts as text (escaped, never markup), the tracking code, the pair and the history."""
    client, ids = desk
    for user in ("leader", "manager"):
        r = page_as(client, user, "/tasks?lang=en")
        assert r.status_code == 200, r.text[:300]
        for text in (TIP, COMPLAINT, PUBLIC):
            assert str(escape(text)) in r.text, (user, text)
        assert "<script>alert('tip')" not in r.text and "<img src=x" not in r.text
        assert ids["code"] in r.text
        assert 'href="/tasks"' in r.text  # in the navigation
        card = r.text.split(f'data-task="{ids["complaint"]}"')[1].split("</li>\n</ol>")[0].split('class="card task')[0]
        assert "Z01" in card and "M01" in card  # the pair of grid 1, by staff id and name
        assert "Not closed yet" in card and "Opened 2026-12-01" in card


def test_mediator_reads_complaints_and_public_reports_only(desk) -> None:
    """The mediator sees the complaint and the public tip-off (page and API), never the staff tip-off; no 403."""
    client, ids = desk
    r = page_as(client, "mediator", "/tasks?lang=zh")
    assert r.status_code == 200
    assert str(escape(COMPLAINT)) in r.text and str(escape(PUBLIC)) in r.text
    assert "暗中销售假烟" not in r.text and ids["tip"] not in r.text
    assert page_as(client, "mediator", f"/tasks/{ids['tip']}").status_code == 404
    detail = client.get(f"/tasks/{ids['public']}?lang=en")
    assert detail.status_code == 200 and ids["code"] in detail.text
    api = client.get("/api/tasks?status=all")
    assert api.status_code == 200
    rows = api.json()
    assert {ids["complaint"], ids["public"]} <= {t["task_id"] for t in rows}
    assert ids["tip"] not in {t["task_id"] for t in rows}
    events = client.app.state.service.live.events().set_index("event_id")["department"]
    assert all((t["type"], events[t["task_id"]]) in MEDIATION_KINDS for t in rows)


def test_officers_and_planners_are_refused_the_page(desk) -> None:
    """An officer gets 403 on the Tasks page (and no link to it), but keeps their grid's tasks in the API."""
    client, ids = desk
    for user in ("officer1", "planner"):
        r = page_as(client, user, "/tasks")
        assert r.status_code == 403, user
        assert 'href="/tasks"' not in client.get("/report").text
    client.cookies.clear()
    page_as(client, "officer2", "/report")
    assert ids["tip"] not in {t["task_id"] for t in client.get("/api/tasks?status=all").json()}  # grid 2's officer
    page_as(client, "officer1", "/report")
    assert ids["tip"] in {t["task_id"] for t in client.get("/api/tasks?status=all").json()}


def test_filters_narrow_by_status_type_grid_and_code(desk) -> None:
    """Type, grid, status and a tracking-code search each narrow the list; unknown values are ignored."""
    client, ids = desk
    page_as(client, "leader", "/tasks")
    complaints = client.get("/tasks?type=complaint&grid=1&status=open").text
    assert ids["complaint"] in complaints and ids["tip"] not in complaints and ids["public"] not in complaints
    by_code = client.get(f"/tasks?q={ids['code'].lower()}").text
    assert by_code.count('class="card task') == 1 and ids["public"] in by_code
    closed = client.get("/tasks?status=closed").text
    assert ids["complaint"] not in closed
    other_grid = client.get("/tasks?grid=2").text
    assert ids["complaint"] not in other_grid
    assert client.get("/tasks?status=<x>&type=nope").status_code == 200
