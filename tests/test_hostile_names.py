"""Nothing in the data is markup (issue 22, item 4): hostile names through every page and CLI listing.

Shop names, addresses, notes and case texts carrying HTML, script, rich markup, emoji codes, RTL
marks, NUL and 10 kB of text go through every page of the service in real headless Chromium
(desktop and phone width; every map tooltip hovered) and through the command line's listings:
no dialog, no script run, no CSP violation, no traceback, and the text shown as typed.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from service_fixtures import PASSWORD, TODAY, band_assignment, fill_store, small_district  # noqa: F401
from typer.testing import CliRunner

XSS = "<img src=x onerror=alert(1)>便利店"
HOSTILE = [
    XSS,
    "</script><script>alert(2)</script>烟酒店",
    "\"' onmouseover=alert(3) x='",
    "`${alert(4)}` \\ {{7*7}} {% raw %}",
    "[/bold][red]红[/red] :smile: [link=http://x]店[/link]",
    "\u202eRTL\u200f商店\u200e end",
    "nul\x00店",
    "<svg onload=alert(5)>" + "长" * 10_000,  # 10 kB of one word: no place to break it
]
#: notes hold no NUL and at most 2,000 characters (the validator refuses the rest, one line each)
NOTES = [text[:2000] for text in HOSTILE if "\x00" not in text]

#: every page and who may see it (the framed maps are opened directly too)
PAGES = {
    "/today": "officer1",
    "/report?q=%3Cimg": "cm1",
    "/plan": "leader",
    "/grids": "planner",
    "/overview/page": "manager",
    "/risk/map": "manager",
    "/responsibility": "manager",
    "/assessment": "manager",
    "/tasks": "leader",
    "/tasks?type=complaint": "mediator",
    "/mediation": "mediator",
    "/mediation/1": "mediator",
    "/audit": "admin",
    "/public?q=%3Cimg": "",
    "/login": "",
}
PHONE = {"width": 390, "height": 844}
HOOKS = """
window.__xss = [];
for (const name of ['alert', 'confirm', 'prompt']) {
    window[name] = function (msg) { window.__xss.push(name + ':' + msg); };
}
"""
HOVER = """() => {
    const targets = Array.from(document.querySelectorAll('.leaflet-interactive, .leaflet-marker-icon')).slice(0, 400);
    for (const el of targets) {
        for (const type of ['mouseover', 'mouseenter', 'click']) {
            el.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, view: window}));
        }
    }
    return Array.from(document.querySelectorAll('.leaflet-tooltip, .leaflet-popup-content'))
        .map(el => el.textContent).join('\\n');
}"""


def hostile_district(district):
    """The small district with hostile names and addresses on the planned stops of grids 1 and 2 and a few others."""
    hostile = copy.copy(district)
    retailers = district.retailers.copy()
    assignment = band_assignment(retailers)
    stops = [sorted(assignment.loc[assignment["grid_id"] == g, "retailer_id"])[:5] for g in (1, 2)]
    chosen = [*stops[0], *stops[1], *sorted(assignment["retailer_id"])[:6]]
    for n, rid in enumerate(dict.fromkeys(chosen)):
        row = retailers["retailer_id"] == rid
        retailers.loc[row, "name"] = HOSTILE[n % len(HOSTILE)]
        retailers.loc[row, "address"] = HOSTILE[(n + 3) % len(HOSTILE)]
    hostile.retailers = retailers
    return hostile


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hostile_server(small_district, tmp_path):  # noqa: F811
    """The service over a store of the hostile district, with hostile notes, a case and a public report."""
    uvicorn = pytest.importorskip("uvicorn")
    from gridmgmt.service import ServiceOptions, create_app, mediation
    from gridmgmt.service.accounts import User
    from gridmgmt.store import audit

    district = hostile_district(small_district)
    store = fill_store(district, tmp_path / "hostile.sqlite")
    app = create_app(district, store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    live = app.state.service.live
    owners = live.owners()
    rid = str(owners.loc[owners["grid_id"] == "1", "retailer_id"].sort_values().iat[0])
    for note in NOTES:
        live.record(User("cm1", "marketing", "M01"), {"type": "marketing_report", "retailer_id": rid, "note": note})
    complaint = live.record(User("cm1", "marketing", "M01"), {"type": "complaint", "retailer_id": rid, "note": XSS})
    case = mediation.open_case(store.engine, retailer_id=rid, subject=NOTES[0], parties=NOTES[1], mediator="mediator",
                               opened_by="mediator", when=pd.Timestamp(TODAY).to_pydatetime(),
                               task_id=complaint[0]["event_id"])  # fmt: skip
    audit.record(store.engine, username=XSS, action=NOTES[4], outcome="failed_login", detail=NOTES[6], address=NOTES[5])
    for note in NOTES:
        mediation.add_note(store.engine, case, author="mediator", text=note, when=pd.Timestamp(TODAY).to_pydatetime())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    store.close()


def _context(browser, user: str, viewport: dict):
    """A browser context at ``viewport``, logged in as ``user`` (none: signed out), with the dialog hooks."""
    context = browser.new_context(viewport=viewport, service_workers="block")
    context.add_init_script(HOOKS)
    return context


def _visit(context, base: str, user: str, path: str) -> dict:
    """Open ``path`` in ``context`` (logging ``user`` in on its first page), hover every map shape; what happened."""
    page = context.new_page()
    seen: dict = {"dialogs": [], "errors": [], "csp": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and seen["csp"].append(m.text))
    if user and not context.cookies():
        page.goto(f"{base}/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.card button[type=submit]")
        page.wait_for_load_state("load")
    response = page.goto(base + path, wait_until="load")
    page.wait_for_timeout(150)
    seen["status"] = response.status
    seen["tooltips"] = page.evaluate(HOVER)
    page.wait_for_timeout(100)
    seen["xss"] = page.evaluate("window.__xss")
    seen["text"] = page.evaluate("document.body ? document.body.innerText : ''")
    seen["scroll_width"] = page.evaluate("document.documentElement.scrollWidth")
    page.close()
    return seen


@pytest.mark.browser
@pytest.mark.slow
def test_hostile_names_run_no_script_on_any_page(hostile_server, chromium) -> None:
    """Every page at desktop and phone width: 0 dialogs, 0 script calls, 0 CSP violations, text shown as typed."""
    base = hostile_server
    contexts: dict = {}  # one logged-in context per user and width: a login per page doubled the test's time
    for path, user in PAGES.items():
        for viewport in ({"width": 1200, "height": 800}, PHONE):
            key = (user, viewport["width"])
            if key not in contexts:
                contexts[key] = _context(chromium.browser, user, viewport)
            seen = _visit(contexts[key], base, user, path)
            where = (path, viewport["width"])
            assert seen["status"] == 200, (where, seen["text"][:400])
            assert seen["dialogs"] == [] and seen["xss"] == [], (where, seen["dialogs"], seen["xss"])
            assert seen["errors"] == [] and seen["csp"] == [], (where, seen["errors"], seen["csp"])
            assert "Traceback" not in seen["text"], where
            if viewport is PHONE and path not in ("/overview/page", "/risk/map"):
                assert seen["scroll_width"] <= PHONE["width"] + 10, where  # 10 kB names wrap, no sideways scroll
            if path == "/grids":
                assert "M01+Z01" in seen["tooltips"], "the grid polygons' tooltips name each grid's pair as text"
            if path == "/today":
                assert "<img src=x onerror=alert(1)>" in seen["text"] + seen["tooltips"]
            if path.startswith(("/tasks", "/mediation/1")):
                assert XSS in seen["text"], where  # the complaint's text (and the case's report) shown as typed
    for context in contexts.values():
        context.close()


# ---------------------------------------------------------------------------- the command line

runner = CliRunner()


def _tiny_district(folder: Path) -> Path:
    """Three shops with hostile names (no NUL: CSV cells cannot hold one), two pairs, no road network."""
    import geopandas as gpd
    from shapely.geometry import box

    folder.mkdir(parents=True)
    gpd.GeoDataFrame(geometry=[box(106.65, 26.54, 106.75, 26.64)], crs="EPSG:4326").to_file(
        folder / "boundary.geojson", driver="GeoJSON"
    )
    names = [n.replace("\x00", "") for n in (XSS, HOSTILE[4], HOSTILE[7])]
    pd.DataFrame({"retailer_id": ["R1", "R2", "R3"], "name": names, "address": [HOSTILE[5], HOSTILE[3], HOSTILE[2]],
                  "lon": [106.71, 106.712, 106.705], "lat": [26.5848, 26.586, 26.58],
                  "grid_id": [1, 1, 2]}).to_csv(folder / "retailers.csv", index=False)  # fmt: skip
    (folder / "depots.csv").write_text("depot_id,name,lon,lat\nD1,所,106.70,26.58\n", encoding="utf-8")
    staff = ["staff_id,name,department,grid_id,depot,travel_mode", "M01,[/i]甲,marketing,1,D1,ebike",
             "Z01,<b>乙,monopoly,1,D1,ebike", "M02,丙,marketing,2,D1,ebike", "Z02,丁,monopoly,2,D1,ebike"]  # fmt: skip
    (folder / "staff.csv").write_text("\n".join(staff) + "\n", encoding="utf-8")
    toml = ['name = "[/bold]tiny"', "[files]", 'retailers = "retailers.csv"', 'boundary = "boundary.geojson"',
            'depots = "depots.csv"', 'staff = "staff.csv"', 'network = ""']  # fmt: skip
    (folder / "district.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    return folder / "district.toml"


def _run(*args: str, stdin: str | None = None):
    from gridmgmt.cli import app

    result = runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "5000"})  # wide: no cell cut
    assert result.exit_code in (0, 1), (args, result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output, (args, result.output)
    assert len(result.output.splitlines()) < 200 or "events" in args, (args, result.output[:2000])
    return result


def test_hostile_text_in_every_cli_listing_is_printed_as_typed(tmp_path) -> None:
    """events add/list, tasks list, users add/list, validate: one-line refusals, listings print the text as typed."""
    d = ["--district", str(_tiny_district(tmp_path / "d")), "--store", str(tmp_path / "s.sqlite")]
    _run("store", "init", *d)
    _run("validate", "--district", d[1])
    day = ["--time", "2026-12-01T10:00"]
    for bad in (["--type", "[/x]"], ["--type", XSS], ["--retailer", "[/x]<b>"], ["--event-id", "[/bold]"]):
        args = {"--type": "visit", "--retailer": "R1", **dict(zip(bad[::2], bad[1::2], strict=True))}
        said = _run("events", "add", *[x for kv in args.items() for x in kv], *day, *d)
        assert len(said.output.strip().splitlines()) <= 3, said.output  # one line: refused, or added as typed
        assert said.exit_code == 1 or bad[1] in said.output, said.output
    refused = _run("events", "add", "--type", "visit", "--retailer", "R1", "--note", "nul\x00[/bold]", *day, *d)
    assert refused.exit_code == 1
    for n, note in enumerate(NOTES):
        _run("events", "add", "--type", "tip_off", "--retailer", "R1", "--note", note, *day, *d)
        _run("events", "add", "--type", "visit", "--retailer", "R2", "--note", note, "--department", "marketing",
             "--time", f"2026-12-01T1{n}:30", *d)  # fmt: skip
    listing = _run("events", "list", "--from", "2026-11-01", *d)
    assert listing.exit_code == 0
    flat = "".join(listing.output.split())
    for expected in ("[/bold][red]红[/red]", ":smile:", "<imgsrc=xonerror=alert(1)>", "`${alert(4)}`"):
        assert expected in flat, (expected, listing.output[:3000])
    assert _run("events", "list", "--from", "2026-11-01", "--format", "csv", *d).exit_code == 0
    assert _run("tasks", "list", "--date", "2026-12-02", *d).exit_code == 0
    store = ["--store", d[3]]
    for name in ("[/x]", "<script>", ":smile:[red]"):
        added = _run("users", "add", name, "--role", "planner", "--password-stdin", *store, stdin="a long password\n")
        assert added.exit_code == 0 and name in added.output, added.output
    users = _run("users", "list", *store)
    assert "[/x]" in users.output and ":smile:[red]" in users.output


# ---------------------------------------------------------------------------- the folium maps


def test_map_text_is_never_a_template_nor_another_host() -> None:
    """A name holding Jinja tags or a URL: branca renders map scripts as templates again, and the offline check
    looks for other hosts. Escaped, the name neither runs on the server ({{ 7*7 }} stays) nor breaks the map."""
    from gridmgmt import maps
    from gridmgmt.maps.escape import js_json

    names = ["{{ 7*7 }}号店", "{% raw %}店", "{# x", "见 http://evil.example/x.js"]
    frame = pd.DataFrame({"lon": [106.71 + i / 1000 for i in range(4)], "lat": [26.58] * 4, "name": names})
    m = maps.new_map((106.71, 26.58), fullscreen=False)
    maps.add_points(m, frame, name="{{ 6*7 }} layer", popup_title="name", popup_fields={"name": "名称"}, tooltip="name")
    page = maps.to_offline_html(m)
    assert "49号店" not in page and "42 layer" not in page
    assert js_json({"n": "{{x}}{%y{#z"}).count("\\u007b") == 3
