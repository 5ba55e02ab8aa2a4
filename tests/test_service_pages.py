"""The service's pages: each role's pages render in zh and en, others are refused, the CLI manages users."""

from __future__ import annotations

import pytest
from service_fixtures import PASSWORD, TODAY, USERS, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.permissions import allowed
from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.service.pages import NAV

pytestmark = pytest.mark.slow  # builds and serves a district per test: outside the quick loop

PAGES = [(perm, path) for perm, path, _key in NAV if path not in ("/overview", "/risk")]  # heavy: own test below


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY))
    return TestClient(app)


def test_each_role_sees_its_pages_in_both_languages(client) -> None:
    """Every page a role may open renders (200, zh and en); the others answer 403 with the error page."""
    for name, (role, _staff) in USERS.items():
        client.cookies.clear()
        r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303
        for permission, path in PAGES:
            for lang in ("zh", "en"):
                r = client.get(f"{path}?lang={lang}")
                if allowed(role, permission):
                    assert r.status_code == 200, (name, path, r.text[:300])
                    assert 'name="viewport"' in r.text
                    assert "http://" not in r.text and "https://" not in r.text  # every asset from the app itself
                else:
                    assert r.status_code == 403, (name, path)
                    assert 'id="error-detail"' in r.text


def test_today_shows_the_route_or_says_no_plan(client, small_district, service_store) -> None:  # noqa: F811
    """The officer of grid 1 sees squad G01's published stops; on a day without a plan, 'no plan published yet'."""
    client.post("/login", data={"username": "officer1", "password": PASSWORD})
    page = client.get("/today?lang=en").text
    assert page.count('class="stop card"') == 5
    other = TestClient(create_app(small_district, service_store, options=ServiceOptions(today="2026-12-02")))
    other.post("/login", data={"username": "officer1", "password": PASSWORD})
    assert 'id="no-plan"' in other.get("/today?lang=en").text


def test_report_page_searches_and_opens_the_task(client) -> None:
    """A customer manager finds a retailer by licence number and files a marketing report: the task opens."""
    client.post("/login", data={"username": "cm1", "password": PASSWORD})
    live = client.app.state.service.live
    owners = live.owners()
    rid = str(owners.loc[owners["grid_id"] == "1", "retailer_id"].iat[0])
    page = client.get(f"/report?q={rid}").text
    assert rid in page
    csrf = client.get("/api/me").json()["csrf"]
    r = client.post("/report", data={"csrf_token": csrf, "retailer_id": rid, "kind": "marketing_report", "note": "n"})
    assert r.status_code == 200 and 'id="report-done"' in r.text
    tasks = live.tasks()
    assert ((tasks["retailer_id"] == rid) & (tasks["type"] == "marketing_report") & (tasks["status"] == "open")).any()
    r = client.post("/report", data={"retailer_id": rid, "kind": "marketing_report"})
    assert r.status_code == 403  # no CSRF token


def test_manager_overview_and_risk_map_are_live_and_offline(client) -> None:
    """The overview and the risk map render from the store with every script inline (no CDN)."""
    client.post("/login", data={"username": "manager", "password": PASSWORD})
    assert 'src="/overview/page' in client.get("/overview").text
    overview = client.get("/overview/page?lang=en")
    assert overview.status_code == 200 and "<html" in overview.text.lower()
    risk = client.get("/risk/map?lang=en")
    assert risk.status_code == 200
    import re

    assert not re.search(r"<(script|link)[^>]+(src|href)=.https?://", risk.text)


def test_users_cli_add_list_disable(tmp_path, template_store, monkeypatch) -> None:  # noqa: F811
    """`users add --password-stdin`, `users list` and `users disable` on a store."""
    import shutil

    from typer.testing import CliRunner

    from gridmgmt.cli import app

    store = tmp_path / "s.sqlite"
    shutil.copyfile(template_store, store)
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["users", "add", "zhang", "--role", "monopoly", "--staff-id", "Z03", "--password-stdin", "--store", str(store)],
        input="a long password\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["users", "add", "li", "--role", "boss", "--password-stdin", "--store", str(store)], input="x" * 9
    )
    assert r.exit_code == 1 and "unknown role" in r.output
    r = runner.invoke(app, ["users", "disable", "zhang", "--store", str(store)])
    assert r.exit_code == 0
    r = runner.invoke(app, ["users", "list", "--store", str(store)])
    assert "zhang\tmonopoly\tZ03\tdisabled" in r.output
    for command in (["serve", "--help"], ["users", "add", "--help"]):
        assert runner.invoke(app, command).exit_code == 0
