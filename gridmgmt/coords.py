"""Coordinate decisions, made once: WGS-84 for every stored and exchanged coordinate
(:data:`WGS84`), the metric CRS of a district for distances and areas (:func:`metric_crs`,
:func:`utm_epsg`), and the Chinese map coordinate systems WGS-84 <-> GCJ-02 <-> BD-09, with exact
inverses.

GCJ-02 is the obfuscated datum of Chinese web maps (Amap, Tencent); BD-09 is Baidu's
further offset of GCJ-02. No maintained projection library (PROJ, pyproj) implements them,
so the published forward formulas are written here once; the inverses are solved by
fixed-point iteration to below a centimetre, not by the usual one-step approximation
(which is off by metres).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import CRS

_A = 6378245.0  # Krasovsky 1940 semi-major axis, m
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")

#: the CRS of every stored, loaded and written coordinate: WGS-84 longitude/latitude, degrees
WGS84 = "EPSG:4326"


def metric_crs(geo: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """The metric CRS where a district's distances and areas are measured: the UTM zone of ``geo``'s
    bounds (WGS-84), as PROJ's database picks it."""
    return geo.estimate_utm_crs()


def utm_epsg(lon: float, lat: float) -> str:
    """EPSG code of the WGS-84 UTM zone containing (lon, lat), e.g. ``"EPSG:32648"`` for Guiyang.

    Computed directly, for one point: :func:`metric_crs` queries the PROJ database and costs
    about 0.3 s per call.
    """
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _in_china(lon: NDArray, lat: NDArray) -> NDArray:
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _offset(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """Forward WGS-84 -> GCJ-02 (degrees). Points outside China are returned unchanged."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol_deg: float = 1e-9) -> tuple[NDArray, NDArray]:
    """Exact inverse of :func:`wgs84_to_gcj02` by fixed-point iteration.

    ``tol_deg`` 1e-9 degrees is about 0.1 mm; the offset field is smooth, so this
    converges in a handful of iterations.
    """
    glon, glat = _arrays(lon, lat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return wlon, wlat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """Forward GCJ-02 -> BD-09 (degrees)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *, tol_deg: float = 1e-9) -> tuple[NDArray, NDArray]:
    """Exact inverse of :func:`gcj02_to_bd09` by fixed-point iteration."""
    blon, blat = _arrays(lon, lat)
    glon, glat = blon - 0.0065, blat - 0.006
    for _ in range(30):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = flon - blon, flat - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    return glon, glat


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """Forward WGS-84 -> BD-09 (degrees)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """Exact inverse of :func:`wgs84_to_bd09`."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> tuple[NDArray, NDArray]:
    """Convert coordinates declared in ``system`` (wgs84, gcj02, bd09) to WGS-84."""
    system = system.lower().replace("-", "")
    if system == "wgs84":
        return _arrays(lon, lat)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown coordinate system {system!r}; use one of {', '.join(COORD_SYSTEMS)}")


#: A coarse outline of China (the mainland, Hong Kong and Macau) and Taiwan, where a district's
#: maps are read in Chinese: 125 (lon, lat) WGS-84 vertices traced by hand along the land borders
#: and out at sea around the coast and the islands. Off by up to about 50 km along a land border
#: (a town facing another across a border river may fall on the wrong side); ``--lang`` corrects it.
CHINA_OUTLINE_LONLAT: tuple[tuple[float, float], ...] = (
    # Amur and Ussuri (Russia)
    (121.5, 53.3), (123.5, 53.6), (126.0, 53.0), (127.1, 51.6), (127.7, 50.2), (129.6, 49.4), (130.8, 48.85),
    (131.0, 47.7), (132.6, 47.75), (134.3, 48.45), (134.8, 48.4), (134.2, 47.2), (133.3, 45.8), (132.6, 45.3),
    (131.3, 44.9), (131.3, 43.5), (130.9, 42.9), (130.65, 42.42),
    # Tumen and Yalu (North Korea)
    (130.4, 42.65), (130.05, 42.95), (129.5, 42.4), (128.3, 42.0), (128.15, 41.5), (126.9, 41.72), (126.35, 41.05),
    (124.4, 40.0),
    # at sea: Yellow Sea, East China Sea, east of Taiwan, South China Sea around Hainan, Gulf of Tonkin
    (123.8, 39.3), (123.2, 37.3), (123.0, 31.0), (122.6, 28.5), (122.3, 25.6), (122.1, 23.5), (121.0, 21.8),
    (120.6, 21.8), (114.4, 21.9), (111.5, 19.5), (111.3, 18.0), (109.5, 17.9), (108.4, 18.2), (108.4, 21.0),
    (108.05, 21.5),
    # Vietnam, Laos, Myanmar
    (107.3, 21.7), (106.7, 22.0), (106.75, 22.4), (106.3, 22.9), (105.35, 23.35), (103.95, 22.45), (103.3, 22.8),
    (102.4, 22.6), (102.15, 22.4), (101.8, 22.45), (101.6, 21.2), (100.2, 21.45), (99.3, 22.1), (99.5, 23.0),
    (98.9, 23.2), (97.6, 23.9), (97.6, 24.8), (98.1, 25.6), (98.7, 27.5), (97.5, 28.3),
    # India, Bhutan, Nepal, India again (the lines of actual control)
    (96.2, 29.4), (94.5, 29.2), (92.5, 27.9), (91.6, 27.95), (90.3, 28.3), (88.9, 27.85), (88.1, 27.9),
    (86.9, 28.05), (85.3, 28.4), (84.0, 29.2), (82.0, 30.3), (81.0, 30.2), (79.3, 31.0), (78.7, 31.9), (78.8, 32.6),
    (78.4, 34.0), (77.8, 35.5), (76.0, 35.9), (75.4, 36.9), (74.8, 37.3),
    # Tajikistan, Kyrgyzstan, Kazakhstan
    (75.0, 38.5), (73.7, 39.45), (74.8, 40.5), (76.5, 40.4), (78.0, 41.0), (80.2, 42.0), (80.2, 42.8), (80.8, 43.2),
    (80.4, 44.3), (80.8, 45.0), (82.6, 45.3), (82.3, 45.6), (83.0, 47.2), (85.6, 47.05), (86.0, 48.5), (87.3, 49.15),
    # Mongolia
    (87.8, 49.15), (88.9, 48.5), (90.0, 47.9), (91.0, 46.9), (90.9, 45.9), (91.0, 45.2), (93.5, 44.95), (95.3, 44.3),
    (96.4, 42.75), (100.8, 42.65), (101.8, 42.5), (103.7, 41.9), (105.0, 41.6), (106.8, 42.3), (109.3, 42.45),
    (110.6, 42.9), (111.9, 43.7), (114.5, 45.4), (116.6, 46.3), (119.7, 46.6), (119.8, 47.4), (118.4, 48.0),
    (115.8, 47.9), (116.7, 49.85),
    # Argun (Russia)
    (117.8, 49.5), (119.2, 50.3), (120.0, 51.5), (121.0, 52.6),
)  # fmt: skip


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray:
    """True for WGS-84 points inside :data:`CHINA_OUTLINE_LONLAT` (coarse near land borders)."""
    import shapely

    x, y = _arrays(lon, lat)
    return shapely.contains_xy(_china_outline(), x, y)


@functools.cache
def _china_outline():
    import shapely

    outline = shapely.Polygon(CHINA_OUTLINE_LONLAT)
    shapely.prepare(outline)
    return outline
