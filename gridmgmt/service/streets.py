"""The layers of the service's maps: the district's streets (an index of the zoom bands, the bands) and today's grids.

The bands are public street lines from the district's own extract (no names, no user's data), so
they need no login: the public form's map draws them too. Their URLs carry the layer's content
key, so a band never changes under its URL and is cached for a year (a new extract, a new key).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from gridmgmt.ops.grid_shapes import grid_shapes
from gridmgmt.ops.grids import GRIDS_KIND
from gridmgmt.ops.streets import StreetLayer, street_layer, street_styles
from gridmgmt.service.deps import service_of

router = APIRouter(tags=["maps"])

#: ``Cache-Control`` of a band: its URL names its content (the app's middleware keeps this header on /streets/).
IMMUTABLE = "public, max-age=31536000, immutable"
BAND_PREFIX = "/streets/"
_BUILD_LOCK = threading.Lock()


def app_street_layer(request: Request) -> StreetLayer:
    """The app's street layer, read from the district's cache (or built) on first use."""
    state = request.app.state
    layer = getattr(state, "streets", None)
    if layer is None:
        with _BUILD_LOCK:
            layer = getattr(state, "streets", None)
            if layer is None:
                layer = state.streets = street_layer(service_of(request).live.district)
    return layer


def _band_url(layer: StreetLayer, name: str) -> str:
    return f"{BAND_PREFIX}{layer.key[:16]}/{name}.json"


@router.get("/api/streets")
def streets_index(request: Request) -> dict[str, Any]:
    """The street layer: its ``key``, how each class is drawn (``styles``) and its zoom ``bands``, lowest zooms first,
    each with ``name``, ``min_zoom``, ``max_zoom``, ``bytes`` and the ``url`` of its GeoJSON (cached for a year)."""
    layer = app_street_layer(request)
    bands = [{**band, "url": _band_url(layer, band["name"])} for band in layer.index()]
    return {"key": layer.key, "styles": street_styles(), "bands": bands}


@router.get(BAND_PREFIX + "{key}/{band}.json", include_in_schema=False)
def streets_band(request: Request, key: str, band: str) -> Response:
    """One band as GeoJSON (gzip when the client takes it); 404 for a key or band the layer does not have."""
    layer = app_street_layer(request)
    if key != layer.key[:16] or band not in layer.bands:
        raise HTTPException(404, "no such street band: /api/streets lists the current ones")
    body, headers = (
        layer.band_json(band),
        {"Cache-Control": IMMUTABLE, "ETag": f'"{key}-{band}"', "Vary": "Accept-Encoding"},
    )
    if "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = layer.band_json(band, gzipped=True), "gzip"
    return Response(body, media_type="application/geo+json", headers=headers)


def grid_shapes_json(request: Request) -> str:
    """Today's grids as GeoJSON text for the Grids page (:func:`gridmgmt.ops.grid_shapes.grid_shapes`), remade only
    when today's owners or the newest grids run change."""
    live = service_of(request).live
    owners = live.owners()
    runs = live.plan_runs(GRIDS_KIND)
    key = (id(owners), "" if runs.empty else str(runs["run_id"].iloc[0]))
    cached = getattr(request.app.state, "grid_shapes", None)
    if cached is not None and cached[0] == key and cached[1] is owners:
        return cached[2]
    text = json.dumps(grid_shapes(live.store, owners, live.retailers()), ensure_ascii=False, separators=(",", ":"))
    request.app.state.grid_shapes = (key, owners, text)
    return text
