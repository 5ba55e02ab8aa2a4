"""The service in a real browser: Debian's Chromium (Playwright) against uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(small_district, service_store):  # noqa: F811
    """The app on uvicorn in a thread, on a free loopback port; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=1.0))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(chromium):
    """The session's headless Chromium (Debian's binary; never `playwright install`)."""
    return chromium.browser


def _login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_load_state("load")


def _stop_retailer(app, squad: str) -> str:
    run = app.state.service.live.latest_plan()
    stops = run.layers["stops"]
    return str(stops.loc[stops["squad_id"] == squad, "retailer_id"].iat[0])


def test_officer_records_a_violation_at_a_stop(server, browser) -> None:
    """Log in as an officer at phone width, open Today, record a violation: the task closes, the risk reason appears."""
    app, base = server
    rid = _stop_retailer(app, "G01")
    from gridmgmt.service.accounts import User

    live = app.state.service.live
    live.record(User("cm1", "marketing", "M01"), {"type": "marketing_report", "retailer_id": rid, "note": "odd packs"})
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _login(page, base, "officer1")
    assert page.url.endswith("/today")
    assert page.locator(f"#tasks tr[data-retailer='{rid}']").count() == 1
    assert page.locator(".leaflet-container").count() == 1  # the route map drew with the app's own Leaflet
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling on a phone
    stop = page.locator(f"#stop-{rid}")
    stop.locator("summary").click()
    stop.locator("select[name=violation_kind]").select_option("counterfeit")
    stop.locator("select[name=severity]").select_option("serious")
    stop.locator("button[value=violation]").click()
    page.wait_for_selector(f"#stop-{rid} .stop-state li.sent", state="attached")  # sent from the page (today.js)
    page.reload()
    assert page.locator(f"#tasks tr[data-retailer='{rid}']").count() == 0  # the task is closed
    assert "recent violations" in page.locator(f"#stop-{rid} .reasons").inner_text()
    assert all(u.startswith(base) for u in requests), [u for u in requests if not u.startswith(base)]
    context.close()


def test_customer_manager_is_refused_a_violation_and_another_grid(server, browser) -> None:
    """A customer manager sees no violation button; posting one anyway is 403; another grid's tasks stay hidden."""
    app, base = server
    other = _stop_retailer(app, "G02")
    from gridmgmt.service.accounts import User

    app.state.service.live.record(User("officer2", "monopoly", "Z02"), {"type": "tip_off", "retailer_id": other})
    page = browser.new_page()
    _login(page, base, "cm1")
    assert page.url.endswith("/today")
    assert page.locator("button[value=violation]").count() == 0
    assert page.locator(f"#tasks tr[data-retailer='{other}']").count() == 0
    own = _stop_retailer(app, "G01")
    status = page.evaluate(
        """async ([rid]) => {
            const csrf = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams(
                {csrf_token: csrf, retailer_id: rid, result: 'violation', severity: 'minor'});
            const r = await fetch('/today/outcome', {method: 'POST', body});
            return r.status;
        }""",
        [own],
    )
    assert status == 403
    page.close()


def test_logged_out_pages_redirect_to_login(server, browser) -> None:
    """Every staff page sends a logged-out browser to the login page."""
    _app, base = server
    page = browser.new_page()
    for path in ("/today", "/report", "/plan", "/grids", "/overview", "/assessment", "/mediation"):
        page.goto(base + path)
        assert "/login" in page.url, path
    page.close()


def test_public_tip_off_becomes_a_task_with_a_tracking_code(server, browser) -> None:
    """No login: find a shop, file a tip-off, get a code; the task is in the shop's grid; the code shows its status."""
    app, base = server
    live = app.state.service.live
    owners = live.owners()
    rid = str(owners.loc[owners["grid_id"] == "2", "retailer_id"].sort_values().iat[-1])
    name = str(live.retailers().set_index("retailer_id").at[rid, "name"])
    page = browser.new_page()
    page.goto(f"{base}/public?lang=en&q={rid}")
    page.select_option("#shop", rid)
    page.select_option("select[name=kind]", "tip_off")
    page.fill("textarea[name=text]", "sells cigarettes to school children")
    page.wait_for_timeout(1100)  # the anti-spam minimum time on the page
    page.click("#public-form button[type=submit]")
    code = page.locator("#tracking-code").inner_text()
    assert code.startswith("TS-")
    tasks = live.tasks()
    task = tasks.loc[(tasks["retailer_id"] == rid) & (tasks["type"] == "tip_off")]
    assert list(task["grid_id"]) == ["2"]
    page.goto(f"{base}/public/status?lang=en&code={code}")
    assert page.locator("#public-status").get_attribute("data-status") == "assigned"
    assert name not in page.content() and "school children" not in page.content()  # nothing but the status
    page.close()
