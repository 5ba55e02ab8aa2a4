"""Today offline first, in Chromium at phone width: 5 outcomes recorded without signal, the page reopened, sent once."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Server:
    """The app on uvicorn in a thread on one loopback port, stopped and started again like lost signal."""

    def __init__(self, app) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.app, self.base = app, f"http://127.0.0.1:{self.port}"
        self._server = self._thread = None

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self._server.started, "uvicorn did not start"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture
def server(small_district, service_store):  # noqa: F811
    pytest.importorskip("uvicorn")
    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY))
    running = Server(app)
    running.start()
    yield running
    running.stop()


def test_five_outcomes_recorded_offline_reach_the_store_once(server, chromium) -> None:
    """Offline (no server, no network): 5 taps show done at once, the page reopens from the phone's cache,
    and back online the 5 events are stored exactly once each."""
    live = server.app.state.service.live
    stops = live.latest_plan().layers["stops"]
    rids = [str(r) for r in stops.loc[stops["squad_id"] == "G01", "retailer_id"]]
    assert len(rids) == 5
    context = chromium.browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server.base}/login?lang=en")
    page.fill("input[name=username]", "officer1")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.card button[type=submit]")
    page.wait_for_selector("#outbox[data-offline-ready='1']", state="attached", timeout=20_000)
    before = live.store.count_events()

    server.stop()  # no signal: neither the page nor its service worker reaches the server
    context.set_offline(True)
    for k, rid in enumerate(rids):
        button = page.locator(f"#stop-{rid} button[value={'closed' if k == 4 else 'ok'}]")
        button.scroll_into_view_if_needed()
        scrolled = page.evaluate("window.scrollY")
        button.click()
        assert "done" in page.locator(f"#stop-{rid}").get_attribute("class")  # at once: no reload, no answer awaited
        assert page.evaluate("window.scrollY") == scrolled  # the page stayed where the officer was
    assert scrolled > 0
    page.wait_for_selector("#outbox[data-waiting='5']", state="attached")
    assert "5 waiting to send" in page.locator("#outbox").inner_text()
    taps_ms = page.evaluate("window.gmToday.tapMs")
    assert len(taps_ms) == 5

    page.reload()  # offline: the service worker opens the page from the phone's cache
    assert page.locator(".stop").count() == 5
    page.wait_for_selector("#outbox[data-waiting='5']", state="attached")
    assert page.locator(".stop.done").count() == 5  # the queued outcomes still show on their stops
    assert live.store.count_events() == before  # nothing reached the store yet

    server.start()
    context.set_offline(False)
    page.wait_for_selector("#outbox[data-waiting='0']", state="attached", timeout=30_000)
    ids = page.evaluate("document.querySelectorAll('.stop-state li.sent').length")
    assert ids == 5
    events = live.events()
    sent = events.loc[events["event_id"].str.startswith("P-")]
    assert len(sent) == 5 and sent["event_id"].is_unique  # exactly once each
    assert sorted(sent["retailer_id"]) == sorted(rids)
    assert set(sent.loc[sent["type"] == "visit", "x_result"]) == {"closed"}
    assert live.store.count_events() == before + 5
    page.reload()  # online again: the server's page shows the stops recorded today, each once
    page.wait_for_selector("#outbox[data-waiting='0']", state="attached")  # the phone's records are shown too
    assert page.locator(".stop.done").count() == 5
    assert page.locator(".stop-state li").count() == 5  # the server's and the phone's record of a stop are one

    # a queued outcome the server refuses stays on its stop with the reason, across reloads, until dismissed
    page.evaluate(_QUEUE_ONE, [rids[0], TODAY])
    refused = page.locator(f"#stop-{rids[0]} .stop-state li.refused")
    refused.wait_for(state="attached")
    assert "a violation needs a severity" in refused.inner_text()
    page.reload()
    refused.wait_for(state="attached")
    refused.locator("button.dismiss").click()
    refused.wait_for(state="detached")
    assert live.store.count_events() == before + 5
    context.close()


# an outcome queued as the page would, but one the server refuses (a violation without its severity)
_QUEUE_ONE = """async ([rid, day]) => {
    const db = await new Promise((ok) => {
        const q = indexedDB.open('gridmgmt-today', 1);
        q.onsuccess = () => ok(q.result);
    });
    const id = 'P-0190f5d2-0000-7000-8000-000000000001';
    const body = {event_id: id, retailer_id: rid, type: 'inspection', outcome: 'violation', severity: '', note: ''};
    await new Promise((ok) => {
        const tx = db.transaction('outbox', 'readwrite');
        tx.objectStore('outbox').put({id, user: 'officer1', day, retailer_id: rid, label: 'Violation', state: 'waiting',
            reason: '', tapped_at: day + 'T10:00:00', before: false, body});
        tx.oncomplete = ok;
    });
    window.dispatchEvent(new Event('online'));
}"""


def test_without_javascript_the_form_still_records(server, chromium) -> None:
    """Progressive enhancement: with JavaScript off the outcome form posts, the page reloads and shows the stop done."""
    live = server.app.state.service.live
    stops = live.latest_plan().layers["stops"]
    rid = str(stops.loc[stops["squad_id"] == "G01", "retailer_id"].iat[0])
    context = chromium.browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.base}/login?lang=en")
    page.fill("input[name=username]", "officer1")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.card button[type=submit]")
    before = live.store.count_events()
    page.locator(f"#stop-{rid} button[value=ok]").click()
    page.wait_for_load_state("load")
    assert f"done={rid}" in page.url
    assert live.store.count_events() == before + 1
    assert "Inspection ok" in page.locator(f"#stop-{rid} .stop-state").inner_text()  # the server marks it done
    context.close()
