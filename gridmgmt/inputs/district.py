"""District: one bureau's settings and input tables, loaded and validated (no road network, no store).

The orchestrator (:func:`gridmgmt.ops.district.load_district`) adds the road network's loader and
the store's events; this module reads only the files district.toml names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
from pyproj import CRS

from gridmgmt._errors import GridMgmtError
from gridmgmt.config import Settings, load_settings
from gridmgmt.coords import metric_crs
from gridmgmt.inputs.events import load_events
from gridmgmt.inputs.retailers import load_retailers
from gridmgmt.inputs.tables import load_boundary, load_depots, load_orders, load_points, load_staff

log = logging.getLogger(__name__)


@dataclass
class District:
    """One bureau's settings and input tables, validated.

    Frames on this object are in WGS-84 (``EPSG:4326``) like the files; ``crs`` is the
    local metric CRS (UTM) to project into for distances and areas. ``network`` loads the road
    network (the orchestrator gives it: :func:`gridmgmt.ops.district.load_district`); ``graph``
    calls it on first use and keeps the result.
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
    network: Callable[[], nx.MultiDiGraph] | None = field(default=None, repr=False)
    _graph: nx.MultiDiGraph | None = field(default=None, repr=False)

    @cached_property
    def crs(self) -> CRS:
        """Local metric CRS (UTM zone of the boundary)."""
        return metric_crs(self.boundary)

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The road network (osmnx MultiDiGraph, WGS-84), loaded once."""
        if self._graph is None:
            if self.network is None:
                raise GridMgmtError(
                    f"{self.settings.name}: the district was read without its road network; load it with "
                    "gridmgmt.ops.district.load_district"
                )
            self._graph = self.network()
        return self._graph


def read_district(path: str | Path) -> District:
    """Load and validate every input table a district.toml names (not the road network, not the store).

    Raises
    ------
    InputError
        Listing every problem found, each naming its file, row and field.
    """
    settings = load_settings(path)
    files = settings.files
    boundary = load_boundary(settings.path("boundary"))
    retailers = load_retailers(settings.path("retailers"), coords=settings.coords.retailers, boundary=boundary)
    ids = set(retailers["retailer_id"])
    events = load_events(settings.path("events"), retailer_ids=ids) if files.events else None
    events = events if events is not None and len(events) else _empty_events()  # header only = no history
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


def _none_if_empty(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """An empty optional layer (a header and no rows, an empty FeatureCollection) counts as absent."""
    return layer if len(layer) else None


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["event_id", "retailer_id", "time", "type", "department", "outcome", "severity", "note"]
    )
