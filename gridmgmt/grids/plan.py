"""Reading grid plans back: grids.gpkg (or the store's grids layers) as grid polygons with their assignment."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmgmt import io
from gridmgmt._errors import InputError, Problem
from gridmgmt.store import Store


def load_grids(path: str | Path) -> gpd.GeoDataFrame:
    """Grid polygons from a grids.gpkg, with its assignment table in ``.attrs["assignment"]``."""
    p = Path(path)
    if not p.exists():
        raise InputError(Problem(file=str(p), message="grids file not found", hint="run `gridmgmt grids build` first"))
    layers = io.list_layers(p)
    missing = [name for name in ("grids", "assignment") if name not in layers]
    if missing:
        raise InputError(
            Problem(
                file=str(p),
                message=f"missing layers {', '.join(missing)}",
                hint="use the grids.gpkg written by `gridmgmt grids build`",
            )
        )
    grids = io.read_layer(p, "grids")
    assignment = pd.DataFrame(io.read_layer(p, "assignment"))
    assignment["retailer_id"] = assignment["retailer_id"].astype(str)
    grids.attrs["assignment"] = assignment[["retailer_id", "grid_id"]]
    return grids


def stored_grids(store_path: str | Path | None) -> gpd.GeoDataFrame | None:
    """The grids layers of a store, or None when there is no store or it holds no grids."""
    if store_path is None or not Path(store_path).exists():
        return None
    store = Store(store_path)
    if "grids" in store and "assignment" in store:
        return load_grids(store_path)
    return None
