"""Login and audit that cannot be turned against users (issue 22, item 7).

Wrong passwords slow down one user name from one address, never lock the real user out from
another; a flood of unauthenticated requests writes a few aggregated audit rows, not one each.
"""

from __future__ import annotations

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

from gridmgmt.service.security import AuditThrottle, LoginGuard


def test_backoff_doubles_per_pair_and_spares_other_addresses() -> None:
    guard = LoginGuard(free_failures=3, max_wait_s=60.0, address_failures=1000)
    for _ in range(3):
        assert guard.wait_s("planner", "10.0.0.9", now=100.0) == 0
        guard.failed("planner", "10.0.0.9", now=100.0)
    assert guard.wait_s("planner", "10.0.0.9", now=100.0) == 1.0  # 2**0 after the free tries
    assert guard.wait_s("planner", "10.0.0.1", now=100.0) == 0  # the real user elsewhere: never held up
    assert guard.wait_s("manager", "10.0.0.9", now=100.0) == 0  # another account from the same address
    guard.failed("planner", "10.0.0.9", now=101.0)
    guard.failed("planner", "10.0.0.9", now=103.0)
    assert guard.wait_s("planner", "10.0.0.9", now=103.0) == 4.0
    for t in range(104, 120):
        guard.failed("planner", "10.0.0.9", now=float(t))
    assert guard.wait_s("planner", "10.0.0.9", now=119.0) == 60.0  # capped
    guard.succeeded("planner", "10.0.0.9")
    assert guard.wait_s("planner", "10.0.0.9", now=119.0) == 0


def test_an_address_spraying_many_accounts_waits() -> None:
    guard = LoginGuard(free_failures=10, address_failures=5, window_s=300.0)
    for n in range(5):
        guard.failed(f"user{n}", "10.0.0.9")
    assert guard.wait_s("user99", "10.0.0.9") == 300.0
    assert guard.wait_s("user99", "10.0.0.1") == 0


def test_audit_throttle_writes_once_per_window_and_counts_the_rest() -> None:
    throttle = AuditThrottle(window_s=60.0, limit=3)
    assert throttle.admit("unauthenticated 1.2.3.4", now=0.0) == 0
    assert [throttle.admit("unauthenticated 1.2.3.4", now=t / 10) for t in range(199)] == [None] * 199
    assert throttle.admit("unauthenticated 1.2.3.4", now=61.0) == 199  # the next row says how many were left out
    assert throttle.admit("unauthenticated 5.6.7.8", now=61.0) == 0
    assert throttle.admit("unauthenticated 9.9.9.9", now=61.0) == 0
    assert throttle.admit("unauthenticated 7.7.7.7", now=61.0) is None  # over the global limit


# ---------------------------------------------------------------------------- through the service


@pytest.fixture
def app(small_district, service_store):  # noqa: F811
    pytest.importorskip("fastapi")
    from gridmgmt.service import ServiceOptions, create_app

    return create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))


def _client(app, address: str):
    from fastapi.testclient import TestClient

    return TestClient(app, client=(address, 50000))


@pytest.mark.slow
def test_wrong_passwords_from_one_address_do_not_lock_the_user_out(app) -> None:
    """Twelve wrong passwords from an attacker's address: 429 with Retry-After there; the user logs in elsewhere."""
    attacker, user = _client(app, "203.0.113.7"), _client(app, "198.51.100.2")
    codes = [attacker.post("/api/login", json={"username": "planner", "password": "wrong"}).status_code
             for _ in range(12)]  # fmt: skip
    assert codes[:10] == [401] * 10 and 429 in codes[10:]
    refused = attacker.post("/api/login", json={"username": "planner", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    page = attacker.post("/login", data={"username": "planner", "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and "retry-after" in page.headers
    assert user.post("/api/login", json={"username": "planner", "password": PASSWORD}).status_code == 200
    r = user.post("/login", data={"username": "planner", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.slow
def test_a_flood_of_unauthenticated_requests_writes_few_audit_rows(app) -> None:
    """200 requests without a session: all refused, one audit row (per address and minute), not 200."""
    from gridmgmt.store import audit

    client = _client(app, "203.0.113.8")
    assert {client.get("/api/me").status_code for _ in range(200)} == {401}
    rows = audit.read(app.state.service.engine, limit=1000, outcome="unauthenticated")
    assert len(rows) == 1 and rows["address"].iat[0] == "203.0.113.8"
    other = _client(app, "203.0.113.9")
    assert other.get("/api/today").status_code == 401
    assert len(audit.read(app.state.service.engine, limit=1000, outcome="unauthenticated")) == 2
