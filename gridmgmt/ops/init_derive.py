"""What ``gridmgmt init`` derives when an input is missing: boundary, depot, subdistricts, street points."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from gridmgmt._errors import InputError, Problem
from gridmgmt.coords import WGS84, metric_crs
from gridmgmt.inputs.checks import is_csv
from gridmgmt.inputs.land import STREET_REACH_M, land_within, water_features
from gridmgmt.network import GRAPHML_SUFFIXES, NETWORK_SUFFIXES, load_network, snap_points

log = logging.getLogger(__name__)
G = TypeVar("G", BaseGeometry, np.ndarray)  # a geometry, or an array of them

BOUNDARY_BUFFER_M = 300.0  # the derived boundary reaches this far beyond the outermost retailers
CONCAVE_RATIO = 0.3  # shapely.concave_hull ratio: 0 follows the points closely, 1 is the convex hull
EXTENT_TOLERANCE_M = 200.0  # retailers this far outside the street network are errors (as in load_retailers)
SLIVER_SHARE = 0.01  # administrative pieces under this share of the district area are dropped
DEPOT_NAME = "局机关 depot"


def network_suffix(path: Path) -> str:
    """The network file's suffix (``.osm.pbf``, ``.osm.gz``, ``.graphml``...), '' when it has none of them."""
    lower = path.name.lower()
    return next((s for s in sorted(NETWORK_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), "")


def depot_table(lon: float, lat: float, *, name: str = DEPOT_NAME) -> pd.DataFrame:
    """The one-depot table of a new district."""
    return pd.DataFrame({"depot_id": ["D1"], "name": [name], "lon": [lon], "lat": [lat]})


def _metric_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """The UTM zone of the points' median, as a CRS string."""
    centre = gpd.GeoSeries(gpd.points_from_xy([np.median(lon)], [np.median(lat)]), crs=WGS84)
    return metric_crs(centre).to_string()


def derive_boundary(
    retailers: gpd.GeoDataFrame,
    network: str | os.PathLike,
    *,
    name: str = "",
    file: str = "retailers",
) -> tuple[gpd.GeoDataFrame, str]:
    """The land around the retailers: their buffered concave hull within the streets' reach, without water.

    The retailers' concave hull (ratio ``CONCAVE_RATIO``) buffered ``BOUNDARY_BUFFER_M`` m and
    clipped to the street network's extent (widened by ``EXTENT_TOLERANCE_M``), cut down by
    :func:`gridmgmt.inputs.land.land_within` to the streets' reach (``STREET_REACH_M``) without
    the extract's water areas and the sea side of its coastline: one valid (multi)polygon holding
    every retailer.

    Parameters
    ----------
    retailers
        WGS-84 points.
    network
        The OSM extract or GraphML the streets (and, from OSM, the water) come from.
    name
        The district's name, written in the ``name`` column.
    file
        The retailer file, named in problems.

    Returns
    -------
    (geopandas.GeoDataFrame, str)
        One row (``name``), WGS-84 polygon; and a note saying how it was derived and what was left out.

    Raises
    ------
    InputError
        When the extract has no streets, or retailers lie farther than ``EXTENT_TOLERANCE_M``
        outside its street network's extent.
    """
    streets = street_lines(network)
    lon, lat = retailers.geometry.x.to_numpy(), retailers.geometry.y.to_numpy()
    crs = _metric_crs(lon, lat)
    to_m = Transformer.from_crs(WGS84, crs, always_xy=True)
    x, y = to_m.transform(lon, lat)
    box = shapely.box(*shapely.total_bounds(streets))
    box_m = _transform(shapely.segmentize(box, 0.001), to_m).buffer(EXTENT_TOLERANCE_M, join_style="mitre")
    points = shapely.points(x, y)
    outside = ~shapely.covers(box_m, points)
    if outside.any():
        raise InputError(_outside_problems(retailers, outside, file))
    hull = shapely.concave_hull(shapely.MultiPoint(np.column_stack([x, y])), ratio=CONCAVE_RATIO)
    area = shapely.make_valid(hull.buffer(BOUNDARY_BUFFER_M).intersection(box_m))
    water = coast = np.empty(0, dtype=object)  # GraphML holds streets only
    if network_suffix(Path(network)) not in GRAPHML_SUFFIXES:
        water, coast = water_features(network)
    land = land_within(
        area, _transform(streets, to_m), points, water=_transform(water, to_m), coastline=_transform(coast, to_m)
    )
    back = Transformer.from_crs(crs, WGS84, always_xy=True)
    frame = gpd.GeoDataFrame({"name": [name]}, geometry=[_transform(land.area, back)], crs=WGS84)
    note = (
        f"derived from the retailers' concave hull buffered {BOUNDARY_BUFFER_M:.0f} m, clipped to the road network's "
        f"extent and to {STREET_REACH_M:.0f} m around its streets, without water ({land.area.area / 1e6:.1f} km²; "
        f"left out: {land.water_m2 / 1e6:.2f} km² of water and sea, {land.margin_m2 / 1e6:.2f} km² of street-less "
        "margin)"
    )
    if land.kept_water_m2 > 0:
        note += f"; {land.kept_water_m2 / 1e6:.2f} km² of water kept: leaving it out would cut the retailers apart"
    return frame, note


def _transform(geometry: G, transformer: Transformer) -> G:
    def coords(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geometry, coords)


def _outside_problems(retailers: gpd.GeoDataFrame, outside: np.ndarray, file: str) -> list[Problem]:
    rows = np.flatnonzero(outside)
    unit, offset = ("row", 2) if is_csv(file) else ("record", 1)
    problems = [
        Problem(
            file=file,
            row=int(i) + offset,
            unit=unit,
            field="lon, lat",
            value=str(retailers["retailer_id"].iloc[i]),
            message=f"lies more than {EXTENT_TOLERANCE_M:.0f} m outside the road network extract",
            hint="use an extract that covers every retailer, or check its coordinates and --coords",
        )
        for i in rows[:20]
    ]
    if len(rows) > 20:
        problems.append(Problem(file=file, message=f"{len(rows) - 20} more retailers lie outside the extract"))
    return problems


def street_lines(path: str | os.PathLike) -> np.ndarray:
    """The streets of an extract as WGS-84 line strings (points for ways with one node in the file).

    OSM files are streamed once with osmium (``highway=*`` ways; references to nodes missing
    from a clipped extract are skipped); GraphML is loaded (its edges).

    Raises
    ------
    InputError
        When the file has no streets.
    """
    source = Path(path)
    if network_suffix(source) in GRAPHML_SUFFIXES:
        import osmnx as ox

        edges = ox.convert.graph_to_gdfs(load_network(source), nodes=False, fill_edge_geometry=True)
        lines = np.asarray(edges.geometry.array, dtype=object)
    else:
        ways = [np.column_stack(way) for way in _street_coordinates(source)]
        lines = np.asarray([shapely.linestrings(xy) if len(xy) > 1 else shapely.points(xy[0]) for xy in ways])
    if not len(lines):
        raise InputError(
            Problem(
                file=str(source),
                message="no streets (highway ways) in the road network file",
                hint="use an OSM extract with highway=* ways covering the district",
            )
        )
    return lines


def _street_coordinates(source: Path) -> Iterator[tuple[list[float], list[float]]]:
    """(lons, lats) of each ``highway=*`` way's nodes present in the file, way by way."""
    import osmium

    ways = (
        osmium.FileProcessor(str(source))
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        for way in ways:
            if not isinstance(way, osmium.osm.Way):
                continue
            located = [node.location for node in way.nodes if node.location.valid()]
            if located:
                yield [loc.lon for loc in located], [loc.lat for loc in located]
    except RuntimeError as exc:  # osmium parser errors: name the file
        raise InputError(
            Problem(file=str(source), message=f"cannot read the road network: {exc}", hint="download the extract again")
        ) from None


def derive_depot(retailers: gpd.GeoDataFrame, graph: nx.MultiDiGraph) -> tuple[pd.DataFrame, str]:
    """One depot D1: the retailers' centre (mean in a metric CRS) snapped to the nearest street node.

    ``graph`` is the district's road network (:func:`gridmgmt.network.load_network`).

    Returns
    -------
    (pandas.DataFrame, str)
        The depot table (``depot_id``, ``name``, ``lon``, ``lat``; WGS-84 degrees) and a note.
    """
    lon, lat = retailers.geometry.x.to_numpy(), retailers.geometry.y.to_numpy()
    crs = _metric_crs(lon, lat)
    to_m = Transformer.from_crs(WGS84, crs, always_xy=True)
    back = Transformer.from_crs(crs, WGS84, always_xy=True)
    x, y = to_m.transform(lon, lat)
    cx, cy = float(np.mean(x)), float(np.mean(y))
    clon, clat = back.transform(cx, cy)
    try:
        snap = snap_points(graph, [clon], [clat], mode="ebike").iloc[0]
    except ValueError:  # no street e-bikes may use: any street
        snap = snap_points(graph, [clon], [clat]).iloc[0]
    node = snap["u"] if snap["frac"] <= 0.5 else snap["v"]
    nlon, nlat = float(graph.nodes[node]["x"]), float(graph.nodes[node]["y"])
    nx_m, ny_m = to_m.transform(nlon, nlat)
    away = math.hypot(nx_m - cx, ny_m - cy)
    table = depot_table(round(nlon, 7), round(nlat, 7), name=f"{DEPOT_NAME} (derived)")
    note = (
        f"D1 derived: the retailers' centre snapped to the nearest street node ({away:.0f} m away) "
        f"at {nlon:.6f}, {nlat:.6f}"
    )
    return table, note


def admin_areas(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """The ``boundary=administrative`` areas of an OSM extract (relations and closed ways).

    Areas whose rings a clipped extract leaves open cannot be built and are skipped.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id`` (e.g. ``r1234``, ``w56``), ``admin_level`` (int), ``name``, ``name_zh``,
        ``name_en``; WGS-84 (multi)polygons. Empty for GraphML or an extract without any.
    """
    columns = ["osm_id", "admin_level", "name", "name_zh", "name_en"]
    source = Path(path)
    rows: list[dict] = []
    if network_suffix(source) not in GRAPHML_SUFFIXES:
        import osmium

        wkb = osmium.geom.WKBFactory()
        admin = osmium.filter.TagFilter(("boundary", "administrative"))
        areas = (
            osmium.FileProcessor(str(source))
            .with_areas(admin)
            .with_filter(osmium.filter.EntityFilter(osmium.osm.AREA))
            .with_filter(osmium.filter.TagFilter(("boundary", "administrative")))
        )
        for area in areas:
            if not isinstance(area, osmium.osm.Area):
                continue
            level = area.tags.get("admin_level") or ""
            if not level.isdigit():
                continue
            try:
                geometry = shapely.from_wkb(wkb.create_multipolygon(area))
            except RuntimeError:  # an invalid or incomplete ring
                continue
            tags = area.tags
            name = tags.get("name", "")
            rows.append(
                {
                    "osm_id": f"{'w' if area.from_way() else 'r'}{area.orig_id()}",
                    "admin_level": int(level),
                    "name": name,
                    "name_zh": tags.get("name:zh", tags.get("name:zh-Hans", name)),
                    "name_en": tags.get("name:en", name),
                    "geometry": geometry,
                }
            )
    if not rows:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)


def derive_subdistricts(
    boundary: gpd.GeoDataFrame, network: str | os.PathLike, *, name: str = ""
) -> tuple[gpd.GeoDataFrame, str]:
    """Subdistricts of the district: the extract's finest administrative level covering most of it.

    A level qualifies when its areas, clipped to the boundary (pieces under ``SLIVER_SHARE``
    of the district dropped), cover at least half of the district; the part no area covers,
    when larger than a sliver, becomes one more subdistrict. Without a qualifying level the
    whole boundary is the one subdistrict.

    Returns
    -------
    (geopandas.GeoDataFrame, str)
        ``subdistrict_id`` (S01, ...), ``name_zh``, ``name_en``, ``admin_level``, ``osm_id``;
        WGS-84 polygons; and a note saying where they came from. There is no ``area_type``
        (old/new town): OSM does not say; a bureau may add the column.
    """
    areas = admin_areas(network)
    crs = metric_crs(boundary)
    district = shapely.make_valid(boundary.to_crs(crs).union_all())
    total = district.area
    chosen: gpd.GeoDataFrame | None = None
    level = 0
    if len(areas):
        metric = areas.to_crs(crs)
        for level in sorted(set(metric["admin_level"]), reverse=True):
            at = metric.loc[metric["admin_level"] == level].copy()
            at["geometry"] = [shapely.make_valid(g).intersection(district) for g in at.geometry]
            at = at.loc[at.geometry.area >= SLIVER_SHARE * total]
            if len(at) and at.union_all().area >= 0.5 * total:
                chosen = at
                break
    if chosen is None:
        one = gpd.GeoDataFrame(
            {"subdistrict_id": ["S01"], "name_zh": [name], "name_en": [name], "admin_level": [None], "osm_id": [""]},
            geometry=[district],
            crs=crs,
        ).to_crs(WGS84)
        found = f"{len(areas)} administrative areas in the extract, none covering" if len(areas) else "none in"
        return one, f"{found} the district; one subdistrict = the boundary"
    chosen = chosen.sort_values(["name", "osm_id"]).reset_index(drop=True)
    rest = district.difference(chosen.union_all())
    parts = [chosen[["name_zh", "name_en", "admin_level", "osm_id", "geometry"]]]
    if rest.area >= SLIVER_SHARE * total:
        parts.append(
            gpd.GeoDataFrame(
                {"name_zh": ["其他"], "name_en": ["other"], "admin_level": [None], "osm_id": [""]},
                geometry=[rest],
                crs=crs,
            )
        )
    subs = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs).to_crs(WGS84)
    width = max(2, len(str(len(subs))))
    subs.insert(0, "subdistrict_id", [f"S{i:0{width}d}" for i in range(1, len(subs) + 1)])
    share = chosen.union_all().area / total
    note = f"{len(chosen)} administrative areas (admin_level {level}) from the extract, covering {share:.0%}"
    if len(subs) > len(chosen):
        note += "; the rest is one more subdistrict '其他 other'"
    return subs, note
