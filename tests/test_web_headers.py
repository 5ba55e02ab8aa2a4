"""What every response says about itself: a CSP without inline scripts, no-store on private pages,
no server paths in errors, and form errors as a page in the user's language (issue 22, items 4 and 7)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.service.security import scrub_paths, with_script_nonce

pytestmark = pytest.mark.slow  # builds and serves a district per test: outside the quick loop

#: pages each needing a login, with a role that may see them
PRIVATE_PAGES = {
    "/today": "officer1",
    "/report": "cm1",
    "/plan": "leader",
    "/grids": "planner",
    "/overview": "manager",
    "/overview/page": "manager",
    "/risk": "manager",
    "/risk/map": "manager",
    "/responsibility": "manager",
    "/assessment": "manager",
    "/mediation": "mediator",
    "/audit": "admin",
}


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    with TestClient(app) as c:
        yield c


def page_login(client, name: str) -> None:
    """Log ``name`` in through the form (the client keeps the cookie)."""
    r = client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def parsed_tags(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every element's tag and attributes, as a browser's parser sees them."""
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def csp_nonce(response) -> str:
    """The response's script nonce; fails when the CSP allows inline scripts."""
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in re.search(r"script-src[^;]*", csp).group(0), csp
    return re.search(r"'nonce-([^']+)'", csp).group(1)


def test_every_private_page_is_no_store_with_a_fresh_nonce(client) -> None:
    """Each private page: Cache-Control no-store and a CSP nonce of its own; no inline script without it."""
    nonces = set()
    for path, name in PRIVATE_PAGES.items():
        page_login(client, name)
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:200])
        assert r.headers["cache-control"] == "no-store", path
        nonce = csp_nonce(r)
        nonces.add(nonce)
        tags = parsed_tags(r.text)
        assert all("src" in attrs or attrs.get("nonce") == nonce for tag, attrs in tags if tag == "script"), path
        assert not [(tag, a) for tag, attrs in tags for a in attrs if a.startswith("on")], path  # no inline handlers
        client.cookies.clear()
    assert len(nonces) == len(PRIVATE_PAGES)
    api = client.get("/api/me")
    assert api.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/map.js").headers.get("cache-control", "")


def test_unknown_run_names_no_server_path(client, service_store) -> None:  # noqa: F811
    """`/plan?run=nope` and the API say the run is unknown, without the store's file path."""
    page_login(client, "leader")
    folder = str(service_store.label).rsplit("/", 1)[0]
    for path in ("/plan?run=nope", "/grids?run=nope"):
        r = client.get(path)
        assert r.status_code == 400 and "nope" in r.text, r.text[:300]
        assert folder not in r.text and "/tmp" not in r.text, r.text[:500]
    assert scrub_paths(f"{service_store.label}: no run x", (service_store.label,)) == "…: no run x"


def test_over_long_fields_give_a_short_page_or_json_never_the_input(client) -> None:
    """An over-long note: the form gets an error page in the user's language; the API a short JSON line."""
    page_login(client, "cm1")
    csrf = client.get("/api/me").json()["csrf"]
    long_note = "<b>x</b>" * 2000
    body = {"csrf_token": csrf, "retailer_id": "R1", "kind": "tip_off", "note": long_note}
    for lang, words in (("zh", "最多 2000 个字符"), ("en", "at most 2000 characters")):
        r = client.post(f"/report?lang={lang}", data=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
        assert words in r.text and "<b>x</b>" not in r.text and "&lt;b&gt;" not in r.text, r.text[:400]
    r = client.post("/api/events", json={"type": "tip_off", "retailer_id": "R1", "note": "y" * 100_000},
                    headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 422 and len(r.content) < 500 and "yyyy" not in r.text, r.text[:300]
    assert r.json()["detail"].startswith("note")


def test_script_nonce_is_added_to_every_script_element() -> None:
    page = '<script src="a.js"></script><SCRIPT>x()</SCRIPT><p>&lt;script&gt;</p><scripts>'
    assert with_script_nonce(page, "N") == (
        '<script nonce="N" src="a.js"></script><script nonce="N">x()</SCRIPT><p>&lt;script&gt;</p><scripts>'
    )
