"""Mediation from the case (issue 24, item 4): a case opened from a complaint or a public report carries its retailer,
the link, the tracking code and the text; the mediator sees what the case needs and no more; the write rule refuses
cases from reports a mediator may not read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from markupsafe import escape
from service_fixtures import PASSWORD, service_store, small_district, template_store  # noqa: F401
from test_service_tasks_page import COMPLAINT, PUBLIC, TIP, desk, page_as  # noqa: F401

pytest.importorskip("fastapi")

from gridmgmt.permissions import case_refusal
from gridmgmt.store.service_schema import mediation_cases

pytestmark = pytest.mark.slow  # builds and serves a district per test: outside the quick loop


def _csrf(client) -> str:
    return client.get("/api/me").json()["csrf"]


def test_a_case_opened_from_a_public_report_carries_its_link_code_and_text(desk) -> None:  # noqa: F811
    """The Tasks page's button opens a form naming the shop (no licence number to type); the case is linked to the
    report and its page shows the tracking code, the text and the history, but no risk and no other task."""
    client, ids = desk
    tasks = page_as(client, "mediator", "/tasks?lang=en").text
    assert f'name="task" value="{ids["public"]}"' in tasks and f'name="task" value="{ids["complaint"]}"' in tasks
    form = client.get(f"/mediation?task={ids['public']}&lang=en").text
    assert 'name="retailer_id"' not in form and f'name="task_id" value="{ids["public"]}"' in form
    assert ids["code"] in form and str(escape(PUBLIC)) in form
    r = client.post(
        "/mediation",
        data={"csrf_token": _csrf(client), "task_id": ids["public"], "subject": "店主否认", "parties": "店主; 举报人"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    engine = client.app.state.service.engine
    with engine.connect() as conn:
        row = conn.execute(sa.select(mediation_cases).where(mediation_cases.c.case_id == case_id)).mappings().one()
    assert (row["task_id"], row["retailer_id"], row["opened_by"]) == (ids["public"], ids["rid"], "mediator")
    page = client.get(f"/mediation/{case_id}?lang=en").text
    shop = client.app.state.service.live.retailers().set_index("retailer_id").loc[ids["rid"]]
    assert ids["code"] in page and str(escape(PUBLIC)) in page and str(escape(shop["name"])) in page
    assert str(escape(shop["address"])) in page and "Not closed yet" in page
    assert "<img src=x" not in page
    for other in (TIP, COMPLAINT):
        assert str(escape(other)) not in page  # no other task of the shop
    assert "Risk" not in page and "score" not in page.lower()
    detail = client.get(f"/tasks/{ids['public']}").text
    assert f'href="/mediation/{case_id}"' in detail and "open-case" in detail  # its cases; another may open


def test_the_api_opens_a_case_from_a_complaint(desk) -> None:  # noqa: F811
    """POST /api/mediation/cases with a task_id: the case takes the complaint's retailer and link."""
    client, ids = desk
    page_as(client, "mediator", "/mediation")
    r = client.post(
        "/api/mediation/cases",
        json={"task_id": ids["complaint"], "subject": "调解"},
        headers={"X-CSRF-Token": _csrf(client)},
    )
    assert r.status_code == 201, r.text
    case = client.get(f"/mediation/{r.json()['case_id']}?lang=en").text
    assert str(escape(COMPLAINT)) in case and 'id="case-task"' in case


def test_no_case_from_a_report_a_mediator_may_not_read(desk) -> None:  # noqa: F811
    """A staff tip-off is no case source (400, nothing written); a manager may not open cases (403)."""
    client, ids = desk
    assert case_refusal("mediator", "tip_off", "marketing") is not None
    assert case_refusal("mediator", "tip_off", "public") is None
    assert case_refusal("manager", "complaint", "public") is not None
    page_as(client, "mediator", "/mediation")
    r = client.post("/mediation", data={"csrf_token": _csrf(client), "task_id": ids["tip"], "subject": "x"})
    assert r.status_code == 400
    assert client.get(f"/mediation?task={ids['tip']}").status_code == 400
    page_as(client, "manager", "/mediation")
    r = client.post("/mediation", data={"csrf_token": _csrf(client), "task_id": ids["complaint"], "subject": "x"})
    assert r.status_code == 403
    with client.app.state.service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(mediation_cases)).scalar() == 0


@pytest.fixture
def served_desk(desk):  # noqa: F811
    """The desk's app on uvicorn in a thread, on a free loopback port; yields (base URL, ids)."""
    import socket
    import threading
    import time

    uvicorn = pytest.importorskip("uvicorn")
    client, ids = desk
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    server.should_exit = True
    thread.join(10)


@pytest.mark.browser
def test_mediator_opens_a_case_from_a_complaint_in_chromium(served_desk, chromium) -> None:
    """In Chromium: the Tasks page shows the complaint's text; its button opens the prefilled form; submitting it
    lands on the case, which shows the complaint's text as typed and the shop's name, with no script run."""
    base, ids = served_desk
    context = chromium.browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(d.message), d.dismiss()))
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=username]", "mediator")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.card button[type=submit]")
    page.goto(f"{base}/tasks?lang=en")
    card = page.locator(f"li[data-task='{ids['complaint']}']")
    assert card.locator("p.text").inner_text() == COMPLAINT
    assert page.locator(f"li[data-task='{ids['tip']}']").count() == 0
    card.locator("button.open-case").click()
    page.wait_for_url("**/mediation?task=*")
    assert page.locator("input[name=retailer_id]").count() == 0
    assert page.locator("#case-source p.text").inner_text() == COMPLAINT
    page.fill("input[name=parties]", "店主")
    page.click("#new-case button[type=submit]")
    page.wait_for_url("**/mediation/*")
    assert page.locator("#case-text").inner_text() == COMPLAINT
    assert page.locator("#case-shop").inner_text().strip() != ""
    assert errors == []
    context.close()
