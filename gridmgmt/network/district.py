"""A district's road network: its extract as ``district.toml`` names it, cut and cached beside it."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import networkx as nx

from gridmgmt.config import Settings
from gridmgmt.network.load import load_network


def district_network(settings: Settings, boundary: gpd.GeoDataFrame | None) -> nx.MultiDiGraph:
    """The district's road network: its extract cut to the boundary plus ``[network] buffer_m``, cached."""
    return load_network(
        settings.path("network"),
        speeds=settings.speeds,
        boundary=boundary,
        buffer_m=settings.network.buffer_m,
        street_classes=settings.network.street_classes,
        cache_dir=_cache_dir(settings.root),
    )


def _cache_dir(root: Path) -> Path | None:
    """``cache/`` beside district.toml when that folder is writable, else None (the user's cache folder)."""
    return root / "cache" if os.access(root, os.W_OK) else None
