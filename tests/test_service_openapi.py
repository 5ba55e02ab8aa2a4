"""Schemathesis against the service's /openapi.json: generated requests to every operation never get a 500."""

from __future__ import annotations

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from gridmgmt.service import ServiceOptions, create_app  # noqa: E402

pytestmark = pytest.mark.slow  # a PostgreSQL server or many generated requests: outside the quick loop

MAX_EXAMPLES = 6  # per operation and identity: bounded, the whole module runs in about a minute


def _check(operation, headers: dict[str, str], failures: list[str]) -> None:
    """Call one operation with generated cases; note every 5xx answer."""

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(f"{operation.method} {operation.path}: {response.status_code} {response.text[:200]}")

    check()


@pytest.mark.parametrize("who", ["officer1", "manager", None])
def test_no_operation_answers_500(small_district, service_store, who) -> None:  # noqa: F811
    """Every operation of /openapi.json, with generated parameters and bodies, as an officer, a manager and nobody."""
    from fastapi.testclient import TestClient

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    headers = {}
    if who:
        token = TestClient(app).post("/api/login", json={"username": who, "password": PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        if operation.path in ("/api/logout", "/api/plans") and operation.method.upper() == "POST":
            continue  # logging out ends the session the others use; a plan job would run for minutes

        _check(operation, headers, failures)
    assert failures == []
