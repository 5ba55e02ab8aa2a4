"""Tests of the shared map machinery: offline HTML, escaping, light layers, real browser rendering."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gridmgmt import maps
from gridmgmt._errors import GridMgmtError
from gridmgmt.coords import wgs84_to_gcj02
from gridmgmt.maps import offline_assets as assets

EVIL = "<img src=x onerror=alert(1)>"
EVIL_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
CENTER = (106.71, 26.58)  # Yunyan District, Guiyang
N_POINTS = 5000


def _retailers(n: int = N_POINTS, seed: int = 7) -> pd.DataFrame:
    """Synthetic retailers in a few clusters around the district centre; row 0 has a hostile name."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-0.04, -0.03], [0.04, 0.03], size=(12, 2)) + CENTER
    which = rng.integers(0, len(centres), n)
    xy = centres[which] + rng.normal(0, 0.004, (n, 2))
    frame = pd.DataFrame(
        {
            "retailer_id": [f"5201031{i:05d}" for i in range(n)],
            "name": [f"云岩便利店{i}号" for i in range(n)],
            "address": [f"贵阳市云岩区中华北路{i}号" for i in range(n)],
            "lon": xy[:, 0].round(6),
            "lat": xy[:, 1].round(6),
            "customer_class": rng.choice(["AAA", "AA", "A", "B", "C", "D"], n),
        }
    )
    frame.loc[0, "name"] = EVIL
    frame["color"] = frame["customer_class"].map(
        {"AAA": "#800026", "AA": "#bd0026", "A": "#e31a1c", "B": "#fd8d3c", "C": "#74c476", "D": "#6baed6"}
    )
    return frame


def _grids() -> gpd.GeoDataFrame:
    x0, y0 = CENTER
    return gpd.GeoDataFrame(
        {"grid_name": [EVIL, "网格2"], "workload_min": [412.5, 398.0]},
        geometry=[box(x0 - 0.05, y0 - 0.04, x0, y0 + 0.04), box(x0, y0 - 0.04, x0 + 0.05, y0 + 0.04)],
        crs="EPSG:4326",
    )


def _full_map(frame: pd.DataFrame) -> folium.Map:
    m = maps.new_map(CENTER, zoom=13, title=f"零售户 {EVIL}", lang="zh")
    maps.add_heat(m, frame["lon"], frame["lat"], name=maps.label("heat", "zh"))
    maps.add_geojson(
        m,
        _grids(),
        name=maps.label("grids", "zh"),
        tooltip_fields={"grid_name": maps.label("grid", "zh"), "workload_min": maps.label("workload_min", "zh")},
        popup_fields={"grid_name": maps.label("grid", "zh")},
        style={"color": "#333333", "weight": 2, "fillOpacity": 0.05},
    )
    maps.add_points(
        m,
        frame,
        name=maps.label("retailers", "zh"),
        popup_title="name",
        popup_fields={"retailer_id": maps.label("retailer_id", "zh"), "address": maps.label("address", "zh")},
        tooltip="name",
        color_column="color",
    )
    maps.add_legend(m, f"档位 {EVIL}", [("A", "#e31a1c"), (EVIL, "#6baed6")], shape="circle")
    maps.add_layer_control(m)
    return m


@pytest.fixture(scope="module")
def full_map_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "full.html"
    maps.save_map(_full_map(_retailers()), path)
    return path


# --------------------------------------------------------------------------- pure Python


def test_esc_escapes_html_and_js_template_characters():
    """esc leaves no character that could open a tag, an attribute or a ${} in folium's template literals."""
    out = maps.esc("<a href='x'>\"&`${alert(1)}\\</a>")
    assert not set("<>\"'`$\\") & set(out)
    assert out.startswith("&lt;a href=&#x27;x&#x27;&gt;&quot;&amp;&#96;&#36;&#123;alert(1)&#125;&#92;")
    assert maps.esc(None) == "" and maps.esc(float("nan")) == "" and maps.esc(3) == "3"


def test_labels_are_bilingual_and_unknown_keys_fail():
    """label returns both languages, and an unknown key or half-translated registration fails loudly."""
    assert maps.label("retailers", "zh") == "零售户"
    assert maps.label("retailers", "en") == "Retailers"
    with pytest.raises(KeyError, match="register_labels"):
        maps.label("no_such_key", "en")
    with pytest.raises(ValueError, match="en"):
        maps.register_labels({"half": {"zh": "半"}})
    maps.register_labels({"test_only_key": {"zh": "测试", "en": "Test"}})
    assert maps.label("test_only_key", "en") == "Test"


def test_offline_html_is_self_contained_light_and_escaped(full_map_file):
    """The 5,000-point page inlines every asset, names no other host, stays < 2 MB and never holds raw markup."""
    page = full_map_file.read_text(encoding="utf-8")
    size = full_map_file.stat().st_size
    assert size < 2_000_000, f"{size} bytes"
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "<link" not in page
    assert maps.external_urls(page) == []
    assert 'data-gm-asset="jquery' not in page  # only inlined when folium.Popup needs it
    assert "bootstrap" not in page.lower() and "awesome" not in page.lower()
    assert EVIL not in page
    assert EVIL_ESCAPED in page  # the points layer: popup title and tooltip values
    assert "\\u0026lt;img src=x" in page  # the GeoJSON layer (folium escapes & again inside its JSON)
    assert f"<title>零售户 {EVIL_ESCAPED}</title>" in page


def test_points_are_rounded_and_one_json_array():
    """add_points ships coordinates rounded to 6 decimals in one payload, not one JS object per point."""
    frame = _retailers(50)
    frame.loc[1, "lon"] = 106.123456789
    m = maps.new_map(CENTER)
    maps.add_points(m, frame, name="r", popup_fields={"address": "地址"})
    page = maps.to_offline_html(m)
    assert "106.123457" in page and "106.123456789" not in page
    assert page.count("L.circleMarker(") == 1


def test_amap_tiles_shift_coordinates_to_gcj02():
    """With tiles='amap' point coordinates become GCJ-02; the tile template is the only external URL allowed."""
    frame = _retailers(3)
    m = maps.new_map(CENTER, tiles="amap")
    layer = maps.add_points(m, frame, name="r")
    xy = np.array(json.loads(layer.payload)["xy"])
    glon, glat = wgs84_to_gcj02(frame["lon"], frame["lat"])
    assert np.allclose(xy[:, 1], glon, atol=1e-6) and np.allclose(xy[:, 0], glat, atol=1e-6)
    assert np.abs(xy[:, 1] - frame["lon"]).min() > 1e-4  # the shift is real (hundreds of metres)
    page = maps.to_offline_html(m)
    assert any("autonavi.com" in u for u in re.findall(r"https://[^\s\"']+", page))
    plain = maps.new_map(CENTER, tiles="none")
    assert np.allclose(
        json.loads(maps.add_points(plain, frame, name="r").payload)["xy"][0], frame.loc[0, ["lat", "lon"]]
    )


def test_external_references_fail_loudly():
    """A folium map with CDN tiles or awesome-marker icons cannot become 'offline' HTML silently."""
    foreign = folium.Map(location=[26.58, 106.71])  # folium's default: OpenStreetMap tiles
    with pytest.raises(GridMgmtError, match="other hosts"):
        maps.to_offline_html(foreign)
    m = maps.new_map(CENTER)
    folium.Marker([26.58, 106.71], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(GridMgmtError, match=r"folium\.Icon"):
        maps.to_offline_html(m)
    m = maps.new_map(CENTER)
    m.get_root().header.add_child(folium.JavascriptLink("https://cdn.example.com/other.js"))
    with pytest.raises(GridMgmtError, match="not vendored"):
        maps.to_offline_html(m)


def test_missing_assets_raise_with_the_fetch_command(tmp_path):
    """Rendering with an incomplete vendor folder names the command that fetches the assets."""
    shutil.copytree(assets.assets_dir(), tmp_path / "vendor")
    (tmp_path / "vendor" / "leaflet@1.9.4" / "dist" / "leaflet.js").unlink()
    with pytest.raises(GridMgmtError, match=r"python -m gridmgmt\.maps`"):
        maps.to_offline_html(maps.new_map(CENTER), assets_folder=tmp_path / "vendor")


def test_bad_inputs_are_rejected():
    """Colours that could inject markup and rows without coordinates are refused with a clear message."""
    m = maps.new_map(CENTER)
    with pytest.raises(GridMgmtError, match="CSS colour"):
        maps.add_legend(m, "t", [("x", "red;background:url(https://evil)")])
    frame = _retailers(5)
    frame.loc[2, "lat"] = np.nan
    with pytest.raises(GridMgmtError, match="1 rows without valid coordinates"):
        maps.add_points(m, frame, name="r")
    with pytest.raises(GridMgmtError, match="unknown tiles"):
        maps.new_map(CENTER, tiles="google")


def test_ensure_assets_is_idempotent_and_offline_when_complete(tmp_path, monkeypatch):
    """A complete vendor folder is not downloaded again (any network call would fail here)."""
    shutil.copytree(assets.assets_dir(), tmp_path / "vendor")

    def no_network(url):
        raise AssertionError(f"network used: {url}")

    monkeypatch.setattr(assets, "_get", no_network)
    assert assets.ensure_assets(tmp_path / "vendor") == tmp_path / "vendor"
    assert assets.missing_assets(tmp_path / "vendor") == []


def test_ensure_assets_rejects_a_tampered_tarball(tmp_path, monkeypatch):
    """A tarball whose sha512 differs from the pinned integrity is refused and nothing is extracted."""
    package = assets.PACKAGES[0]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"alert('tampered')"
        info = tarfile.TarInfo("package/dist/leaflet.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    meta = {"dist": {"integrity": package.integrity, "tarball": "https://registry.npmjs.org/x.tgz"}}
    monkeypatch.setattr(assets, "_get", lambda url: buffer.getvalue() if url.endswith(".tgz") else json.dumps(meta))
    with pytest.raises(GridMgmtError, match="does not match"):
        assets.ensure_assets(tmp_path / "vendor")
    assert not (tmp_path / "vendor" / package.folder).exists()


# --------------------------------------------------------------------------- real browser

# Opens the hostile retailer's popup and tooltip and a grid tooltip, then reports their HTML.
_OPEN_EVIL = """
new Promise((resolve) => {
  const objects = Object.values(window);
  const group = objects.find(v => v instanceof L.MarkerClusterGroup);
  const grids = objects.find(v => v instanceof L.GeoJSON);
  const marker = group.getLayers().find(l => l._gmIndex === 0);
  const before = {markers: group.getLayers().length,
                  clusters: document.querySelectorAll('.marker-cluster').length};
  group.zoomToShowLayer(marker, () => {
    marker.fire('click', {latlng: marker.getLatLng()}, true);
    marker.openTooltip();
    const poly = grids.getLayers()[0];
    poly.fire('mouseover', {latlng: poly.getCenter()}, true);
    setTimeout(() => resolve(Object.assign(before, {
      popup: (document.querySelector('.leaflet-popup-content') || {}).innerHTML || '',
      tooltips: Array.from(document.querySelectorAll('.leaflet-tooltip')).map(t => t.innerHTML),
      evilImages: document.querySelectorAll('img[src="x"]').length,
    })), 100);
  });
})
"""


@pytest.fixture(scope="module")
def full_map_facts(full_map_file, chromium):
    return chromium.open(full_map_file, wait_for=".marker-cluster", action=_OPEN_EVIL)


@pytest.mark.browser
def test_full_map_renders_offline_in_chromium(full_map_facts):
    """5,000 clustered points, heat, polygons, legend and layer control render with no error and no request."""
    facts = full_map_facts
    assert facts.console_errors == [] and facts.page_errors == []
    assert facts.requests == [facts.url]
    assert facts.external_requests == []
    counts = facts.counts_before
    assert counts["clusters"] >= 5
    assert counts["paths"] >= 2  # the two grid polygons (plus any unclustered points)
    assert counts["heat_canvas"] == 1
    assert counts["layer_control"] == 1 and counts["layer_control_entries"] == 3
    assert counts["legend"] == 1
    assert facts.load_s < 15.0


@pytest.mark.browser
def test_hostile_names_stay_text_in_popups_and_tooltips(full_map_facts):
    """Opening the popup and tooltips of a shop named <img onerror=...> shows text, adds no <img>, runs nothing."""
    facts = full_map_facts
    result = facts.result
    assert result["markers"] == N_POINTS
    assert EVIL_ESCAPED in result["popup"] and "520103100000" in result["popup"]
    assert len(result["tooltips"]) == 2
    assert all(EVIL_ESCAPED in tip for tip in result["tooltips"])
    assert result["evilImages"] == 0
    assert facts.xss_calls == [] and facts.dialogs == []
    assert facts.console_errors == [] and facts.page_errors == []
    assert facts.counts["popups"] == 1


@pytest.mark.browser
def test_plain_folium_markers_and_popups_work_offline(tmp_path, chromium):
    """folium.Marker (default icon), folium.Popup (needs jQuery) and Tooltip work offline when fed esc() text."""
    hostile = EVIL + "`${alert(2)}`\\x"
    m = maps.new_map(CENTER, fullscreen=False)
    marker = folium.Marker(
        [CENTER[1], CENTER[0]],
        popup=folium.Popup(maps.popup_html(hostile, {"地址": hostile})),
        tooltip=maps.esc(hostile),
    )
    marker.add_to(m)
    path = maps.save_map(m, tmp_path / "plain.html")
    assert 'data-gm-asset="jquery' in path.read_text(encoding="utf-8")  # folium.Popup calls $(...)
    action = """
      (() => { const mk = Object.values(window).find(v => v instanceof L.Marker);
               mk.openPopup(); mk.openTooltip();
               return document.querySelector('.leaflet-popup-content').textContent; })()
    """
    facts = chromium.open(path, wait_for=".leaflet-marker-icon", action=action)
    assert facts.console_errors == [] and facts.page_errors == []
    assert facts.external_requests == [] and facts.requests == [facts.url]  # marker images are data: URIs
    assert facts.counts["markers"] == 1 and facts.counts["tooltips"] == 1
    assert hostile in facts.result  # shown as typed
    assert facts.xss_calls == [] and facts.dialogs == []


@pytest.mark.browser
def test_browser_helper_detects_script_and_requests(tmp_path, chromium):
    """The helper's hooks are live: injected alert() and a request to another host are reported."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><div class="leaflet-container"></div><script>alert(7)</script>'
        '<img src="https://example.invalid/x.png"><script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    facts = chromium.open(page)
    assert facts.xss_calls == ["alert:7"]
    assert facts.external_requests == ["https://example.invalid/x.png"]
    assert any("boom" in e for e in facts.console_errors)
