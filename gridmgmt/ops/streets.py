"""The street layer under every map: built once per road network from the district's own extract, cached.

The layer (:func:`gridmgmt.maps.streets.street_bands`) is cached as one JSON file in the
district's ``cache/`` folder (beside the cleaned extracts), named by a key of the network file's
SHA-256, the boundary and the network settings it was cut with, and the layer's version: the
same extract gives the same key, so the layer is built once and the service may serve it as an
immutable, content-addressed file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely

from gridmgmt._errors import GridMgmtError
from gridmgmt.atomic import atomic_path
from gridmgmt.coords import WGS84
from gridmgmt.inputs.district import District
from gridmgmt.maps.streets import BANDS, LAYER_VERSION, STYLES, street_bands, to_json

log = logging.getLogger(__name__)

__all__ = ["StreetLayer", "map_streets", "street_layer", "street_layer_key", "street_styles"]


@dataclass(frozen=True)
class StreetLayer:
    """A district's street layer: ``bands`` (name -> GeoJSON FeatureCollection) under a content ``key``."""

    key: str
    bands: dict[str, dict[str, Any]]
    _json: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def band_json(self, name: str, *, gzipped: bool = False) -> bytes:
        """A band as compact JSON, or gzip-compressed (each made once; the same bytes every time)."""
        key = f"{name}.gz" if gzipped else name
        if key not in self._json:
            raw = to_json(self.bands[name])
            self._json[key] = gzip.compress(raw, compresslevel=9, mtime=0) if gzipped else raw
        return self._json[key]

    def index(self) -> list[dict[str, Any]]:
        """Each band's ``name``, ``min_zoom``, ``max_zoom`` and ``bytes``, lowest zooms first."""
        return [{"name": name, "min_zoom": band["min_zoom"], "max_zoom": band["max_zoom"],
                 "bytes": len(self.band_json(name))} for name, band in self.bands.items()]  # fmt: skip


def street_layer_key(district: District) -> str:
    """The street layer's key: SHA-256 of the network file's hash, the boundary, the network settings, the layer."""
    with open(district.settings.path("network"), "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    boundary = district.boundary
    area = "" if boundary is None else hashlib.sha256(shapely.to_wkb(boundary.to_crs(WGS84).union_all())).hexdigest()
    network = district.settings.network
    settings = {"network": digest, "boundary": area, "buffer_m": network.buffer_m,
                "street_classes": network.street_classes, "version": LAYER_VERSION,
                "bands": [repr(b) for b in BANDS]}  # fmt: skip
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def street_layer(district: District) -> StreetLayer:
    """The district's street layer: read from its cache, else built from ``district.graph`` and cached.

    A cache folder that cannot be written costs a rebuild next time, nothing else (logged). A district
    without a network file (its graph given directly) gets its layer keyed by the layer's content, uncached.
    """
    if not district.settings.path("network").is_file():  # given its graph directly (tests, notebooks): no cache
        bands = street_bands(district.graph)
        return StreetLayer(key=hashlib.sha256(json.dumps(bands, sort_keys=True).encode()).hexdigest(), bands=bands)
    key = street_layer_key(district)
    path = _cache_folder(district.settings.root) / f"streets.{key[:16]}.json"
    cached = _read_cached(path, key)
    if cached is not None:
        return cached
    layer = StreetLayer(key=key, bands=street_bands(district.graph))
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"key": key, "bands": layer.bands}, separators=(",", ":")), encoding="utf-8")
    except OSError as exc:
        log.warning("street layer not cached at %s: %s", path, exc)
    return layer


def _cache_folder(root: Path) -> Path:
    """``cache/`` beside district.toml when writable (as the cleaned extracts), else the user's cache folder."""
    if os.access(root, os.W_OK):
        return root / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gridmgmt" / "streets"


def _read_cached(path: Path, key: str) -> StreetLayer | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("bands"), dict):
        return None
    return StreetLayer(key=key, bands=record["bands"])


def street_styles() -> dict[str, dict[str, Any]]:
    """How each street class is drawn (Leaflet path options), for the service's maps."""
    return {cls: dict(style) for cls, style in STYLES.items()}


def map_streets(district: District) -> dict[str, dict[str, Any]] | None:
    """The street layer's bands for a self-contained map; None (logged) when the road network cannot load.

    A map without streets is still a map: the command that draws it must not fail for them.
    """
    try:
        return street_layer(district).bands
    except GridMgmtError as exc:
        log.warning("the map is drawn without streets: %s", exc)
        return None
