"""Streets under every map, offline (issue 24, item 2): the light street layer, its cache, its service, its maps."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
import shapely
from service_fixtures import PASSWORD, TODAY, service_store, small_district, template_store  # noqa: F401

from gridmgmt.maps.streets import BANDS, COORD_DECIMALS, band_bytes, band_for_zoom, street_bands, street_class

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo_bands(demo_district):
    return street_bands(demo_district.graph)


def _metric(geometry, lat0: float):
    """Degrees -> local metres (the layer's own equirectangular scale)."""
    scale = np.array([111_320.0 * np.cos(np.radians(lat0)), 110_574.0])
    return shapely.transform(geometry, lambda xy: xy * scale)


def _band_lines(band: dict, classes: tuple[str, ...]):
    lines = [shapely.LineString(c) for f in band["features"] if f["properties"]["class"] in classes
             for c in f["geometry"]["coordinates"]]  # fmt: skip
    return shapely.MultiLineString(lines)


def _graph_lines(graph, classes: tuple[str, ...]):
    lines = []
    for u, v, data in graph.edges(data=True):
        if street_class(data.get("highway")) in classes:
            geometry = data.get("geometry")
            ends = [(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])]
            lines.append(geometry if geometry is not None else shapely.LineString(ends))
    return shapely.MultiLineString(lines)


def test_bands_grow_with_zoom_and_stay_phone_sized(demo_bands) -> None:
    """Demo district: low draws major roads only, high every class; each band under 150 kB, low under 20 kB."""
    assert list(demo_bands) == [b.name for b in BANDS]
    classes = {name: {f["properties"]["class"] for f in band["features"]} for name, band in demo_bands.items()}
    assert classes["low"] == {"major"} and classes["high"] == {"major", "street"}
    sizes = band_bytes(demo_bands)
    assert sizes["low"] < sizes["mid"] <= sizes["high"] < 150_000
    assert sizes["low"] < 20_000
    assert [band_for_zoom(demo_bands, z) for z in (11, 14, 15, 16, 19)] == ["low", "mid", "mid", "high", "high"]


def _farthest_m(lines, streets) -> float:
    """The largest distance (m) from a point of ``lines`` (one every 10 m at most) to the nearest of ``streets``."""
    points = shapely.points(shapely.get_coordinates(shapely.segmentize(lines, 10.0)))
    _, distance = shapely.STRtree(shapely.get_parts(streets)).query_nearest(
        points, return_distance=True, all_matches=False
    )
    return float(distance.max())


def test_coordinates_are_rounded_and_lines_follow_the_streets(demo_bands, demo_district) -> None:
    """Coordinates carry 5 decimals; every band lies within its tolerance (+ rounding) of the streets it draws; the
    high band draws every street, and each once (not once per direction)."""
    graph = demo_district.graph
    lat0 = float(np.mean([y for _, y in graph.nodes(data="y")]))
    coords = shapely.get_coordinates(_band_lines(demo_bands["high"], ("major", "street", "minor")))
    assert np.allclose(coords, np.round(coords, COORD_DECIMALS), atol=1e-12, rtol=0)
    for band in BANDS:
        drawn = _metric(_band_lines(demo_bands[band.name], band.classes), lat0)
        far = _farthest_m(drawn, _metric(_graph_lines(graph, band.classes), lat0))
        assert far < band.tolerance_m + 1.5, f"{band.name}: a line {far:.1f} m away from any street"
    everything = ("major", "street", "minor")
    high = _metric(_band_lines(demo_bands["high"], everything), lat0)
    streets = _metric(_graph_lines(graph, everything), lat0)
    assert _farthest_m(streets, high) < 2.5  # no street left out
    once = sum(d["length"] for u, v, d in graph.edges(data=True) if (v, u) not in graph.edges or u < v)
    assert 0.98 * once < high.length < 1.02 * once
    vertices = {name: len(shapely.get_coordinates(_band_lines(b, ("major",)))) for name, b in demo_bands.items()}
    assert vertices["low"] < vertices["mid"] <= vertices["high"]  # coarser tolerance, fewer vertices


def test_layer_is_cached_by_the_network_hash(small_district, monkeypatch) -> None:  # noqa: F811
    """The first call builds and writes cache/streets.<key>.json; the next reads it without building."""
    from gridmgmt.ops import streets

    layer = streets.street_layer(small_district)
    cached = small_district.settings.root / "cache" / f"streets.{layer.key[:16]}.json"
    assert cached.is_file() and json.loads(cached.read_text())["key"] == layer.key

    def no_build(graph):
        raise AssertionError("built again")

    monkeypatch.setattr(streets, "street_bands", no_build)
    again = streets.street_layer(small_district)
    assert again.key == layer.key and again.bands == layer.bands
    assert streets.street_layer_key(small_district) == layer.key


@pytest.fixture
def client(small_district, service_store):  # noqa: F811
    from fastapi.testclient import TestClient

    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    return TestClient(app)


def test_service_serves_bands_content_addressed(client) -> None:
    """/api/streets (no login: the public form draws it) lists the bands; each band URL answers GeoJSON cached for a
    year, gzip when asked; an old key is a 404."""
    index = client.get("/api/streets")
    assert index.status_code == 200 and index.headers["cache-control"] == "no-store"
    bands = index.json()["bands"]
    assert [b["name"] for b in bands] == ["low", "mid", "high"]
    assert set(index.json()["styles"]) == {"major", "street", "minor"}
    high = client.get(bands[-1]["url"], headers={"Accept-Encoding": "identity"})
    assert high.status_code == 200 and "immutable" in high.headers["cache-control"]
    assert high.headers["content-type"].startswith("application/geo+json")
    assert len(high.content) == bands[-1]["bytes"] and high.json()["type"] == "FeatureCollection"
    packed = client.get(bands[-1]["url"], headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == high.content  # decoded by the client
    assert client.get(bands[-1]["url"].replace(index.json()["key"][:16], "0" * 16)).status_code == 404


def test_grids_page_carries_polygons_coloured_by_pair(client) -> None:
    """The Grids page holds today's grids as polygons, one colour per staff pair, not retailer dots."""
    client.post("/login", data={"username": "planner", "password": PASSWORD})
    page = client.get("/grids")
    assert page.status_code == 200 and "data-grid-points" not in page.text
    raw = page.text.split("data-grid-shapes='", 1)[1].split("'", 1)[0]
    shapes = json.loads(raw.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&"))
    features = shapes["features"]
    assert len(features) == 12 and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    pairs = {f["properties"]["pair"] for f in features}
    colours = {f["properties"]["pair"]: f["properties"]["colour"] for f in features}
    assert len(set(colours.values())) == min(len(pairs), 20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.browser
def test_grids_page_draws_polygons_over_streets_at_phone_width(small_district, service_store, chromium) -> None:  # noqa: F811
    """Phone width, real Chromium: the Grids page draws the 12 grid polygons and a street band on a canvas beneath."""
    uvicorn = pytest.importorskip("uvicorn")
    from gridmgmt.service import ServiceOptions, create_app

    app = create_app(small_district, service_store, options=ServiceOptions(today=TODAY, min_form_s=0.0))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{server.config.port}"
    context = chromium.browser.new_context(viewport=PHONE, service_workers="block")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/login?lang=en")
        page.fill("input[name=username]", "planner")
        page.fill("input[name=password]", PASSWORD)
        page.click("form.card button[type=submit]")
        page.wait_for_load_state("load")
        page.goto(f"{base}/grids", wait_until="load")
        page.wait_for_selector("#map[data-street-band]", timeout=20_000)
        assert page.locator("#map path.leaflet-interactive").count() == 12
        assert page.locator("#map .leaflet-gmStreets-pane canvas").count() == 1
        z = page.evaluate("() => [getComputedStyle(document.querySelector('.leaflet-gmStreets-pane')).zIndex,"
                          " getComputedStyle(document.querySelector('.leaflet-overlay-pane')).zIndex]")  # fmt: skip
        assert int(z[0]) < int(z[1])  # the streets lie beneath the grids
        assert errors == []
    finally:
        context.close()
        server.should_exit = True
        thread.join(10)


@pytest.mark.browser
def test_folium_grid_map_draws_the_street_layer_offline(tmp_path, chromium) -> None:
    """The self-contained grid map carries the street layer: drawn on a canvas beneath the grids, no request made."""
    from test_grids import _district

    from gridmgmt import maps
    from gridmgmt.grids.build import build_grids
    from gridmgmt.grids.grid_map import grid_map

    district = _district(n_retailers=120)
    plan = build_grids(district, 2, seed=0)
    m = grid_map(plan, district, lang="en", show_retailers=False, streets=street_bands(district.graph))
    path = maps.save_map(m, tmp_path / "grid_map.html")
    html = path.read_text(encoding="utf-8")
    assert 'createPane("gmStreets")' in html and maps.external_urls(html) == []
    facts = chromium.open(path, wait_for=".leaflet-gmStreets-pane canvas",
                          counts={"streets": ".leaflet-gmStreets-pane canvas", "grids": "path.leaflet-interactive",
                                  "entries": ".leaflet-control-layers-overlays label"})  # fmt: skip
    assert facts.console_errors == [] and facts.page_errors == [] and facts.external_requests == []
    assert facts.counts["streets"] == 1 and facts.counts["grids"] == 2
    assert facts.counts["entries"] >= 2  # the grids and the streets, each switchable
