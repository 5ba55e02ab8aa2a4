"""Travel as squads really travel: per-mode access from OSM tags, pushing, strongly connected
components, park and walk, and naming what stays unreachable (gridmgmt.network.access/.reach).

Each synthetic network is written by the test as OSM XML (coordinates in metres east/north of
an origin in Monaco) and loaded with ``load_network`` like a real extract.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmgmt.network import (
    PARK_S,
    distance_matrix,
    load_network,
    network_arrays,
    reachability,
    shortest_path_geometry,
    travel_time_matrix,
    way_access,
)
from gridmgmt.network.access import keeps_way
from gridmgmt.patrol.route_lines import route_lines
from gridmgmt.patrol.squads import Squad, SquadRoster

ORIGIN = (7.4200, 43.7300)
M_LAT = 1 / 111_320.0
M_LON = M_LAT / math.cos(math.radians(ORIGIN[1]))
WALK_MPS, EBIKE_MPS, RESIDENTIAL_MPS = 4.5 / 3.6, 15 / 3.6, 20 / 3.6  # defaults; residential has no maxspeed
DATA = Path(__file__).parent / "data" / "osm"


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """WGS-84 of a point ``x_m`` east and ``y_m`` north of the origin."""
    return ORIGIN[0] + x_m * M_LON, ORIGIN[1] + y_m * M_LAT


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict[str, str]]]) -> Path:
    """An OSM XML file of ``nodes`` (id -> metres east, north) and ``ways`` (node ids, tags)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (x, y) in nodes.items():
        lon, lat = lonlat(x, y)
        lines.append(f'  <node id="{node_id}" version="1" lat="{lat:.8f}" lon="{lon:.8f}"/>')
    for way_id, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in {"highway": "residential", **tags}.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def points(*xy: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = zip(*(lonlat(x, y) for x, y in xy), strict=True)
    return np.array(lon), np.array(lat)


def matrices(graph: nx.MultiDiGraph, pts: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    return {m: travel_time_matrix(graph, pts, mode=m, dtype=np.float64) for m in ("walk", "ebike", "car")}


# ---------------------------------------------------------------- the rules, tag by tag


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "footway"}, {"walk": "ww", "ebike": "pp", "car": "--"}),
        ({"highway": "residential", "oneway": "yes"}, {"walk": "ww", "ebike": "rp", "car": "d-"}),
        ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, {"ebike": "rr", "car": "d-"}),
        ({"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"}, {"ebike": "rr"}),
        ({"highway": "residential", "junction": "roundabout"}, {"walk": "ww", "ebike": "r-", "car": "d-"}),
        ({"highway": "motorway"}, {"walk": "--", "ebike": "--", "car": "d-"}),
        ({"highway": "residential", "bicycle": "no"}, {"walk": "ww", "ebike": "--", "car": "dd"}),
        ({"highway": "pedestrian", "access": "no", "foot": "yes"}, {"walk": "ww", "ebike": "--", "car": "--"}),
        ({"highway": "service", "motor_vehicle": "private"}, {"walk": "ww", "ebike": "rr", "car": "--"}),
        ({"highway": "service", "access": "private", "motorcar": "destination"}, {"walk": "--", "car": "dd"}),
        ({"highway": "footway", "access": "yes"}, {"car": "--"}),  # access=yes opens no class
        ({"highway": "footway", "bicycle": "designated"}, {"ebike": "rr"}),
        ({"highway": "footway", "oneway:foot": "yes"}, {"walk": "w-", "ebike": "p-"}),
        ({"highway": "cycleway", "bicycle": "dismount"}, {"ebike": "--"}),  # no walking on cycleways: no push
        ({"highway": "path", "bicycle": "dismount"}, {"ebike": "pp"}),
        ({"highway": "trunk", "motorroad": "yes"}, {"walk": "--", "ebike": "--", "car": "dd"}),
    ],
)
def test_way_access_follows_the_tag_hierarchy(tags: dict[str, str], expected: dict[str, str]) -> None:
    """Most specific tag wins; one-ways bind cars and e-bikes; e-bikes are pushed where only walking is allowed."""
    got = way_access(tags)
    assert {mode: "".join(got[mode]) for mode in expected} == expected


def test_country_preset_and_extract_filter() -> None:
    """`cn` closes trunk roads to e-bikes and walkers; the extract keeps access=no ways only if a mode may use them."""
    assert way_access({"highway": "trunk"}, "default")["ebike"] == ("r", "r")
    assert way_access({"highway": "trunk"}, "cn")["ebike"] == ("-", "-")
    assert way_access({"highway": "trunk"}, "cn")["car"] == ("d", "d")
    assert not keeps_way({"highway": "footway", "access": "no"})
    assert keeps_way({"highway": "footway", "access": "no", "foot": "yes"})
    assert keeps_way({"highway": "service", "access": "private"})  # cars refused, still a street


# ---------------------------------------------------------------- loading: tags reach the edges


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    """A 3 x 3 grid (100 m) with tagged streets and a spur whose halves differ in access."""
    nodes = {10 * r + c + 1: (100.0 * c, 100.0 * r) for r in range(3) for c in range(3)}
    nodes |= {40: (300.0, 200.0), 41: (400.0, 200.0), 50: (50.0, 50.0)}
    ways: list[tuple[list[int], dict[str, str]]] = [
        ([1, 2, 3], {}),
        ([11, 12, 13], {"bicycle": "no"}),
        ([21, 22, 23], {}),
        ([1, 11, 21], {"highway": "service", "access": "no", "foot": "yes"}),
        ([2, 12, 22], {"motor_vehicle": "private"}),
        ([3, 13, 23], {}),
        ([23, 40], {}),
        ([40, 41], {"bicycle": "no"}),  # 40 has two neighbours: osmnx would merge 23-40-41
        ([1, 50], {"access": "no"}),  # no mode may use it: dropped by the extract
    ]
    return load_network(write_osm(tmp_path_factory.mktemp("tagged") / "tagged.osm", nodes, ways))


def test_tags_set_per_mode_times_on_edges(tagged: nx.MultiDiGraph) -> None:
    """access=no + foot=yes is kept for walking only; bicycle=no and motor_vehicle=private close one mode."""
    west = tagged.edges[1, 11, 0]
    assert math.isfinite(west["time_s_walk"]) and math.isinf(west["time_s_ebike"]) and math.isinf(west["time_s_car"])
    middle = tagged.edges[11, 12, 0]
    assert math.isinf(middle["time_s_ebike"]) and math.isinf(tagged.edges[12, 11, 0]["time_s_ebike"])
    assert math.isfinite(middle["time_s_car"]) and math.isfinite(middle["time_s_walk"])
    private = tagged.edges[2, 12, 0]
    assert math.isinf(private["time_s_car"])
    assert private["time_s_ebike"] == pytest.approx(private["length"] / EBIKE_MPS)
    assert 50 not in tagged.nodes  # the access=no way without an exception


def test_osmnx_settings_are_restored(tagged: nx.MultiDiGraph) -> None:
    """Loading widens osmnx's kept way tags only while it reads: the global setting is as before."""
    import osmnx as ox

    assert "bicycle" in tagged.edges[11, 12, 0] and "motor_vehicle" in tagged.edges[2, 12, 0]
    assert "bicycle" not in ox.settings.useful_tags_way and "foot" not in ox.settings.useful_tags_way


def test_simplification_keeps_access_changes(tagged: nx.MultiDiGraph) -> None:
    """The spur 23-40-41 is not merged into one edge: its halves differ for e-bikes."""
    assert 40 in tagged.nodes
    assert math.isfinite(tagged.edges[23, 40, 0]["time_s_ebike"])
    assert math.isinf(tagged.edges[40, 41, 0]["time_s_ebike"])


def test_graphml_keeps_access(tagged: nx.MultiDiGraph, tmp_path: Path) -> None:
    """A GraphML copy routes like the original: codes and tags survive the round trip."""
    import osmnx as ox

    path = tmp_path / "tagged.graphml"
    ox.save_graphml(tagged, path)
    back = load_network(path)
    for u, v, k, data in tagged.edges(keys=True, data=True):
        for attr in ("time_s_walk", "time_s_ebike", "time_s_car", "time_s_ebike_back"):
            assert back.edges[u, v, k][attr] == pytest.approx(data[attr])


def test_graphml_without_codes_reads_the_tags(tagged: nx.MultiDiGraph, tmp_path: Path) -> None:
    """A GraphML made elsewhere (no travel codes, only tags) gets the same access from its tags."""
    import osmnx as ox

    bare = tagged.copy()
    for _, _, data in bare.edges(data=True):
        for attr in [a for a in data if a.startswith(("time_s_", "travel"))]:
            del data[attr]
    path = tmp_path / "bare.graphml"
    ox.save_graphml(bare, path)
    back = load_network(path)
    assert math.isinf(back.edges[11, 12, 0]["time_s_ebike"]) and math.isinf(back.edges[2, 12, 0]["time_s_car"])
    assert math.isfinite(back.edges[1, 11, 0]["time_s_walk"]) and math.isinf(back.edges[1, 11, 0]["time_s_ebike"])


# ---------------------------------------------------------------- a pedestrian zone


@pytest.fixture(scope="module")
def pedestrian_zone(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    """A 400 x 300 m block of streets crossed north-south by a pedestrian street (nodes 5-6-7)."""
    nodes = {1: (0, 0), 5: (200, 0), 2: (400, 0), 3: (400, 300), 7: (200, 300), 4: (0, 300), 6: (200, 150)}
    ways = [
        ([1, 5, 2], {}),
        ([2, 3], {}),
        ([3, 7, 4], {}),
        ([4, 1], {}),
        ([5, 6, 7], {"highway": "pedestrian"}),
    ]
    return load_network(write_osm(tmp_path_factory.mktemp("zone") / "zone.osm", nodes, ways))


def test_pedestrian_zone_push_and_park(pedestrian_zone: nx.MultiDiGraph) -> None:
    """A shop inside the zone: walked to, e-bike pushed at walking speed, car parked at the zone's end."""
    shop_in, shop_out = (202.0, 140.0), (100.0, 2.0)
    pts = points(shop_out, shop_in)
    got = matrices(pedestrian_zone, pts)
    for mode, matrix in got.items():
        assert np.isfinite(matrix).all(), mode
    access = {m: reachability(pedestrian_zone, *pts, mode=m) for m in ("walk", "ebike", "car")}
    assert list(access["ebike"]["access"]) == ["street", "push"]
    assert list(access["car"]["access"]) == ["street", "park_and_walk"]
    assert access["car"]["walk_s"].iloc[1] == pytest.approx((140 + 2) / WALK_MPS, rel=0.005)
    # e-bike: ride 100 m to the zone, push 140 m (snap distances of 2 m each at riding speed)
    assert got["ebike"][0, 1] == pytest.approx(100 / EBIKE_MPS + 140 / WALK_MPS + 4 / EBIKE_MPS, rel=0.005)
    # car: drive 100 m to node 5, park, walk 140 m and the 2 m off the pedestrian street
    assert got["car"][0, 1] == pytest.approx(
        100 / RESIDENTIAL_MPS + 2 / (30 / 3.6) + PARK_S + 142 / WALK_MPS, rel=0.005
    )
    # and back: walk to the car, drive off
    assert got["car"][1, 0] == pytest.approx(142 / WALK_MPS + 100 / RESIDENTIAL_MPS + 2 / (30 / 3.6), rel=0.005)
    assert got["walk"][0, 1] == pytest.approx((2 + 100 + 140 + 2) / WALK_MPS, rel=0.005)


def test_park_and_walk_route_line_follows_the_zone(pedestrian_zone: nx.MultiDiGraph) -> None:
    """The car's line drives to node 5 and walks up the pedestrian street: no straight line through the block."""
    start, shop = lonlat(100, 2), lonlat(202, 140)
    line = shortest_path_geometry(pedestrian_zone, start, shop, mode="car")
    assert line.coords[0] == pytest.approx(start) and line.coords[-1] == pytest.approx(shop)
    corner = shapely.Point(lonlat(200, 0))
    assert line.distance(corner) < 1e-7  # through node 5
    assert line.length == pytest.approx(100 * M_LON + (2 + 140 + 2) * M_LAT, rel=0.02)  # in degrees


# ---------------------------------------------------------------- a one-way loop


def one_way_loop(tmp_path: Path, bottom_tags: dict[str, str]) -> nx.MultiDiGraph:
    """A one-way loop A(1) -> B(2) -> C(3) -> D(4) -> A, 100 m wide and 400 m tall, and a two-way street at A.

    (osmnx drops a network that is nothing but a ring, so the loop gets a street leading to it.)
    """
    nodes = {1: (0, 0), 2: (100, 0), 3: (100, 400), 4: (0, 400), 5: (-100, 0)}
    ways = [([1, 2], {"oneway": "yes", **bottom_tags}), ([2, 3, 4, 1], {"oneway": "yes"}), ([5, 1], {})]
    return load_network(write_osm(tmp_path / "loop.osm", nodes, ways))


def test_one_way_loop(tmp_path: Path) -> None:
    """The car goes round (920 m); the e-bike is pushed back 80 m at walking speed; walking ignores oneway."""
    graph = one_way_loop(tmp_path, {})
    pts = points((90, 0), (10, 0))  # on the bottom street, B-side first
    got = matrices(graph, pts)
    assert got["car"][1, 0] == pytest.approx(80 / RESIDENTIAL_MPS, rel=0.005)  # along the one-way
    assert got["car"][0, 1] == pytest.approx((10 + 400 + 100 + 400 + 10) / RESIDENTIAL_MPS, rel=0.005)
    assert got["ebike"][0, 1] == pytest.approx(80 / WALK_MPS, rel=0.005)  # pushed: faster than riding round
    assert got["ebike"][1, 0] == pytest.approx(80 / EBIKE_MPS, rel=0.005)
    assert got["walk"][0, 1] == pytest.approx(got["walk"][1, 0]) == pytest.approx(80 / WALK_MPS, rel=0.005)
    arrays = network_arrays(graph, "car")
    assert arrays.main.all()  # the loop is one strongly connected component


def test_one_way_with_contraflow_for_bikes(tmp_path: Path) -> None:
    """oneway:bicycle=no: the e-bike rides back along the bottom street; the car still goes round."""
    graph = one_way_loop(tmp_path, {"oneway:bicycle": "no"})
    got = matrices(graph, points((90, 0), (10, 0)))
    assert got["ebike"][0, 1] == pytest.approx(80 / EBIKE_MPS, rel=0.005)
    assert got["car"][0, 1] > 5 * got["car"][1, 0]


# ---------------------------------------------------------------- islands and the last street


@pytest.fixture(scope="module")
def islands(tmp_path_factory: pytest.TempPathFactory) -> nx.MultiDiGraph:
    """A 3 x 3 street grid (200 m), an island loop reached by a footbridge, and an isolated street."""
    nodes = {10 * r + c + 1: (200.0 * c, 200.0 * r) for r in range(3) for c in range(3)}
    nodes |= {101: (700, 150), 102: (800, 150), 103: (800, 250), 104: (700, 250)}  # the island
    nodes |= {201: (0, 1000), 202: (100, 1000)}  # an isolated street
    ways: list[tuple[list[int], dict[str, str]]] = [([1, 2, 3], {}), ([11, 12, 13], {}), ([21, 22, 23], {})]
    ways += [([1, 11, 21], {}), ([2, 12, 22], {}), ([3, 13, 23], {})]
    ways += [([101, 102, 103, 104, 101], {}), ([13, 101], {"highway": "footway", "bridge": "yes"})]
    ways += [([201, 202], {})]
    nodes |= {301: (400, -300), 302: (500, -300)}  # streets behind a private road
    ways += [([3, 301], {"access": "private"}), ([301, 302], {})]
    return load_network(write_osm(tmp_path_factory.mktemp("islands") / "islands.osm", nodes, ways))


def test_island_reached_on_foot(islands: nx.MultiDiGraph) -> None:
    """The footbridge island: cars park on the mainland and walk; e-bikes push across; all finite."""
    pts = points((100, 2), (750, 152))
    got = matrices(islands, pts)
    for mode, matrix in got.items():
        assert np.isfinite(matrix).all(), mode
    car = reachability(islands, *pts, mode="car")
    assert list(car["access"]) == ["street", "park_and_walk"]
    bridge = islands.edges[13, 101, 0]["length"]
    assert car["walk_s"].iloc[1] == pytest.approx((bridge + 50 + 2) / WALK_MPS, abs=0.5)
    assert list(reachability(islands, *pts, mode="ebike")["access"]) == ["street", "street"]
    car_arrays = network_arrays(islands, "car")
    assert not car_arrays.main[car_arrays.index_of([101])[0]]  # the island's streets are not the car's network


def test_day_route_line_parks_and_walks_over_the_bridge(islands: nx.MultiDiGraph) -> None:
    """A car squad's day line (patrol.route_lines) parks at the bridge and walks over it, not across the water."""
    depot, shop = lonlat(100, 2), lonlat(750, 152)
    district = SimpleNamespace(
        graph=islands, depots=pd.DataFrame({"depot_id": ["D1"], "lon": [depot[0]], "lat": [depot[1]]})
    )
    squad = Squad("G01", 1, ("M01", "Z01"), ("a", "b"), "D1", "car", 480, 1050, 690, 810, 60)
    stops = pd.DataFrame({"squad_id": ["G01"], "seq": [1], "lon": [shop[0]], "lat": [shop[1]]})
    line = route_lines(district, stops, SquadRoster((squad,))).geometry.iloc[0]
    assert line.distance(shapely.Point(lonlat(400, 200))) < 1e-7  # parks at the bridge's end (node 13)
    assert line.distance(shapely.Point(lonlat(550, 175))) < 1e-7  # walks over the footbridge


def test_unreachable_points_are_named_and_infinite(islands: nx.MultiDiGraph) -> None:
    """Shops on the isolated street, beyond the last street, behind a private road: inf everywhere, with a reason."""
    pts = points((100, 2), (50, 1002), (-900, 200), (450, -298))
    for mode in ("walk", "ebike", "car"):
        table = reachability(islands, *pts, mode=mode)
        assert list(table["reachable"]) == [True, False, False, False], mode
        assert "not connected to the walk network's main component" in table["reason"].iloc[1]
        assert "farther than 500 m from any street" in table["reason"].iloc[2]
        assert "reached only through streets closed to walking" in table["reason"].iloc[3]
        assert table["reason"].iloc[0] == ""
        matrix = travel_time_matrix(islands, pts, mode=mode, dtype=np.float64)
        assert np.isfinite(matrix[0, 0])
        assert np.isinf(matrix[1:, :][~np.eye(4, dtype=bool)[1:, :]]).all() and np.isinf(matrix[0, 1:]).all()
        assert np.isinf(distance_matrix(islands, pts, mode=mode)[0, 1:]).all()
    car = reachability(islands, *pts, mode="car")
    assert "its car streets are cut off from the rest of the car network too" in car["reason"].iloc[1]


def test_reachability_frame_shape(islands: nx.MultiDiGraph) -> None:
    """One row per point in input order, with the documented columns."""
    table = reachability(islands, *points((100, 2), (50, 1002)), mode="car")
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["reachable", "access", "walk_s", "street_m", "reason"]
    assert table["walk_s"].iloc[0] == 0 and math.isinf(table["walk_s"].iloc[1])


# ---------------------------------------------------------------- a real city centre


def test_monaco_district_shop_pairs_are_reachable() -> None:
    """On the clipped Monaco extract every shop pair is reachable by every mode (park and walk where needed)."""
    graph = load_network(DATA / "monaco_district_clipped.osm.pbf")
    shops = pd.read_csv(DATA / "monaco_district_shops.csv")
    pts = (shops["lon"].to_numpy(float), shops["lat"].to_numpy(float))
    for mode in ("walk", "ebike", "car"):
        table = reachability(graph, *pts, mode=mode)
        unreachable = shops.loc[~table["reachable"].to_numpy(), "retailer_id"].tolist()
        assert unreachable == [], (mode, table.loc[~table["reachable"], "reason"].tolist())
        matrix = travel_time_matrix(graph, pts, mode=mode)
        assert np.isfinite(matrix).mean() == 1.0, mode
