"""A land boundary (issue 20, item 4): the derived boundary leaves out water, the open sea and the
street-less margins, and still holds every retailer (gridmgmt.inputs.land, init's derive_boundary).

The synthetic extracts are written by the tests as OSM XML, in metres east/north of an origin.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmgmt.inputs.land import (
    MIN_AREA_M2,
    RETAILER_MARGIN_M,
    STREET_KEEP_M,
    STREET_REACH_M,
    land_within,
    smooth_outline,
)
from gridmgmt.ops.init import init_district
from gridmgmt.ops.init_derive import derive_boundary, street_lines

ORIGIN = (106.70, 26.58)
M_LAT = 1 / 111_320.0
M_LON = M_LAT / math.cos(math.radians(ORIGIN[1]))
SPACING_M = 100.0
N = 9  # streets: a 9 x 9 grid, 800 m x 800 m
LAKE = (300.0, 300.0, 500.0, 500.0)  # a 4 ha lake in the middle of the town, no street across it
DATA = Path(__file__).parent / "data" / "osm"


def _lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return ORIGIN[0] + x_m * M_LON, ORIGIN[1] + y_m * M_LAT


def _write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]) -> Path:
    """OSM XML of ``nodes`` (id -> metres east, north) and ``ways`` (node ids, tags)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (x, y) in nodes.items():
        lon, lat = _lonlat(x, y)
        lines.append(f'  <node id="{node_id}" version="1" lat="{lat:.8f}" lon="{lon:.8f}"/>')
    for way_id, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _town(path: Path, *, lake: bool = True, coast_y_m: float | None = None) -> Path:
    """The street grid (no street across ``LAKE``), the lake as a closed ``natural=water`` way, and a
    ``natural=coastline`` way ``coast_y_m`` north of the origin running east (land on its left, north)
    that ends inside the retailers' hull, as a clipped extract cuts it."""
    nodes = {i * N + j + 1: (j * SPACING_M, i * SPACING_M) for i in range(N) for j in range(N)}
    x0, y0, x1, y1 = LAKE
    ways = []
    for i in range(N):
        for j in range(N):
            a = i * N + j + 1
            for b in (a + 1 if j + 1 < N else None, a + N if i + 1 < N else None):
                if b is None:
                    continue
                mx, my = (np.array(nodes[a]) + np.array(nodes[b])) / 2
                if not (x0 <= mx <= x1 and y0 <= my <= y1):
                    ways.append(([a, b], {"highway": "residential"}))
    if lake:
        ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        ids = list(range(1000, 1000 + len(ring)))
        nodes.update(dict(zip(ids, ring, strict=True)))
        ways.append(([*ids, ids[0]], {"natural": "water"}))
    if coast_y_m is not None:
        ids = list(range(2000, 2000 + 11))
        nodes.update({k: (-100.0 + 100.0 * n, coast_y_m) for n, k in enumerate(ids)})
        ways.append((ids, {"natural": "coastline"}))
    return _write_osm(path, nodes, ways)


def _shops(*xy: tuple[float, float]) -> gpd.GeoDataFrame:
    lon, lat = zip(*(_lonlat(x, y) for x, y in xy), strict=True)
    frame = pd.DataFrame({"retailer_id": [f"R{i:03d}" for i in range(len(xy))], "lon": lon, "lat": lat})
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")


def _metres(boundary: gpd.GeoDataFrame) -> shapely.Geometry:
    """The boundary in metres east/north of the origin (the tests' frame)."""
    return shapely.transform(boundary.union_all(), lambda lonlat: (lonlat - ORIGIN) / (M_LON, M_LAT))


def _shop_xy(shops: gpd.GeoDataFrame) -> np.ndarray:
    """The shops in metres east/north of the origin, shape (2, n)."""
    return ((shops[["lon", "lat"]].to_numpy() - ORIGIN) / (M_LON, M_LAT)).T


def _inside_grid_shops(rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    """``n`` shops on the town's land: inside the street grid, outside the lake."""
    out = []
    while len(out) < n:
        x, y = rng.uniform(30.0, (N - 1) * SPACING_M - 30.0, 2)
        if not (LAKE[0] - 30 <= x <= LAKE[2] + 30 and LAKE[1] - 30 <= y <= LAKE[3] + 30):
            out.append((float(x), float(y)))
    return out


def test_derived_boundary_leaves_out_a_lake_and_the_streetless_margin(tmp_path) -> None:
    """The lake and the hull's margin beyond the last street are out; every retailer is in, in one piece."""
    network = _town(tmp_path / "town.osm")
    beyond = (800.0 + 190.0, 400.0)  # a shop 190 m east of the last street: beyond its reach, in the extent
    shops = _shops(*_inside_grid_shops(np.random.default_rng(5), 40), beyond)

    boundary, note = derive_boundary(shops, network, name="town")
    land = _metres(boundary)

    assert land.is_valid and shapely.get_num_geometries(land) == 1
    assert shapely.contains_xy(land, *_shop_xy(shops)).all()
    lake = shapely.box(*LAKE)
    assert land.intersection(lake).area < 0.01 * lake.area  # the lake is out
    assert not land.contains(shapely.Point(800.0 + 280.0, 200.0))  # street-less margin inside the hull: out
    assert land.contains(shapely.Point(800.0 + 100.0, 200.0))  # within the streets' reach: in
    # init says what it left out
    water_km2, margin_km2 = (float(v) for v in re.findall(r"([\d.]+) km² of (?:water|street-less)", note))
    assert water_km2 == pytest.approx(lake.area / 1e6, abs=0.01)
    assert margin_km2 > 0.1


def test_coastline_cuts_off_the_open_sea(tmp_path) -> None:
    """A coastline 100 m south of the town (ending inside the hull, as a clipped extract cuts it):
    the sea beyond it is out even where it lies within the streets' reach; the land side stays."""
    network = _town(tmp_path / "coast.osm", lake=False, coast_y_m=-100.0)
    shops = _shops(*_inside_grid_shops(np.random.default_rng(6), 40), (400.0, 10.0))

    boundary, note = derive_boundary(shops, network)
    land = _metres(boundary)

    assert shapely.contains_xy(land, *_shop_xy(shops)).all()
    assert land.contains(shapely.Point(400.0, -60.0))  # land, 40 m north of the coastline
    assert not land.contains(shapely.Point(400.0, -130.0))  # sea within the streets' reach
    assert land.intersection(shapely.box(-100.0, -1000.0, 900.0, -101.0)).area == 0.0  # none south of it
    assert "of water and sea" in note


def test_water_that_would_cut_the_retailers_apart_stays_in() -> None:
    """A river across the town (crossed by bridges) stays in; a pond below MIN_AREA_M2 is filled; a lake is out."""
    area = shapely.box(-300, -300, 1300, 1300)
    streets = np.asarray([shapely.LineString([(0, y), (1000, y)]) for y in range(0, 1001, 100)], dtype=object)
    streets = np.append(streets, [shapely.LineString([(x, 0), (x, 1000)]) for x in (0, 500, 1000)])
    retailers = shapely.points([(100, 200), (900, 300), (200, 800), (800, 900)])
    river = shapely.box(-300, 450, 1300, 550)
    lake = shapely.box(600, 600, 800, 780)
    pond = shapely.box(150, 620, 200, 660)  # 2,000 m2

    land = land_within(area, streets, retailers, water=np.asarray([river, lake, pond], dtype=object))

    assert shapely.get_num_geometries(land.area) == 1
    assert shapely.contains(land.area, retailers).all()
    assert land.area.contains(shapely.Point(500, 500))  # the river, kept
    assert land.kept_water_m2 == pytest.approx(river.intersection(land.area).area, rel=0.05)
    assert not land.area.contains(lake.centroid)
    assert land.area.contains(pond.centroid) and pond.area < MIN_AREA_M2
    assert land.water_m2 == pytest.approx(lake.area, rel=0.01)
    # beyond the reach of the streets (and the closing of its notches) the area is cut
    assert not land.area.contains(shapely.Point(1000 + STREET_REACH_M + 100, 500))
    assert land.margin_m2 > 0


def test_smoothed_outline_cuts_streetless_spits_and_keeps_retailers_and_land_near_streets() -> None:
    """The opening cuts a street-less breakwater; a quay with a street, the land near every street and a
    kiosk's margin stay, a street-less strip joining two quarters stays, nothing is added."""
    town, east = shapely.box(0, 0, 1000, 1000), shapely.box(1500, 0, 2000, 1000)
    breakwater = shapely.box(1000, 400, 1400, 440)  # 40 m wide, no street
    quay = shapely.box(1000, 700, 1400, 740)  # 40 m wide, a street along it
    pier = shapely.box(1000, 100, 1300, 130)  # 30 m wide, no street, a kiosk at its end
    isthmus = shapely.box(1000, 860, 1500, 880)  # 20 m wide, no street: the only way to the east quarter
    land = shapely.union_all([town, east, breakwater, quay, pier, isthmus])
    streets = [shapely.LineString([(x, 0), (x, 1000)]) for x in (100, 300, 500, 700, 900, 1600)]
    streets = np.asarray([*streets, shapely.LineString([(1000, 720), (1390, 720)])], dtype=object)
    retailers = shapely.points([(500, 500), (1290, 115), (1800, 500)])

    smooth = smooth_outline(land, streets, retailers)

    assert smooth.is_valid and smooth.difference(land).area < 1e-6  # nothing added
    assert smooth.intersection(breakwater).area < 0.05 * breakwater.area
    assert smooth.length < land.length - 700  # the breakwater's 800 m of outline
    near = land.intersection(shapely.union_all(shapely.buffer(streets, STREET_KEEP_M)))
    assert near.difference(smooth).area < 1e-3 and smooth.contains(quay.buffer(-1))
    assert shapely.contains(smooth, retailers).all()
    margins = shapely.union_all(shapely.buffer(retailers, RETAILER_MARGIN_M))
    assert land.intersection(margins).difference(smooth).area < 1e-3
    assert shapely.get_num_geometries(smooth) == 1 and smooth.contains(isthmus.buffer(-1))


def test_real_clipped_monaco_boundary_has_no_open_sea() -> None:
    """The clipped Monaco extract and its real shops: the derived boundary leaves out the sea beside the
    town (its buffered hull took in 0.11 km² farther than 200 m from any street, the new one none),
    holds every shop and is one polygon."""
    table = pd.read_csv(DATA / "monaco_district_shops.csv")
    shops = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    network = DATA / "monaco_district_clipped.osm.pbf"

    boundary, note = derive_boundary(shops, network)

    crs = boundary.estimate_utm_crs()
    land = boundary.to_crs(crs).union_all()
    assert land.is_valid and shapely.get_num_geometries(land) == 1
    assert shapely.contains(land, np.asarray(shops.to_crs(crs).geometry.array)).all()
    streets = np.asarray(gpd.GeoSeries(street_lines(network), crs="EPSG:4326").to_crs(crs).geometry.array)
    x0, y0, x1, y1 = land.bounds
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(x0, x1, 20.0), np.arange(y0, y1, 20.0)))
    inside = shapely.contains_xy(land, gx, gy)
    _, far_m = shapely.STRtree(streets).query_nearest(
        shapely.points(gx[inside], gy[inside]), return_distance=True, all_matches=False
    )
    assert far_m.max() < 200.0  # measured 186 m; the hull-only boundary reached 282 m
    water_km2 = float(re.search(r"([\d.]+) km² of water and sea", note).group(1))
    assert water_km2 > 0.2  # measured 0.38 km² of open sea left out; harbour basins stay in
    assert land.area / 1e6 < 4.3  # measured 4.05 km²; the hull-only boundary was 4.69 km²


def test_init_notes_what_the_boundary_left_out(tmp_path) -> None:
    """``init`` writes the derived boundary and says how much water and street-less margin it left out."""
    network = _town(tmp_path / "town.osm")
    table = tmp_path / "shops.csv"
    shops = _shops(*_inside_grid_shops(np.random.default_rng(7), 30))
    shops[["retailer_id", "lon", "lat"]].assign(name="shop").to_csv(table, index=False)

    result = init_district(tmp_path / "town", table, network, depot=_lonlat(400.0, 200.0))

    note = next(n for n in result.notes if n.startswith("boundary:"))
    assert "km² of water and sea" in note and "km² of street-less margin" in note
    land = _metres(gpd.read_file(result.district.parent / "boundary.geojson"))
    assert land.intersection(shapely.box(*LAKE)).area < 0.01 * shapely.box(*LAKE).area
