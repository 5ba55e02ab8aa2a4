"""The land of a district: the streets' reach, without water areas and the sea.

A boundary derived from the retailers (``gridmgmt init``) should hold the streets the squads patrol,
not the sea beside a coastal town nor the hills beyond its last street. :func:`land_within` cuts an
area (the retailers' buffered hull) down to

* the streets' reach: within ``STREET_REACH_M`` of a street centreline, notches narrower than
  ``2 * CLOSING_M`` between the reaches closed (a smooth outline) and every street-less area inside
  filled (a park or a hill inside the town belongs to it; only the margins are cut);
* without water: the areas tagged as in ``WATER_TAGS`` and the open sea: the sea side of
  ``natural=coastline`` ways (OSM draws a coastline with the land on its left), without the
  inlets and harbour basins whose mouth is narrower than ``2 * SEA_INLET_M`` (they stay in, as
  the quays around them do). Coastline ways are lines, and a clipped extract cuts them where it
  ends: the sea is cut off where the coastline crosses the area from edge to edge, its cut ends
  extended straight by up to ``COAST_EXTEND_M`` to meet the edge; wherever it does not, the
  streets' reach is what keeps the open sea out.

Water that would cut the retailers apart (a river through the town, crossed by bridges) stays in,
and so does the land within ``RETAILER_MARGIN_M`` of every retailer (a kiosk on a pier, a shop
beyond the last street): the result holds every retailer and, when the hull does, in one piece.

Last, the outline is smoothed (:func:`smooth_outline`): parts narrower than ``2 * OPENING_M`` that
lie farther than ``STREET_KEEP_M`` from every street (breakwaters, spits, the scallops between the
streets' reaches) are cut off. It only ever removes land, never a retailer's margin, never land
near a street, and never splits the retailers apart.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)

#: OSM tags of water areas
WATER_TAGS = (
    ("natural", "water"),
    ("waterway", "riverbank"),
    ("landuse", "reservoir"),
    ("natural", "bay"),
    ("place", "sea"),
)
STREET_REACH_M = 150.0  # land reaches this far beyond a street centreline
CLOSING_M = 300.0  # notches narrower than twice this between the streets' reaches are closed
SEA_INLET_M = 150.0  # inlets and harbour basins with a mouth narrower than twice this are not open sea
RETAILER_MARGIN_M = 50.0  # land within this of a retailer beyond the streets' reach or in water is kept
MIN_AREA_M2 = 10_000.0  # water and holes smaller than this are ignored, pieces without retailers dropped
COAST_EXTEND_M = 1000.0  # a coastline ending inside the area (where the extract was cut) is extended this far
OPENING_M = 75.0  # the smoothed outline leaves out land narrower than twice this ...
STREET_KEEP_M = 25.0  # ... unless within this of a street
_PROBE_M = 0.5  # the sea-side probes lie this far right (and left) of a coastline segment


@dataclass(frozen=True)
class Land:
    """What :func:`land_within` kept and cut (metric CRS).

    Attributes
    ----------
    area
        The land: a valid (multi)polygon, metres.
    water_m2
        Water and sea cut off, m2.
    margin_m2
        Street-less margin cut off (beyond the streets' reach, and pieces holding no retailer), m2.
    kept_water_m2
        Water left in because cutting it off would cut the retailers apart, m2.
    """

    area: BaseGeometry
    water_m2: float
    margin_m2: float
    kept_water_m2: float


def water_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Water areas and coastline ways of an OSM extract, WGS-84.

    Areas (closed ways and multipolygon relations) with a tag of ``WATER_TAGS``; those a clipped
    extract leaves incomplete cannot be built and are skipped. Coastline ways keep their direction
    (land on the left).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (Multi)polygons and line strings, degrees.
    """
    import osmium

    water = osmium.filter.TagFilter(*WATER_TAGS)
    wkb = osmium.geom.WKBFactory()
    objects = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(water)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.AREA))
        .with_filter(osmium.filter.TagFilter(*WATER_TAGS, ("natural", "coastline")))
    )
    areas, coast = [], []
    for obj in objects:
        try:
            if isinstance(obj, osmium.osm.Area):
                areas.append(shapely.from_wkb(wkb.create_multipolygon(obj)))
            elif isinstance(obj, osmium.osm.Way) and obj.tags.get("natural") == "coastline":
                located = [(n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
                if len(located) > 1:
                    coast.append(shapely.linestrings(located))
        except RuntimeError:  # an invalid or incomplete ring
            continue
    return np.asarray(areas, dtype=object), np.asarray(coast, dtype=object)


def land_within(
    area: BaseGeometry,
    streets: np.ndarray,
    retailers: np.ndarray,
    *,
    water: np.ndarray | None = None,
    coastline: np.ndarray | None = None,
    reach_m: float = STREET_REACH_M,
) -> Land:
    """The land of ``area``: within the streets' reach, without water and the sea side of the coastline.

    Every geometry in one metric CRS.

    Parameters
    ----------
    area
        The area to cut down (e.g. the retailers' buffered concave hull), metres.
    streets
        Street centrelines (line strings; points for one-node ways).
    retailers
        Retailer points; each stays inside the land with ``RETAILER_MARGIN_M`` around it.
    water
        Water (multi)polygons, e.g. from :func:`water_features`.
    coastline
        Coastline line strings with the land on their left.
    reach_m
        Land reaches this far beyond a street centreline, metres.

    Returns
    -------
    Land
    """
    area = shapely.make_valid(area)
    total = area.area
    reach = street_reach(streets, area, reach_m)
    land = area.intersection(shapely.union_all([reach, _margins(retailers, reach)]))
    reached = land.area
    wet = shapely.union_all([*(water if water is not None else []), sea_side(area, coastline)])
    wet = shapely.make_valid(wet).intersection(land)
    wet = wet.difference(_margins(retailers, wet, inside=True))
    pieces = _pieces_holding(land, retailers)
    kept_water = 0.0
    for w in sorted(_polygons(wet, MIN_AREA_M2), key=shapely.area, reverse=True):
        cut = land.difference(w)
        if _pieces_holding(cut, retailers) > pieces:  # a river through the town: crossed by bridges, kept
            kept_water += w.area
        else:
            land = cut
    dry = land.area
    land = _tidy(smooth_outline(land, streets, retailers), retailers)
    logger.debug("land: %.2f km2 of %.2f km2", land.area / 1e6, total / 1e6)
    return Land(
        area=land, water_m2=reached - dry, margin_m2=total - reached + dry - land.area, kept_water_m2=kept_water
    )


def smooth_outline(
    land: BaseGeometry,
    streets: np.ndarray,
    retailers: np.ndarray,
    *,
    opening_m: float = OPENING_M,
    keep_m: float = STREET_KEEP_M,
) -> BaseGeometry:
    """``land`` without its parts narrower than ``2 * opening_m`` lying farther than ``keep_m`` from every street.

    A morphological opening (shrink by ``opening_m``, grow back) cuts off narrow spits, piers
    and the notches' sharp corners, so grids drawn on the land have shorter outlines. The land
    within ``keep_m`` of a street and within ``RETAILER_MARGIN_M`` of a retailer always stays,
    and nothing is ever added (the result lies within ``land``); a narrow part joining two pieces
    of the result stays too, so the retailers are never split apart. Metric CRS throughout.

    Parameters
    ----------
    land
        The land, (multi)polygon, metres.
    streets
        Street centrelines (line strings; points for one-node ways), metres.
    retailers
        Retailer points, metres.
    opening_m
        Half the width of the narrowest part kept, metres.
    keep_m
        Land this close to a street is never cut, metres.

    Returns
    -------
    BaseGeometry
        A (multi)polygon within ``land``.
    """
    if land.is_empty or opening_m <= 0 or not len(streets):
        return land
    near = streets[shapely.STRtree(streets).query(land, predicate="dwithin", distance=keep_m)]
    keep = shapely.union_all([*shapely.buffer(near, keep_m, quad_segs=2), _margins(retailers, shapely.Polygon())])
    opened = shapely.buffer(shapely.buffer(land, -opening_m, quad_segs=4), opening_m, quad_segs=4)
    smooth = shapely.make_valid(shapely.union(opened, keep).intersection(land))
    if _pieces_holding(smooth, retailers) > _pieces_holding(land, retailers):
        # put back what was cut between pieces (a street-less isthmus between two quarters)
        pieces = np.asarray(_polygons(smooth), dtype=object)
        joins = [p for p in _polygons(land.difference(smooth)) if shapely.intersects(pieces, p.buffer(0.01)).sum() > 1]
        smooth = shapely.make_valid(shapely.union_all([smooth, *joins]))
    return smooth


def _margins(points: np.ndarray, geometry: BaseGeometry, *, inside: bool = False) -> BaseGeometry:
    """Discs of ``RETAILER_MARGIN_M`` around the ``points`` outside ``geometry`` (or inside it)."""
    chosen = points[shapely.intersects(geometry, points) == inside]
    return shapely.union_all(shapely.buffer(chosen, RETAILER_MARGIN_M, quad_segs=4))


def street_reach(streets: np.ndarray, area: BaseGeometry, reach_m: float = STREET_REACH_M) -> BaseGeometry:
    """The land within ``reach_m`` of the streets near ``area``, notches closed and holes filled (metres)."""
    near = streets[shapely.STRtree(streets).query(area, predicate="dwithin", distance=reach_m + CLOSING_M)]
    if not near.size:
        return shapely.Polygon()
    lines = shapely.simplify(near, 5.0)  # metres: the outline is coarser than this anyway
    grown = shapely.union_all(shapely.buffer(lines, reach_m + CLOSING_M, quad_segs=2))
    reach = shapely.buffer(grown, -CLOSING_M, quad_segs=2)
    return shapely.union_all([shapely.Polygon(p.exterior) for p in _polygons(reach)])


def sea_side(area: BaseGeometry, coastline: np.ndarray | None, inlet_m: float = SEA_INLET_M) -> BaseGeometry:
    """The open sea in ``area``: its parts on the sea side (right) of the coastline ways crossing it (metres).

    ``area`` is cut along the coastline (its ends inside the area extended straight by
    ``COAST_EXTEND_M``) into faces; a face is sea when the coastline on its edge has it on the
    right for over three times the length it has it on the left. Faces no coastline bounds (a
    coastline that ends too far inside the area cuts nothing) are land. Inlets and harbour basins
    of at least ``MIN_AREA_M2`` whose mouth is narrower than ``2 * inlet_m`` are not open sea:
    they fall off the sea opened by ``inlet_m`` (eroded and grown back), which still reaches the
    edge of the area. All this on ``area`` grown by ``2 * inlet_m``, so that a narrow strip of
    sea along the edge of ``area`` is open sea too.
    """
    if coastline is None or not len(coastline) or area.is_empty:
        return shapely.Polygon()
    whole, area = area, shapely.buffer(area, 2 * inlet_m, quad_segs=4)
    coast = coastline[shapely.intersects(coastline, area)]
    if not coast.size:
        return shapely.Polygon()
    lines = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(coast), directed=True))
    cutters = [_extended(line, area) for line in lines]
    noded = shapely.union_all([*cutters, shapely.boundary(area)])
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    faces = faces[shapely.contains(area, shapely.point_on_surface(faces))]
    if not faces.size:
        return shapely.Polygon()
    # probes half a metre right (sea) and left (land) of every coastline segment, weighted by its length
    a, b = _segments(coast)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    ok = length > 4 * _PROBE_M
    a, d, length = a[ok], d[ok], length[ok]
    mid = a + d / 2
    right = np.column_stack([d[:, 1], -d[:, 0]]) / length[:, None] * _PROBE_M
    tree = shapely.STRtree(faces)
    votes = np.zeros((2, len(faces)))  # coastline length with the face on its right, on its left
    for side, probes in enumerate((mid + right, mid - right)):
        probe, face = tree.query(shapely.points(probes), predicate="within")
        np.add.at(votes[side], face, length[probe])
    sea = shapely.union_all(faces[votes[0] > 3 * votes[1]])
    opened = shapely.buffer(shapely.buffer(sea, -inlet_m, quad_segs=4), inlet_m, quad_segs=4)
    edge = shapely.buffer(shapely.boundary(area), 1.0)
    open_sea = shapely.union_all([p for p in _polygons(opened) if shapely.intersects(p, edge)])
    inlets = _polygons(sea.difference(open_sea), MIN_AREA_M2)  # not the slivers the opening rounds off
    return sea.difference(shapely.union_all(inlets)).intersection(whole)


def _extended(line: shapely.LineString, area: BaseGeometry) -> shapely.LineString:
    """``line`` with each end inside ``area`` extended straight by ``COAST_EXTEND_M`` (its last 50 m's heading)."""
    if line.is_closed:
        return line
    xy = shapely.get_coordinates(line)
    back = min(50.0, line.length / 2)
    ends = [(xy[0], shapely.get_coordinates(line.interpolate(back))[0], 0)]
    ends.append((xy[-1], shapely.get_coordinates(line.interpolate(line.length - back))[0], len(xy)))
    for end, before, at in reversed(ends):  # the tail first, so the head's index stays 0
        heading = end - before
        norm = float(np.hypot(*heading))
        if norm > 0 and shapely.contains_xy(area, *end):
            xy = np.insert(xy, at, end + heading / norm * COAST_EXTEND_M, axis=0)
    return shapely.LineString(xy)


def _segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of every segment of ``lines``, in drawing order."""
    xy, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]
    return xy[:-1][same], xy[1:][same]


def _polygons(geometry: BaseGeometry, min_m2: float = 0.0) -> list[shapely.Polygon]:
    """The polygon parts of ``geometry`` (of any type) of at least ``min_m2``."""
    parts = shapely.get_parts(geometry)
    out = []
    for part in parts:
        if shapely.get_type_id(part) == 7:  # a collection
            out += _polygons(part, min_m2)
        elif shapely.get_type_id(part) in (3, 6):
            out += [p for p in shapely.get_parts(part) if p.area >= min_m2 and p.area > 0]
    return out


def _pieces_holding(land: BaseGeometry, points: np.ndarray) -> int:
    """Number of polygon pieces of ``land`` that hold at least one of ``points``."""
    return sum(bool(shapely.intersects(p, points).any()) for p in _polygons(land))


def _tidy(land: BaseGeometry, retailers: np.ndarray) -> BaseGeometry:
    """Zero-width spikes cut, pieces holding no retailer dropped, holes under ``MIN_AREA_M2`` filled; valid."""
    # cutting water out of the streets' reach leaves spikes where their outlines run nearly together
    land = shapely.buffer(shapely.buffer(land, -0.01, join_style="mitre"), 0.01, join_style="mitre")
    parts = []
    for p in _polygons(shapely.make_valid(land)):
        if not shapely.intersects(p, retailers).any():
            continue
        holes = [r for r in p.interiors if shapely.Polygon(r).area >= MIN_AREA_M2]
        parts.append(shapely.Polygon(p.exterior, holes))
    return shapely.make_valid(shapely.union_all(parts))
