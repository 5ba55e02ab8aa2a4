"""A gridmgmt map: a folium map set up for offline use, escaping, zh/en labels and one coordinate system.

Data is WGS-84; Amap tiles are GCJ-02, so a map with ``tiles="amap"`` shifts every coordinate
the helpers add (:func:`to_map_lonlat`, :func:`to_map_geometry`). Code that adds folium objects
directly must call them too.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import branca.element
import folium
import folium.plugins
import numpy as np
import pandas as pd

from gridmgmt._errors import GridMgmtError
from gridmgmt.labels import label
from gridmgmt.maps.escape import esc
from gridmgmt.vocab import LANGS

COORD_DECIMALS = 6  # 1e-6 degree is about 0.1 m: far below what a map shows
TILES = ("none", "osm", "amap")
DEFAULT_MAX_ZOOM = 19  # MarkerCluster needs a finite maxZoom even without a tile layer

# Tile providers. Amap serves GCJ-02 tiles: data must be shifted (see to_map_lonlat).
_TILE_PROVIDERS: dict[str, dict[str, Any]] = {
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attr": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        "allowed": ("https://tile.openstreetmap.org/", "https://www.openstreetmap.org/copyright"),
        "subdomains": "abc",
        "crs": "wgs84",
    },
    "amap": {
        "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang={lang}&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "attr": "&copy; 高德地图 AutoNavi",
        "allowed": ("https://webrd0{s}.is.autonavi.com/",),
        "subdomains": "1234",
        "crs": "gcj02",
    },
}


@dataclass
class MapInfo:
    """What gridmgmt knows about a map it created (stored on the folium.Map)."""

    tiles: str = "none"
    lang: str = "zh"
    crs: str = "wgs84"  # "gcj02" for Amap tiles: helpers shift coordinates
    allowed_urls: tuple[str, ...] = field(default_factory=tuple)


#: the MapInfo of each map made by :func:`new_map` (a folium map has no place for it)
_MAP_INFO: weakref.WeakKeyDictionary[folium.Map, MapInfo] = weakref.WeakKeyDictionary()


def map_info(m: folium.Map) -> MapInfo:
    """The :class:`MapInfo` of a map; defaults (no tiles, WGS-84) for a map made elsewhere."""
    return _MAP_INFO.get(m) or MapInfo()


_BASE_CSS = """
.gm-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
background:rgba(255,255,255,.9);padding:4px 12px;border-radius:4px;font:bold 16px/1.4 sans-serif;
box-shadow:0 1px 4px rgba(0,0,0,.3);pointer-events:none}
.gm-legend{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:4px;font:12px/1.5 sans-serif;
box-shadow:0 1px 4px rgba(0,0,0,.3);max-height:60vh;overflow:auto}
.gm-legend .gm-legend-title{font-weight:bold;margin-bottom:2px}
.gm-legend i{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border:1px solid #555}
.gm-legend i.gm-circle{border-radius:50%}.gm-legend i.gm-line{height:4px;border:0;vertical-align:3px}
.gm-popup{font:12px/1.4 sans-serif}.gm-popup table{border-collapse:collapse;margin-top:3px}
.gm-popup th{text-align:left;padding:1px 8px 1px 0;font-weight:normal;color:#555;white-space:nowrap}
.gm-popup td{padding:1px 0}
"""


def new_map(
    center_lonlat: tuple[float, float],
    *,
    zoom: int = 13,
    tiles: str = "none",
    lang: str = "zh",
    title: str | None = None,
    max_zoom: int = DEFAULT_MAX_ZOOM,
    fullscreen: bool = True,
    prefer_canvas: bool = False,
) -> folium.Map:
    """A folium map set up for offline use, escaping and bilingual labels.

    Parameters
    ----------
    center_lonlat
        Centre as (longitude, latitude), WGS-84 degrees.
    zoom
        Initial zoom level.
    tiles
        ``"none"`` (default: no background, no request to any host), ``"osm"``
        (OpenStreetMap) or ``"amap"`` (Amap/AutoNavi, GCJ-02: every helper shifts data
        coordinates for it). Tiles need internet when the file is opened.
    lang
        ``"zh"`` or ``"en"``: language of labels and of Amap tiles.
    title
        Shown at the top of the map and as the page title (escaped).
    max_zoom
        Maximum zoom level; always set, since clustering needs it even without tiles.
    fullscreen
        Add a full-screen button.
    prefer_canvas
        Draw vector layers on a canvas instead of SVG (faster with many visible shapes).

    Raises
    ------
    GridMgmtError
        For an unknown ``tiles`` or ``lang``.
    """
    if tiles not in TILES:
        raise GridMgmtError(f"unknown tiles {tiles!r}; use one of {', '.join(TILES)}")
    if lang not in LANGS:
        raise GridMgmtError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    provider = _TILE_PROVIDERS.get(tiles)
    info = MapInfo(
        tiles=tiles,
        lang=lang,
        crs=provider["crs"] if provider else "wgs84",
        allowed_urls=provider["allowed"] if provider else (),
    )
    lon, lat = _shift(info, [center_lonlat[0]], [center_lonlat[1]])
    m = folium.Map(
        location=[float(lat[0]), float(lon[0])],
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        prefer_canvas=prefer_canvas,
        maxZoom=max_zoom,
    )
    _MAP_INFO[m] = info
    if provider:
        url = provider["url"].replace("{lang}", "zh_cn" if lang == "zh" else "en")
        folium.TileLayer(
            tiles=url,
            attr=provider["attr"],
            name=esc(label("basemap", lang)),
            max_zoom=max_zoom,
            max_native_zoom=18,
            subdomains=provider["subdomains"],
            control=False,
        ).add_to(m)
    figure = m.get_root()
    assert isinstance(figure, branca.element.Figure)  # a map's root is its page
    figure.header.add_child(folium.Element(f"<style>{_BASE_CSS}</style>"), name="gridmgmt_css")
    if title:
        figure.title = esc(title)
        figure.html.add_child(folium.Element(f'<div class="gm-title">{esc(title)}</div>'), name="gridmgmt_title")
    if fullscreen:
        folium.plugins.Fullscreen(
            position="topleft", title=label("fullscreen", lang), title_cancel=label("exit_fullscreen", lang)
        ).add_to(m)
    return m


def _shift(
    info: MapInfo, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if info.crs == "gcj02":
        from gridmgmt.coords import wgs84_to_gcj02

        return wgs84_to_gcj02(lon, lat)
    return lon, lat


def to_map_lonlat(m: folium.Map, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray):
    """WGS-84 lon/lat arrays -> the map's display coordinates (GCJ-02 for Amap tiles).

    Returns
    -------
    tuple of numpy arrays
        ``(lon, lat)`` in degrees, rounded to :data:`COORD_DECIMALS`.
    """
    x, y = _shift(map_info(m), lon, lat)
    return np.round(x, COORD_DECIMALS), np.round(y, COORD_DECIMALS)


def fit_to(m: folium.Map, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray) -> None:
    """Open the map on what it shows: fit its view to the extent of these WGS-84 points.

    Without points (e.g. an empty plan) the map keeps its centre and zoom.
    """
    x, y = to_map_lonlat(m, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
        m.fit_bounds([[float(y[ok].min()), float(x[ok].min())], [float(y[ok].max()), float(x[ok].max())]])


def to_map_geometry(m: folium.Map, geometry):
    """Shapely geometries (array or GeoSeries, WGS-84) in the map's display coordinates, rounded."""
    import shapely

    info = map_info(m)

    def transform(xy: np.ndarray) -> np.ndarray:
        x, y = _shift(info, xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), COORD_DECIMALS)

    values = shapely.transform(np.asarray(geometry), transform)
    if isinstance(geometry, pd.Series):
        return type(geometry)(values, index=geometry.index, crs=getattr(geometry, "crs", None))
    return values
