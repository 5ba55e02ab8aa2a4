"""District: everything loaded and validated for one bureau."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
from pyproj import CRS

from gridmgmt.config import Settings, load_settings
from gridmgmt.network import load_network

log = logging.getLogger(__name__)


@dataclass
class District:
    """One bureau's inputs, validated.

    Frames on this object are in WGS-84 (``EPSG:4326``) like the files; ``crs`` is the
    local metric CRS (UTM) to project into for distances and areas. The road network is
    loaded on first use of ``graph``.
    """

    settings: Settings
    boundary: gpd.GeoDataFrame
    retailers: gpd.GeoDataFrame
    events: pd.DataFrame
    orders: pd.DataFrame
    staff: pd.DataFrame
    depots: gpd.GeoDataFrame
    subdistricts: gpd.GeoDataFrame | None = None
    schools: gpd.GeoDataFrame | None = None
    ground_truth: pd.DataFrame | None = None
    _graph: nx.MultiDiGraph | None = field(default=None, repr=False)

    @cached_property
    def crs(self) -> CRS:
        """Local metric CRS (UTM zone of the boundary)."""
        return self.boundary.estimate_utm_crs()

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The road network (osmnx MultiDiGraph, WGS-84), loaded once."""
        if self._graph is None:
            self._graph = district_network(self.settings, self.boundary)
        return self._graph


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


def load_district(path: str | Path, *, store: str | Path | None = None) -> District:
    """Load and validate every input a district.toml names.

    With ``store`` (the shared store: a SQLite file or a PostgreSQL URL), the events recorded there by
    ``gridmgmt events add|import`` join the event log of the district's events file.

    Raises
    ------
    InputError
        Listing every problem found, each naming its file, row and field.
    """
    settings = load_settings(path)

    from gridmgmt.inputs.events import load_events
    from gridmgmt.inputs.retailers import load_retailers
    from gridmgmt.inputs.tables import load_boundary, load_depots, load_orders, load_points, load_staff

    files = settings.files
    boundary = load_boundary(settings.path("boundary"))
    retailers = load_retailers(settings.path("retailers"), coords=settings.coords.retailers, boundary=boundary)
    ids = set(retailers["retailer_id"])
    events = load_events(settings.path("events"), retailer_ids=ids) if files.events else None
    events = events if events is not None and len(events) else _empty_events()  # header only = no history
    if store:
        events = with_store_events(events, store)
    orders = load_orders(settings.path("orders"), retailer_ids=ids) if files.orders else None
    if orders is None or not len(orders):  # header only = no orders
        orders = pd.DataFrame(columns=["retailer_id", "week", "cartons"])
    depots = load_depots(settings.path("depots"), coords=settings.coords.depots)
    staff = load_staff(settings.path("staff"), depot_ids=set(depots["depot_id"]))
    subdistricts = _none_if_empty(gpd.read_file(settings.path("subdistricts"))) if files.subdistricts else None
    schools = (
        _none_if_empty(load_points(settings.path("schools"), coords=settings.coords.schools)) if files.schools else None
    )
    truth = pd.read_csv(settings.path("ground_truth"), dtype={"retailer_id": str}) if files.ground_truth else None
    log.info("loaded %s: %d retailers, %d events", settings.name, len(retailers), len(events))
    return District(
        settings=settings,
        boundary=boundary,
        retailers=retailers,
        events=events,
        orders=orders,
        staff=staff,
        depots=depots,
        subdistricts=subdistricts,
        schools=schools,
        ground_truth=truth,
    )


def with_store_events(events: pd.DataFrame, store: str | Path) -> pd.DataFrame:
    """The district's events file joined with the shared store's event log (each event once, by id).

    ``store init`` copies the file's events into the store with their ids, and ``events add`` /
    ``events import`` append there; reading both and keeping each id once gives the whole log.
    """
    from gridmgmt.store import open_store

    with open_store(store) as shared:
        stored = shared.events_between()
    if not len(stored):
        return events
    stored = stored.loc[~stored["event_id"].isin(set(events["event_id"]))]
    columns = list(dict.fromkeys([*events.columns, *stored.columns]))
    both = pd.concat([events.reindex(columns=columns), stored.reindex(columns=columns)], ignore_index=True)
    both["time"] = pd.to_datetime(both["time"])
    for column in both.columns.difference(["time"]):
        if both[column].dtype == object:
            both[column] = both[column].fillna("")
    return both.sort_values("time", kind="stable").reset_index(drop=True)


def _none_if_empty(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """An empty optional layer (a header and no rows, an empty FeatureCollection) counts as absent."""
    return layer if len(layer) else None


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["event_id", "retailer_id", "time", "type", "department", "outcome", "severity", "note"]
    )
