"""Tests of gridmgmt.network: loading, travel times, snapping, matrices, route lines."""

from __future__ import annotations

import gzip
import itertools
import logging
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from road_fixtures import synthetic_grid

from gridmgmt._errors import InputError
from gridmgmt.config import Speeds
from gridmgmt.network import (
    distance_matrix,
    load_network,
    network_arrays,
    route_geometries,
    shortest_path_geometry,
    snap_points,
    time_attr,
    travel_time_matrix,
)
from gridmgmt.network.modes import back_attr

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_roads.osm"
# node coordinates of the fixture (lon, lat): 1-3 south row (one-way eastbound), 3-6-9 one-way northbound
XY = {
    1: (106.7000, 26.5800),
    2: (106.7010, 26.5800),
    3: (106.7020, 26.5800),
    4: (106.7000, 26.5810),
    5: (106.7010, 26.5810),
    6: (106.7020, 26.5810),
    7: (106.7000, 26.5820),
    9: (106.7020, 26.5820),
    10: (106.7015, 26.5815),
}


@pytest.fixture(scope="module")
def tiny() -> nx.MultiDiGraph:
    return load_network(TINY)


@pytest.fixture(scope="module")
def grid() -> nx.MultiDiGraph:
    return synthetic_grid(32, 32, seed=3)


def _split_graph(graph: nx.MultiDiGraph, snapped: pd.DataFrame, mode: str) -> nx.DiGraph:
    """An independent reference: a DiGraph with each snapped point inserted as a node.

    Each point ``("p", i)`` is spliced into its edge (both directions where the mode may
    go both ways) and joined to ``("q", i)`` by its access leg, so networkx's own Dijkstra
    between ``("q", i)`` and ``("q", j)`` gives the expected matrix entry.
    """
    attr, back = time_attr(mode), back_attr(mode)
    speed_mps = {"walk": 4.5, "ebike": 15.0, "car": 30.0}[mode] / 3.6
    ref = nx.DiGraph()
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        for a, b, w in ((u, v, data[attr]), (v, u, data[back])):
            if math.isfinite(w) and (not ref.has_edge(a, b) or ref[a][b]["w"] > w):
                ref.add_edge(a, b, w=w)
    for (u, v, key), group in snapped.groupby(["u", "v", "key"]):
        data = graph.edges[u, v, key]
        w = data[attr]
        w_back = data[back] if data["oneway"] else graph.edges[v, u, key][attr]
        chain = [(0.0, u), *sorted((f, ("p", i)) for i, f in zip(group.index, group["frac"], strict=True))]
        chain.append((1.0, v))
        ref.remove_edges_from([(u, v), (v, u)])
        for (fa, a), (fb, b) in itertools.pairwise(chain):
            if math.isfinite(w):
                ref.add_edge(a, b, w=(fb - fa) * w)
            if math.isfinite(w_back):
                ref.add_edge(b, a, w=(fb - fa) * w_back)
    for i, dist in snapped["snap_dist_m"].items():
        ref.add_edge(("q", i), ("p", i), w=dist / speed_mps)
        ref.add_edge(("p", i), ("q", i), w=dist / speed_mps)
    return ref


def _expected(graph: nx.MultiDiGraph, lon: np.ndarray, lat: np.ndarray, mode: str) -> np.ndarray:
    snapped = snap_points(graph, lon, lat, mode=mode)
    ref = _split_graph(graph, snapped, mode)
    out = np.full((len(lon), len(lon)), np.inf)
    for i in range(len(lon)):
        lengths = nx.single_source_dijkstra_path_length(ref, ("q", i), weight="w")
        for j in range(len(lon)):
            out[i, j] = lengths.get(("q", j), np.inf)
    return out


# ---------------------------------------------------------------- loading


def test_load_osm_xml_builds_street_graph(tiny: nx.MultiDiGraph) -> None:
    """The OSM XML fixture loads as a WGS-84 street graph without the building, corners merged by osmnx."""
    assert tiny.graph["crs"].lower() == "epsg:4326"
    assert set(tiny.nodes) == {1, 2, 4, 5, 6, 8, 9, 10}  # 3 and 7 are mid-street after simplification
    assert not any(n in tiny.nodes for n in (11, 12, 13, 14))
    assert tiny.has_edge(1, 2) and not tiny.has_edge(2, 1)  # one-way 南街 stays one-way
    length = tiny.edges[1, 2, 0]["length"]
    assert length == pytest.approx(99.44, abs=0.1)  # 0.001 deg of lon at 26.58 N, metres


def test_travel_times_follow_maxspeed_cap_and_mode(tiny: nx.MultiDiGraph) -> None:
    """Car time is min(maxspeed or default, car cap); walk/ebike speeds are constant; cars stay off the footway.

    E-bikes are pushed along the footway at walking speed, and against one-way 南街.
    """
    primary = tiny.edges[4, 5, 0]  # maxspeed 50 > cap 30
    assert primary["time_s_car"] == pytest.approx(primary["length"] / (30 / 3.6))
    south = tiny.edges[1, 2, 0]  # maxspeed 20
    assert south["time_s_car"] == pytest.approx(south["length"] / (20 / 3.6))
    middle = tiny.edges[2, 5, 0]  # residential without maxspeed: default 20 km/h
    assert middle["time_s_car"] == pytest.approx(middle["length"] / (20 / 3.6))
    assert south["time_s_walk"] == pytest.approx(south["length"] / (4.5 / 3.6))
    assert south["time_s_ebike"] == pytest.approx(south["length"] / (15 / 3.6))
    footway = tiny.edges[5, 10, 0]
    assert math.isinf(footway["time_s_car"])
    assert footway["time_s_ebike"] == pytest.approx(footway["time_s_walk"])
    assert math.isfinite(footway["time_s_walk"])
    assert south["time_s_ebike_back"] == pytest.approx(south["time_s_walk"])  # pushed against the one-way
    assert math.isinf(south["time_s_car_back"]) and south["time_s_walk_back"] == pytest.approx(south["time_s_walk"])
    slow = load_network(TINY, speeds=Speeds(car_kmh=10.0))
    assert slow.edges[4, 5, 0]["time_s_car"] == pytest.approx(primary["length"] / (10 / 3.6))


def test_pbf_and_gzip_give_the_same_graph(tiny: nx.MultiDiGraph, tmp_path: Path) -> None:
    """A .osm.pbf written by osmium and a gzipped copy of the XML load to the same graph as the plain XML."""
    import osmium

    pbf = tmp_path / "tiny.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(TINY)):
            writer.add(obj)
    gz = tmp_path / "tiny.osm.gz"
    gz.write_bytes(gzip.compress(TINY.read_bytes()))
    for path in (pbf, gz):
        other = load_network(path)
        assert set(other.nodes) == set(tiny.nodes)
        assert set(other.edges(keys=True)) == set(tiny.edges(keys=True))
        for u, v, k, data in tiny.edges(keys=True, data=True):
            assert other.edges[u, v, k]["time_s_car"] == pytest.approx(data["time_s_car"])


def test_graphml_round_trip(tiny: nx.MultiDiGraph, tmp_path: Path) -> None:
    """A graph saved with osmnx.save_graphml loads back with the same edges and travel times."""
    import osmnx as ox

    path = tmp_path / "tiny.graphml"
    ox.save_graphml(tiny, path)
    back = load_network(path)
    assert set(back.edges(keys=True)) == set(tiny.edges(keys=True))
    assert back.edges[1, 2, 0]["time_s_car"] == pytest.approx(tiny.edges[1, 2, 0]["time_s_car"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.osm", None, "not found"),
        ("roads.shp", b"x", "unsupported road network format"),
        ("empty.osm", b"", "empty"),
        ("broken.osm", b"<osm><node id='1' lat='26.5'", "cannot read"),
        ("nostreets.osm", b"<osm version='0.6'><node id='1' lat='26.5' lon='106.7'/></osm>", "no streets"),
    ],
)
def test_bad_files_raise_input_error(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    """Missing, unknown, empty, broken and street-less files raise InputError naming the file."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_network(path)
    assert info.value.problems[0].file == str(path)


# ---------------------------------------------------------------- snapping


def test_snap_points_distance_offset_and_far_warning(tiny: nx.MultiDiGraph, caplog: pytest.LogCaptureFixture) -> None:
    """Points snap to the nearest street with metre distances and offsets; far points are counted in a warning."""
    lon = np.array([106.7005, 106.7030, 106.7015])
    lat = np.array([26.5801, 26.5815, 26.5815])
    with caplog.at_level(logging.WARNING, logger="gridmgmt.network"):
        snapped = snap_points(tiny, lon, lat, far_snap_m=50)
    first = snapped.iloc[0]
    assert (first["u"], first["v"]) == (1, 2)  # 11 m north of mid-block 南街
    assert first["snap_dist_m"] == pytest.approx(11.13, abs=0.1)
    assert first["frac"] == pytest.approx(0.5, abs=1e-3)
    assert first["offset_m"] == pytest.approx(first["edge_length_m"] / 2, abs=0.1)
    assert snapped["snap_dist_m"].iloc[1] == pytest.approx(99.6, abs=0.5)  # 0.001 deg east of 东街
    assert snapped["snap_dist_m"].iloc[2] < 0.01  # the footway's end node 10
    assert "1 of 3 points lie farther than 50 m" in caplog.text
    car = snap_points(tiny, lon[2:], lat[2:], mode="car")  # cars cannot use the footway
    assert car["snap_dist_m"].iloc[0] > 40


def test_snap_points_is_vectorised_in_input_order(grid: nx.MultiDiGraph) -> None:
    """Snapping 5,000 points returns one row per point in input order."""
    rng = np.random.default_rng(0)
    lon = rng.uniform(106.70, 106.74, 5000)
    lat = rng.uniform(26.57, 26.60, 5000)
    snapped = snap_points(grid, lon, lat, far_snap_m=1e9)
    assert len(snapped) == 5000
    assert snapped["frac"].between(0, 1).all()
    # the snapped position is snap_dist_m away from the point (equirectangular check)
    dx = (snapped["snap_lon"] - lon) * 111_320 * np.cos(np.radians(lat))
    dy = (snapped["snap_lat"] - lat) * 111_320
    assert np.allclose(np.hypot(dx, dy), snapped["snap_dist_m"], rtol=0.01, atol=0.5)


# ---------------------------------------------------------------- matrices


def test_node_to_node_matrix_equals_networkx(tiny: nx.MultiDiGraph) -> None:
    """At street nodes, car matrix entries equal networkx shortest path lengths on the car edges."""
    nodes = [1, 2, 4, 5, 6, 9]
    lon = np.array([XY[n][0] for n in nodes])
    lat = np.array([XY[n][1] for n in nodes])
    matrix = travel_time_matrix(tiny, (lon, lat), mode="car", dtype=np.float64)
    for i, a in enumerate(nodes):
        for j, b in enumerate(nodes):
            expected = nx.shortest_path_length(tiny, a, b, weight="time_s_car")
            assert matrix[i, j] == pytest.approx(expected, abs=1e-6)


def test_one_way_streets_bind_cars_not_walkers(tiny: nx.MultiDiGraph) -> None:
    """Car time 1->2 along one-way 南街 is the edge time, 2->1 is a detour; walking is symmetric."""
    lon = np.array([XY[1][0], XY[2][0]])
    lat = np.array([XY[1][1], XY[2][1]])
    car = travel_time_matrix(tiny, (lon, lat), mode="car", dtype=np.float64)
    assert car[0, 1] == pytest.approx(tiny.edges[1, 2, 0]["time_s_car"])
    detour = nx.shortest_path_length(tiny, 2, 1, weight="time_s_car")
    assert car[1, 0] == pytest.approx(detour) and car[1, 0] > car[0, 1] * 1.5
    walk = travel_time_matrix(tiny, (lon, lat), mode="walk", dtype=np.float64)
    assert walk[0, 1] == pytest.approx(walk[1, 0])
    assert walk[1, 0] == pytest.approx(tiny.edges[1, 2, 0]["time_s_walk"])
    ebike = travel_time_matrix(tiny, (lon, lat), mode="ebike", dtype=np.float64)
    assert ebike[1, 0] > ebike[0, 1] * 1.5


@pytest.mark.parametrize("mode", ["car", "ebike", "walk"])
def test_points_on_edges_match_split_graph(tiny: nx.MultiDiGraph, mode: str) -> None:
    """Off-node points (two on one one-way block, both orders) match networkx on a graph with the points spliced in."""
    lon = np.array([106.7003, 106.7008, 106.7019, 106.7021, 106.7004, 106.7015, 106.7012])
    lat = np.array([26.5801, 26.5799, 26.5812, 26.5805, 26.5816, 26.5814, 26.5821])
    matrix = travel_time_matrix(tiny, (lon, lat), mode=mode, dtype=np.float64)
    expected = _expected(tiny, lon, lat, mode)
    np.testing.assert_allclose(matrix, expected, rtol=1e-9, atol=1e-6)
    if mode == "car":  # the two points on one-way 南街: straight along it one way, around the blocks back
        assert matrix[1, 0] > 3 * matrix[0, 1]


def test_distance_matrix_in_metres(tiny: nx.MultiDiGraph) -> None:
    """Distance matrix entries are street metres, with snap distances added at both ends."""
    lon = np.array([XY[1][0], XY[2][0], 106.7005])
    lat = np.array([XY[1][1], XY[2][1], 26.5801])
    dist = distance_matrix(tiny, (lon, lat), mode="walk", dtype=np.float64)
    assert dist[0, 1] == pytest.approx(tiny.edges[1, 2, 0]["length"])
    snapped = snap_points(tiny, lon, lat)
    assert dist[0, 2] == pytest.approx(tiny.edges[1, 2, 0]["length"] / 2 + snapped["snap_dist_m"].iloc[2], abs=0.05)


def test_rectangular_matrix_and_presnapped_frames(tiny: nx.MultiDiGraph) -> None:
    """Origins and destinations of different sizes, as lon/lat frames or snapped frames, give the same entries."""
    orig = pd.DataFrame({"lon": [106.7003, 106.7019], "lat": [26.5801, 26.5812]})
    dest = pd.DataFrame({"lon": [106.7008, 106.7021, 106.7012], "lat": [26.5799, 26.5805, 26.5821]})
    by_frame = travel_time_matrix(tiny, orig, dest, mode="car")
    assert by_frame.shape == (2, 3) and by_frame.dtype == np.float32
    snapped_o = snap_points(tiny, orig["lon"], orig["lat"], mode="car")
    snapped_d = snap_points(tiny, dest["lon"], dest["lat"], mode="car")
    by_snap = travel_time_matrix(tiny, snapped_o, snapped_d, mode="car")
    np.testing.assert_allclose(by_frame, by_snap)
    full = travel_time_matrix(tiny, pd.concat([orig, dest]), mode="car")
    np.testing.assert_allclose(by_frame, full[:2, 2:], rtol=1e-6)


def test_grid_matrix_matches_networkx_sample(grid: nx.MultiDiGraph) -> None:
    """On a ~1,000-node grid with one-way streets, car and walk matrices match networkx on a spliced graph."""
    assert 1000 <= len(grid) <= 1100
    rng = np.random.default_rng(7)
    lon = rng.uniform(106.701, 106.74, 25)
    lat = rng.uniform(26.571, 26.602, 25)
    for mode in ("car", "walk"):
        matrix = travel_time_matrix(grid, (lon, lat), mode=mode, dtype=np.float64)
        np.testing.assert_allclose(matrix, _expected(grid, lon, lat, mode), rtol=1e-9, atol=1e-6)
    car = travel_time_matrix(grid, (lon, lat), mode="car", dtype=np.float64)
    assert not np.allclose(car, car.T)  # one-way streets make it asymmetric


def test_parallel_workers_give_same_matrix(grid: nx.MultiDiGraph) -> None:
    """Dijkstra blocks run in two processes give exactly the single-process matrix."""
    rng = np.random.default_rng(11)
    lon = rng.uniform(106.701, 106.74, 700)
    lat = rng.uniform(26.571, 26.602, 700)
    snapped = snap_points(grid, lon, lat, mode="car")
    one = travel_time_matrix(grid, snapped, mode="car", workers=1)
    two = travel_time_matrix(grid, snapped, mode="car", workers=2)
    assert np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
    assert np.all(np.diag(one) == 0)
    other = travel_time_matrix(grid, snapped.iloc[:5], snapped.iloc[:5], mode="car", workers=1)
    access_s = snapped["snap_dist_m"].to_numpy()[:5] / (30 / 3.6)
    np.testing.assert_allclose(np.diag(other), 2 * access_s, rtol=1e-5)  # distinct point sets: out and back in


def test_network_arrays_are_cached_and_drop_forbidden_edges(tiny: nx.MultiDiGraph) -> None:
    """The CSR form is built once per graph and mode; the footway is absent for cars, present both ways for walking."""
    car = network_arrays(tiny, "car")
    assert network_arrays(tiny, "car") is car
    walk = network_arrays(tiny, "walk")
    i5, i10 = car.index_of([5, 10])
    assert car.csr[i5, i10] == 0 and car.csr[i10, i5] == 0
    assert walk.csr[i5, i10] > 0 and walk.csr[i10, i5] > 0
    i1, i2 = walk.index_of([1, 2])
    assert walk.csr[i2, i1] > 0 and car.csr[i2, i1] == 0  # walking against one-way 南街


def test_unknown_mode_is_rejected(tiny: nx.MultiDiGraph) -> None:
    """A travel mode other than walk, ebike or car raises ValueError naming the valid ones."""
    with pytest.raises(ValueError, match="walk, ebike, car"):
        travel_time_matrix(tiny, ([106.7], [26.58]), mode="bus")


# ---------------------------------------------------------------- route lines


def test_shortest_path_geometry_follows_streets(tiny: nx.MultiDiGraph) -> None:
    """The car route 2->1 against one-way 南街 goes round the block via 中山路; walking goes straight."""
    car = shortest_path_geometry(tiny, XY[2], XY[1], mode="car")
    assert isinstance(car, shapely.LineString)
    assert car.coords[0] == XY[2] and car.coords[-1] == XY[1]
    assert max(y for _, y in car.coords) == pytest.approx(26.581)  # up to 中山路 and back
    walk = shortest_path_geometry(tiny, XY[2], XY[1], mode="walk")
    assert max(y for _, y in walk.coords) == pytest.approx(26.58)
    same_edge = shortest_path_geometry(tiny, (106.7003, 26.5801), (106.7008, 26.5801), mode="car")
    assert len(same_edge.coords) == 4  # point, its snap, the other's snap, point


def test_route_geometries_join_legs_in_order(tiny: nx.MultiDiGraph) -> None:
    """A three-stop route gives two legs, each starting where the previous one ended."""
    legs = route_geometries(tiny, [XY[1][0], XY[9][0], XY[4][0]], [XY[1][1], XY[9][1], XY[4][1]], mode="ebike")
    assert len(legs) == 2
    assert legs[0].coords[0] == XY[1] and legs[0].coords[-1] == XY[9] == legs[1].coords[0]
    assert legs[1].coords[-1] == XY[4]
