"""Scenarios derived from the demo: a changed retailer table (churn) to test rebalancing on."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridmgmt.demo.geography import (
    EAST_SUBDISTRICTS,
    OLD_TOWN_SUBDISTRICTS,
    TO_WGS,
    UTM_CRS,
    WGS84,
    subdistrict_of,
)
from gridmgmt.demo.population import points_beside, retailer_attributes


def make_churn_scenario(
    retailers: pd.DataFrame,
    network: nx.MultiDiGraph,
    subdistricts: gpd.GeoDataFrame,
    *,
    seed: int = 0,
    n_new_east: int = 300,
    n_closed_old: int = 100,
    east: tuple[str, ...] = EAST_SUBDISTRICTS,
    old_town: tuple[str, ...] = OLD_TOWN_SUBDISTRICTS,
    licence_date: str | None = None,
) -> pd.DataFrame:
    """A changed retailer table: new shops in the eastern new town, closures in the old town.

    Parameters
    ----------
    retailers
        The current retailer table (columns of the data contract, lon/lat in WGS-84).
    network
        The road network (osmnx MultiDiGraph, WGS-84); new shops are placed 5-15 m beside its streets.
    subdistricts
        Subdistrict polygons with ``name_zh`` (WGS-84).
    seed
        Seed of the random choices.
    n_new_east, n_closed_old
        Number of retailers opened in ``east`` subdistricts and closed in ``old_town`` ones.
    licence_date
        Licence date of the new shops (default: the latest in ``retailers``).

    Returns
    -------
    pandas.DataFrame
        The kept retailers (original order) followed by the new ones (``grid_id`` empty, other extra
        columns missing); a GeoDataFrame when ``retailers`` is one.
    """
    import osmnx as ox

    rng = np.random.default_rng(seed)
    table = retailers.copy()
    old_idx = np.flatnonzero(table["subdistrict"].isin(old_town).to_numpy())
    closed = rng.choice(old_idx, size=min(n_closed_old, len(old_idx)), replace=False)
    kept = table.drop(index=table.index[closed])

    edges = ox.convert.graph_to_gdfs(network, nodes=False).reset_index(drop=True).to_crs(UTM_CRS)
    subs = subdistricts.to_crs(UTM_CRS)
    east_area = shapely.union_all(subs.loc[subs["name_zh"].isin(east)].geometry.to_numpy())
    mid = shapely.line_interpolate_point(edges.geometry.to_numpy(), 0.5, normalized=True)
    on_east = edges.loc[shapely.contains(east_area, mid)]
    if on_east.empty or n_new_east <= 0:
        return kept.reset_index(drop=True)
    names = on_east["name"].map(lambda v: v[0] if isinstance(v, list) else v).fillna("").astype(str).to_numpy()
    geoms = on_east.geometry.to_numpy()
    xy, street = points_beside(rng, geoms, names, shapely.length(geoms), n_new_east, east_area)
    date = licence_date or str(table["licence_date"].max())
    used = set(table["retailer_id"].astype(str))
    new = retailer_attributes(rng, len(xy), used)
    lon, lat = TO_WGS.transform(xy[:, 0], xy[:, 1])
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM_CRS)
    sub_name = subdistrict_of(pts, subs)
    new.insert(2, "address", [f"{s}{n}号" for s, n in zip(street, rng.integers(1, 400, len(xy)), strict=True)])
    new.insert(3, "lon", np.round(lon, 6))
    new.insert(4, "lat", np.round(lat, 6))
    new["subdistrict"] = sub_name
    new["licence_date"] = date
    new["grid_id"] = ""
    new = new[[c for c in table.columns if c in new.columns]]
    for col in new.columns:  # match the table's kinds (read_table gives strings)
        if not pd.api.types.is_numeric_dtype(table[col]) and pd.api.types.is_numeric_dtype(new[col]):
            new[col] = [f"{v:.6f}" if isinstance(v, float) else str(v) for v in new[col]]
    if "grid_id" in table and pd.api.types.is_numeric_dtype(table["grid_id"]):
        new["grid_id"] = pd.array([pd.NA] * len(new), dtype=table["grid_id"].dtype)
    if isinstance(table, gpd.GeoDataFrame):
        geom = table.geometry.name
        new[geom] = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84).to_crs(table.crs).to_numpy()
        return gpd.GeoDataFrame(pd.concat([kept, new], ignore_index=True), geometry=geom, crs=table.crs)
    return pd.concat([kept, new], ignore_index=True)
