"""Today's grids as shapes for the service's map, each coloured by its staff pair."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from gridmgmt.grids.grid_map import PALETTE
from gridmgmt.ops.grids import GRIDS_KIND
from gridmgmt.store import SharedStore


def grid_shapes(store: SharedStore, owners: pd.DataFrame, retailers: pd.DataFrame) -> dict[str, Any]:
    """Today's grids as a GeoJSON FeatureCollection, each grid coloured by its staff pair.

    The polygons are the newest stored ``grids`` run's when it draws exactly today's grids (a
    build or a published preview: boundaries along streets); else each grid's retailers' hull
    (``properties.approximate`` true), so a grid is never missing from the map.

    Parameters
    ----------
    store
        The shared store.
    owners
        Today's ``retailer_id``, ``grid_id`` (text), ``customer_manager``, ``monopoly_officer``.
    retailers
        ``retailer_id``, ``lon``, ``lat`` (WGS-84).

    Returns
    -------
    dict
        Features with ``grid_id``, ``pair`` (``"M01+Z01"``), ``colour`` and ``approximate``;
        coordinates rounded to 5 decimals (about 1 m).
    """
    owners = owners.loc[owners["grid_id"].astype(str) != ""]
    today = sorted(set(owners["grid_id"].astype(str)), key=lambda g: g.zfill(6))
    polygons = _stored_polygons(store, today)
    approximate = polygons is None
    if polygons is None:
        polygons = _hulls(owners, retailers)
    pair_of = owners.groupby(owners["grid_id"].astype(str)).agg(cm=("customer_manager", "first"),
                                                                  mo=("monopoly_officer", "first"))  # fmt: skip
    pair = {g: f"{r.cm or '?'}+{r.mo or '?'}" for g, r in pair_of.iterrows()}
    colours = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(sorted(set(pair.values())))}
    features = []
    for grid in today:
        geometry = polygons.get(grid)
        if geometry is None or geometry.is_empty:
            continue
        rounded = shapely.set_precision(geometry, 1e-5)
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(rounded),
                         "properties": {"grid_id": grid, "pair": pair[grid], "colour": colours[pair[grid]],
                                        "approximate": approximate}})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _stored_polygons(store: SharedStore, grid_ids: list[str]) -> dict[str, Any] | None:
    """The newest ``grids`` run's polygons by grid id, when it has them for exactly ``grid_ids``."""
    runs = store.list_runs(GRIDS_KIND)
    with_polygons = runs.loc[runs["layers"].map(lambda names: "grids" in names)]
    if with_polygons.empty:
        return None
    layer = pd.DataFrame(store.read_run(with_polygons["run_id"].iloc[0]).layers["grids"])
    ids = [str(int(g)) if isinstance(g, float | np.floating) and float(g).is_integer() else str(g)
           for g in layer["grid_id"]]  # fmt: skip
    if sorted(ids) != sorted(grid_ids):
        return None
    return dict(zip(ids, layer["geometry"], strict=True))


def _hulls(owners: pd.DataFrame, retailers: pd.DataFrame) -> dict[str, Any]:
    """Each grid's retailers' concave hull, widened by about 30 m (points and lines become areas)."""
    where = retailers[["retailer_id", "lon", "lat"]].copy()
    where["retailer_id"] = where["retailer_id"].astype(str)
    joined = owners[["retailer_id", "grid_id"]].astype(str).merge(where, on="retailer_id")
    lon = pd.to_numeric(joined["lon"], errors="coerce")
    lat = pd.to_numeric(joined["lat"], errors="coerce")
    joined = joined.loc[lon.notna() & lat.notna()].assign(lon=lon, lat=lat)
    out = {}
    for grid, rows in joined.groupby("grid_id"):
        points = shapely.multipoints(rows[["lon", "lat"]].to_numpy(dtype=float))
        out[str(grid)] = shapely.concave_hull(points, ratio=0.3).buffer(0.0003)
    return out
