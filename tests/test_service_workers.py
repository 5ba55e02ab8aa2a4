"""More than one worker over one store (issue 24 item 6): two app instances, each with its own engine as two
`serve --workers 2` processes have, share sessions, the login back-off, the public-report limit and its form
tokens, and background jobs; a job whose process died is reported failed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

from gridmgmt.service import jobs as jobs_module
from gridmgmt.service.security import LoginGuard, RateLimiter
from gridmgmt.store import open_store
from gridmgmt.store.service_state import StoreTally

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app

TESTS = Path(__file__).resolve().parent
OPTIONS = ServiceOptions(today=TODAY, min_form_s=0.0, login_attempts=3, public_reports=2)


@pytest.fixture
def two_apps(small_district, service_store):  # noqa: F811
    """Two apps over the same SQLite file, each with its own store handle (engine and pool)."""
    other = open_store(service_store.label)
    yield create_app(small_district, service_store, options=OPTIONS), create_app(small_district, other, options=OPTIONS)
    other.close()


def _client(app, address: str = "198.51.100.2") -> TestClient:
    return TestClient(app, client=(address, 50000))


def _login(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_session_started_by_one_worker_is_known_to_the_other(two_apps) -> None:
    a, b = (_client(app) for app in two_apps)
    headers = _login(a, "planner")
    assert b.get("/api/me", headers=headers).json()["username"] == "planner"
    assert b.post("/api/logout", headers=headers).status_code == 200
    assert a.get("/api/me", headers=headers).status_code == 401


def test_the_login_backoff_counted_by_one_worker_holds_in_the_other(two_apps) -> None:
    attacker_a, attacker_b = (_client(app, "203.0.113.7") for app in two_apps)
    for _ in range(OPTIONS.login_attempts):
        assert attacker_a.post("/api/login", json={"username": "planner", "password": "wrong"}).status_code == 401
    refused = attacker_b.post("/api/login", json={"username": "planner", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    _login(_client(two_apps[1], "198.51.100.9"), "planner")  # the real user elsewhere: never held up


def test_public_form_tokens_and_the_report_limit_are_shared(two_apps) -> None:
    a, b = (_client(app, "203.0.113.8") for app in two_apps)
    retailer = str(two_apps[0].state.service.live.retailers()["retailer_id"].iat[0])
    body = {"kind": "tip_off", "text": "sells to minors", "retailer_id": retailer}
    codes = []
    for served_by, sent_to in ((a, b), (b, a), (a, b)):  # a token served by one worker, sent to the other
        token = served_by.get("/api/public/form-token").json()["form_token"]
        codes.append(sent_to.post("/api/public/reports", json={**body, "form_token": token}).status_code)
    assert codes == [201] * OPTIONS.public_reports + [429]


def test_any_worker_answers_for_a_job_the_other_runs(two_apps) -> None:
    """A job started in worker A: B shows its progress, then its result; only its owner or a manager sees it."""
    a, b = (_client(app) for app in two_apps)
    leader, officer = _login(a, "leader"), _login(a, "officer1")
    release = threading.Event()

    def work(progress) -> str:
        progress("reading the event log")
        assert release.wait(30)
        return "run-123"

    job = two_apps[0].state.service.jobs.submit("leader", f"plan {TODAY}", work)
    seen = _poll(b, leader, job.job_id, lambda j: j["progress"] == ["reading the event log"])
    assert seen["state"] == "running" and seen["title"] == f"plan {TODAY}"
    assert b.get(f"/api/jobs/{job.job_id}", headers=officer).status_code == 404
    release.set()
    done = _poll(b, leader, job.job_id, lambda j: j["state"] == "done")
    assert done["result"] == "run-123" and done["error"] == ""
    two_apps[0].state.service.jobs.shutdown()


def _poll(client: TestClient, headers: dict[str, str], job_id: str, until) -> dict:
    deadline = time.monotonic() + 60
    while True:
        r = client.get(f"/api/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        if until(r.json()):
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.05)


_DYING_WORKER = """
import sys, threading, time
from gridmgmt.service.jobs import Jobs
from gridmgmt.store import open_store
jobs = Jobs(open_store(sys.argv[1]).engine, heartbeat_s=0.1)
job = jobs.submit("leader", "plan", lambda progress: threading.Event().wait())
while jobs.get(job.job_id).state != "running":
    time.sleep(0.05)
print(job.job_id, flush=True)
time.sleep(600)
"""


def test_a_job_whose_process_died_is_reported_failed(service_store) -> None:  # noqa: F811
    with subprocess.Popen(
        [sys.executable, "-c", _DYING_WORKER, service_store.label], stdout=subprocess.PIPE, text=True
    ) as worker:
        try:
            job_id = worker.stdout.readline().strip()
        finally:
            worker.kill()
    assert job_id
    engine = service_store.engine
    assert jobs_module.Jobs(engine).get(job_id).state == "running"  # heartbeat within the bound
    orphan = jobs_module.Jobs(engine, orphan_s=0.0).get(job_id)  # past the bound: failed, not hanging
    assert (orphan.state, orphan.error) == ("failed", jobs_module.ORPHANED)
    assert jobs_module.Jobs(engine).get(job_id).state == "failed"  # and so recorded


def test_store_tally_keeps_the_backoff_rules_on_both_backends(store_url: str) -> None:
    """The login back-off's rules, counted in the store through two handles (two processes' engines)."""
    with open_store(store_url, create=True) as one, open_store(store_url) as two:
        first = LoginGuard(free_failures=3, max_wait_s=60.0, address_failures=1000, tally=StoreTally(one.engine))
        second = LoginGuard(free_failures=3, max_wait_s=60.0, address_failures=1000, tally=StoreTally(two.engine))
        for _ in range(3):
            assert second.wait_s("planner", "10.0.0.9", now=100.0) == 0
            first.failed("planner", "10.0.0.9", now=100.0)
        assert second.wait_s("planner", "10.0.0.9", now=100.0) == 1.0
        assert second.wait_s("planner", "10.0.0.1", now=100.0) == 0
        first.failed("planner", "10.0.0.9", now=101.0)
        second.failed("planner", "10.0.0.9", now=103.0)
        assert first.wait_s("planner", "10.0.0.9", now=103.0) == 4.0
        assert first.wait_s("planner", "10.0.0.9", now=103.0 + 3600.0) == 0  # forgotten after an hour
        second.succeeded("planner", "10.0.0.9")
        assert first.wait_s("planner", "10.0.0.9", now=103.0) == 0
        limits = [RateLimiter(2, 60.0, tally=StoreTally(s.engine), name="public") for s in (one, two)]
        assert [limits[n % 2].hit("ip:1", now=10.0 + n) for n in range(3)] == [True, True, False]
        assert limits[1].hit("ip:1", now=71.0) and not limits[0].blocked("ip:2", now=71.0)


@pytest.mark.slow
def test_serve_with_two_workers_answers_over_one_store(small_district, service_store) -> None:  # noqa: F811
    """The real command: `serve --workers 2` starts two worker processes; a session works on fresh connections."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    toml = str(small_district.settings.root / "district.toml")
    command = [sys.executable, "-m", "gridmgmt", "serve", "--district", toml, "--store", service_store.label,
               "--today", TODAY, "--port", str(port), "--workers", "2"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as server:
        try:
            started = 0
            for line in server.stderr:  # uvicorn says so once per started worker
                started += "Application startup complete" in line
                if started == 2:
                    break
            assert started == 2
            base = f"http://127.0.0.1:{port}"
            r = httpx.post(f"{base}/api/login", json={"username": "planner", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            assert {httpx.get(f"{base}/api/me", headers=headers).json()["username"] for _ in range(6)} == {"planner"}
        finally:
            server.terminate()
