"""Tests of gridmgmt.coords: GCJ-02 and BD-09 against published reference pairs, inverses and offsets."""

from __future__ import annotations

import numpy as np
import pytest

from gridmgmt.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

M_PER_DEG_LAT = 110_700.0  # near 26.6 N
M_PER_DEG_LON = 99_600.0


def metres(lon1, lat1, lon2, lat2, lat0=26.6):
    """Local flat-earth distance, metres (good to 0.5% over a few km)."""
    dx = (np.asarray(lon1) - lon2) * 111_320.0 * np.cos(np.radians(lat0))
    dy = (np.asarray(lat1) - lat2) * M_PER_DEG_LAT
    return np.hypot(dx, dy)


# Published pairs: WGS-84 -> GCJ-02 from the test suites of googollee/eviltransform (Shanghai,
# Shenzhen, Beijing) and hutool's CoordinateUtilTest (Tiananmen, 116.404, 39.915); GCJ-02 -> BD-09
# from hutool's CoordinateUtilTest. The forward formulas must reproduce them to ~1e-9 degrees.
WGS_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]
GCJ_BD = [((116.404, 39.915), (116.41036949371029, 39.92133699351021))]


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ)
def test_wgs84_to_gcj02_matches_published_pairs(wgs, gcj):
    """WGS-84 -> GCJ-02 reproduces published reference pairs (to 1e-9 deg, ~0.1 mm)."""
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("gcj", "bd"), GCJ_BD)
def test_gcj02_to_bd09_matches_published_pair(gcj, bd):
    """GCJ-02 -> BD-09 reproduces a published reference pair."""
    lon, lat = gcj02_to_bd09(*gcj)
    assert lon == pytest.approx(bd[0], abs=1e-9)
    assert lat == pytest.approx(bd[1], abs=1e-9)


def test_bd09_to_wgs84_close_to_published_approximate_pair():
    """BD-09 -> WGS-84 lands within 15 m of eviltransform's published (one-step, approximate) answer."""
    lon, lat = bd09_to_wgs84(120.019809, 29.199786)
    assert metres(lon, lat, 120.00877901149691, 29.196131605295484, lat0=29.2) < 15.0


def test_guiyang_offset_magnitude():
    """At Guiyang the GCJ-02 offset is about 540 m and BD-09 adds roughly another 1 km."""
    lon, lat = wgs84_to_gcj02(106.7100, 26.5848)
    gcj_m = metres(lon, lat, 106.7100, 26.5848)
    assert 500.0 < gcj_m < 580.0
    blon, blat = wgs84_to_bd09(106.7100, 26.5848)
    assert metres(blon, blat, 106.7100, 26.5848) > gcj_m + 500.0


def test_round_trips_below_one_centimetre():
    """wgs84 -> gcj02 -> wgs84 and wgs84 -> bd09 -> wgs84 both return within 1 cm over a Guiyang grid."""
    lon, lat = np.meshgrid(np.linspace(106.60, 106.80, 9), np.linspace(26.50, 26.70, 9))
    lon, lat = lon.ravel(), lat.ravel()
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(*back, lon, lat).max() < 0.01
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(*back, lon, lat).max() < 0.01
    gcj = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert metres(*gcj, lon, lat).max() < 0.01


def test_to_wgs84_dispatch_and_unknown_system():
    """to_wgs84 dispatches on the system name (case and '-' ignored) and rejects unknown ones."""
    glon, glat = wgs84_to_gcj02(106.71, 26.5848)
    lon, lat = to_wgs84(glon, glat, "GCJ-02")
    assert metres(lon, lat, 106.71, 26.5848) < 0.01
    assert to_wgs84(106.71, 26.5848, "wgs84")[0] == 106.71
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(1.0, 2.0, "utm")


def test_outside_china_unchanged():
    """GCJ-02 leaves points outside China unchanged (London)."""
    lon, lat = wgs84_to_gcj02(-0.1276, 51.5072)
    assert (lon, lat) == (-0.1276, 51.5072)


# (lon, lat) WGS-84 of cities, for the coarse outline that sets a new district's label language
CHINESE_CITIES = {
    "Beijing (Wudaokou)": (116.32, 40.00), "Shanghai": (121.47, 31.23), "Guiyang": (106.63, 26.65),
    "Urumqi": (87.62, 43.82), "Lhasa": (91.11, 29.65), "Harbin": (126.63, 45.75), "Sanya": (109.51, 18.25),
    "Hong Kong": (114.17, 22.32), "Macau": (113.54, 22.19), "Taipei": (121.56, 25.03), "Kashgar": (75.99, 39.47),
    "Mohe": (122.53, 52.97), "Hunchun": (130.36, 42.86), "Ruili": (97.85, 24.00), "Tacheng": (82.98, 46.75),
}  # fmt: skip
OTHER_CITIES = {
    "Monaco": (7.42, 43.74), "Seoul": (126.98, 37.57), "Pyongyang": (125.75, 39.03), "Hanoi": (105.85, 21.03),
    "Lang Son": (106.76, 21.85), "Ulaanbaatar": (106.92, 47.92), "Choibalsan": (114.50, 48.07),
    "Vladivostok": (131.89, 43.12), "Khabarovsk": (135.07, 48.48), "Almaty": (76.90, 43.25), "Bishkek": (74.60, 42.87),
    "Kathmandu": (85.32, 27.70), "Thimphu": (89.64, 27.47), "Leh": (77.58, 34.16), "Myitkyina": (97.40, 25.38),
    "Tokyo": (139.69, 35.69), "Naha": (127.68, 26.21), "Manila": (120.98, 14.60), "Singapore": (103.82, 1.35),
}  # fmt: skip


def test_in_china_by_the_coarse_outline():
    """China's cities (border towns too) are inside the outline; its neighbours' cities are not."""
    for cities, inside in ((CHINESE_CITIES, True), (OTHER_CITIES, False)):
        lon, lat = np.array(list(cities.values())).T
        wrong = [name for name, got in zip(cities, in_china(lon, lat), strict=True) if got != inside]
        assert wrong == [], f"{'outside' if inside else 'inside'} the outline: {wrong}"


@pytest.mark.parametrize("system, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_amap_and_baidu_retailers_line_up_with_a_real_osm_network(tmp_path, system, convert) -> None:
    """Real Beijing shops given in GCJ-02/BD-09 snap to the real OSM streets at street scale once converted.

    Read as if they were WGS-84 (a forgotten --coords), the same points land hundreds of metres off.
    """
    from pathlib import Path

    import osmium
    import pandas as pd

    from gridmgmt.inputs.retailers import load_retailers
    from gridmgmt.network import load_network, snap_points

    extract = Path(__file__).resolve().parent / "data" / "osm" / "wudaokou_clipped.osm"
    shops = [
        (f"OSM{n.id}", n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(extract), osmium.osm.NODE)
        if "shop" in n.tags or "amenity" in n.tags
    ]
    ids, lon, lat = map(np.array, zip(*shops, strict=True))
    shifted_lon, shifted_lat = convert(lon, lat)
    table = pd.DataFrame({"retailer_id": ids, "name": ids, "lon": shifted_lon, "lat": shifted_lat})
    path = tmp_path / "retailers.csv"
    table.to_csv(path, index=False)
    graph = load_network(extract, cache_dir=tmp_path / "cache")

    right = load_retailers(path, coords=system)
    wrong = load_retailers(path, coords="wgs84")
    near = snap_points(graph, right["lon"].to_numpy(), right["lat"].to_numpy(), far_snap_m=1e9)["snap_dist_m"]
    off = snap_points(graph, wrong["lon"].to_numpy(), wrong["lat"].to_numpy(), far_snap_m=1e9)["snap_dist_m"]
    assert len(shops) >= 30
    assert near.median() < 40  # street scale: shops sit beside their street
    assert near.quantile(0.9) < 100
    assert off.median() > 3 * near.median() and np.hypot(shifted_lon - lon, shifted_lat - lat).min() * 85_000 > 300
