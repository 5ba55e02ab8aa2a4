"""Offline HTML of a gridmgmt map: every script and style inlined from the vendored assets.

:func:`to_offline_html` renders a folium map and replaces every CDN ``<script src>``/``<link
href>`` by the vendored file's content (see :mod:`gridmgmt.maps.offline_assets`), drops what our
maps never use (Bootstrap, Font Awesome, awesome-markers) and fails loudly when any external
reference remains. Tile URL templates are the only exception, and only when a map asks for
tiles (``tiles="osm"`` or ``"amap"``); the default ``tiles="none"`` makes a file that opens
anywhere, with no request to any host.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import folium

from gridmgmt._errors import GridMgmtError
from gridmgmt.maps.base import map_info
from gridmgmt.maps.escape import esc
from gridmgmt.maps.offline_assets import load_assets

logger = logging.getLogger(__name__)

_SCRIPT_SRC_RE = re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.IGNORECASE)
_LINK_RE = re.compile(r"<link\b[^>]*?\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*?/?>", re.IGNORECASE)
_CSS_URL_RE = re.compile(r"url\(\s*([\"']?)([^\"')]+)\1\s*\)")
_ASSET_BLOCK_RE = re.compile(r"<(script|style) data-gm-asset=[^>]*>.*?</\1>", re.DOTALL)
_URL_RE = re.compile(r"https?://[^\s\"'<>`)\\]+")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".jpg": "image/jpeg"}

# CDN file name (lower case) -> vendored file; None = never needed by gridmgmt maps.
_ASSET_FOR_FILE: dict[str, str | None] = {
    "leaflet.js": "leaflet@1.9.4/dist/leaflet.js",
    "leaflet.css": "leaflet@1.9.4/dist/leaflet.css",
    "leaflet.markercluster.js": "leaflet.markercluster@1.5.3/dist/leaflet.markercluster.js",
    "markercluster.css": "leaflet.markercluster@1.5.3/dist/MarkerCluster.css",
    "markercluster.default.css": "leaflet.markercluster@1.5.3/dist/MarkerCluster.Default.css",
    "control.fullscreen.min.js": "leaflet.fullscreen@3.0.0/Control.FullScreen.js",
    "control.fullscreen.js": "leaflet.fullscreen@3.0.0/Control.FullScreen.js",
    "control.fullscreen.css": "leaflet.fullscreen@3.0.0/Control.FullScreen.css",
    "leaflet_heat.min.js": "folium-heat/leaflet_heat.min.js",
    "jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "jquery.min.js": "jquery@3.7.1/dist/jquery.min.js",
    # folium's defaults for awesome-markers icons (folium.Icon): not used by gridmgmt maps
    "bootstrap.bundle.min.js": None,
    "bootstrap.min.css": None,
    "bootstrap-glyphicons.css": None,
    "all.min.css": None,
    "leaflet.awesome-markers.js": None,
    "leaflet.awesome-markers.css": None,
    "leaflet.awesome.rotate.min.css": None,
}
_JQUERY = "jquery@3.7.1/dist/jquery.min.js"
_LEAFLET_JS = "leaflet@1.9.4/dist/leaflet.js"


def _data_uri(rel: str, assets: Mapping[str, bytes]) -> str:
    mime = _MIME[PurePosixPath(rel).suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(assets[rel]).decode('ascii')}"


def _inline_css(rel: str, assets: Mapping[str, bytes]) -> str:
    folder = PurePosixPath(rel).parent
    text = assets[rel].decode("utf-8")

    def replace(match: re.Match) -> str:
        target = match.group(2).strip()
        if target.startswith(("data:", "#")):
            return match.group(0)
        resolved = os.path.normpath(str(folder / target)).replace(os.sep, "/")
        if resolved not in assets:
            raise GridMgmtError(f"{rel} refers to {target!r}, which is not vendored")
        return f"url({_data_uri(resolved, assets)})"

    return _CSS_URL_RE.sub(replace, text).replace("</style", "<\\/style")


def _icon_default_patch(assets: Mapping[str, bytes]) -> str:
    # Leaflet finds its default marker images through a CSS url(); point them at data: URIs.
    images = "leaflet@1.9.4/dist/images/"
    options = {
        "iconUrl": _data_uri(images + "marker-icon.png", assets),
        "iconRetinaUrl": _data_uri(images + "marker-icon-2x.png", assets),
        "shadowUrl": _data_uri(images + "marker-shadow.png", assets),
    }
    return f'L.Icon.Default.imagePath="";L.Icon.Default.mergeOptions({json.dumps(options)});'


def _asset_for(url: str) -> str | None:
    file_name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    if file_name not in _ASSET_FOR_FILE:
        raise GridMgmtError(
            f"the map refers to {url}, which gridmgmt has not vendored; "
            "use the helpers in gridmgmt.maps or add the asset to gridmgmt.maps.offline_assets"
        )
    return _ASSET_FOR_FILE[file_name]


def external_urls(page: str, *, allowed: Sequence[str] = ()) -> list[str]:
    """http(s) URLs in ``page`` outside the inlined vendored assets, except ``allowed`` prefixes.

    Vendored files are pinned and reviewed; they name URLs that are never requested (SVG
    namespaces, Leaflet's attribution link), so they are not searched.
    """
    outside = _ASSET_BLOCK_RE.sub("", page)
    found = [u.replace("\\u0026", "&") for u in _URL_RE.findall(outside)]
    return sorted({u for u in found if not u.startswith(tuple(allowed))})


def to_offline_html(m: folium.Map, *, assets_folder: Path | None = None) -> str:
    """Render ``m`` as one self-contained HTML page: every script and style inline.

    Parameters
    ----------
    m
        The map (preferably from :func:`new_map`).
    assets_folder
        Vendor folder (default :func:`gridmgmt.maps.offline_assets.assets_dir`).

    Returns
    -------
    str
        The page. With ``tiles="none"`` it makes no request to any host.

    Raises
    ------
    GridMgmtError
        When vendored assets are missing (run ``python -m gridmgmt.maps``), when the map
        uses a library gridmgmt has not vendored (e.g. ``folium.Icon``), or when any
        reference to another host remains (other than the map's tile templates).
    """
    assets = load_assets(assets_folder)
    page = m.get_root().render()
    if "L.AwesomeMarkers" in page:
        raise GridMgmtError(
            "the map uses folium.Icon (awesome-markers, Font Awesome), which is not available offline; "
            "use add_points, folium.CircleMarker or folium.DivIcon"
        )
    own_script = _SCRIPT_SRC_RE.sub("", page)
    needs_jquery = re.search(r"\$\(", own_script) is not None
    done: set[str] = set()

    def script(match: re.Match) -> str:
        rel = _asset_for(match.group(1))
        if rel is None or rel in done or (rel == _JQUERY and not needs_jquery):
            return ""
        done.add(rel)
        code = assets[rel].decode("utf-8").replace("</script", "<\\/script")
        if rel == _LEAFLET_JS:
            code += "\n" + _icon_default_patch(assets)
        return f'<script data-gm-asset="{esc(rel)}">\n{code}\n</script>'

    def link(match: re.Match) -> str:
        tag = match.group(0)
        if "stylesheet" not in tag.lower():
            raise GridMgmtError(f"the map links to {match.group(1)}; only stylesheets can be inlined")
        rel = _asset_for(match.group(1))
        if rel is None or rel in done:
            return ""
        done.add(rel)
        return f'<style data-gm-asset="{esc(rel)}">\n{_inline_css(rel, assets)}\n</style>'

    page = _SCRIPT_SRC_RE.sub(script, page)
    page = _LINK_RE.sub(link, page)
    leftovers = _SCRIPT_SRC_RE.findall(page) + _LINK_RE.findall(page)
    remaining = leftovers + external_urls(page, allowed=map_info(m).allowed_urls)
    if remaining:
        raise GridMgmtError(
            f"the map still refers to other hosts: {', '.join(sorted(set(remaining))[:5])}; "
            "offline maps must not (use tiles='none' or the helpers in gridmgmt.maps)"
        )
    if _LEAFLET_JS not in done:
        raise GridMgmtError("the rendered map does not load Leaflet; is it a folium.Map?")
    return page


def save_map(m: folium.Map, path: str | os.PathLike, *, assets_folder: Path | None = None) -> Path:
    """Write ``m`` as one self-contained offline HTML file, atomically; return the path."""
    from gridmgmt.io import write_text

    page = to_offline_html(m, assets_folder=assets_folder)
    written = write_text(page, path)
    logger.info("wrote map %s (%.0f kB)", written, len(page.encode("utf-8")) / 1024)
    return written
