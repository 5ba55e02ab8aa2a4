"""Tests of the partition core (unit table, search, Lloyd, partition, rebalance) and grid metrics on lattices."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy.optimize import linear_sum_assignment

from gridmgmt._errors import InfeasiblePlanError, InputError
from gridmgmt.grids import metrics, workload
from gridmgmt.grids.partition import partition
from gridmgmt.grids.rebalance import rebalance
from gridmgmt.grids.unit_table import UnitTable

CELL_M = 100.0
MODEL = workload.WorkloadModel.from_speed(15.0)


def lattice_units(
    nx: int, ny: int, *, seed: int = 0, total: float = 5000.0, nret: np.ndarray | None = None
) -> UnitTable:
    """An nx x ny lattice of 100 m blocks, dense old town in the centre, sparse periphery, depot in the middle."""
    rng = np.random.default_rng(seed)
    X, Y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    xy = np.stack([X.ravel(), Y.ravel()], axis=1) * CELL_M + CELL_M / 2
    centre = np.array([nx, ny]) * CELL_M / 2
    r = np.hypot(*(xy - centre).T) / (nx * CELL_M / 2)
    dens = np.exp(-((r / 0.35) ** 2)) * 8 + 0.6
    if nret is None:
        nret = rng.poisson(dens / dens.sum() * total).astype(float)
    idx = np.arange(nx * ny).reshape(nx, ny)
    edges = np.concatenate([
        np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),
        np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1),
    ])  # fmt: skip
    stops = nret * 2.0
    return UnitTable.from_arrays(
        xy, nret * 30.0, access_min=stops * 3.0, stops_per_month=stops, n_retailers=nret,
        area_km2=np.full(nx * ny, (CELL_M / 1000) ** 2), edges=edges, depot_xy_m=[centre],
    )  # fmt: skip


def exact_workloads(units: UnitTable, labels: np.ndarray, k: int) -> np.ndarray:
    """Grid workloads recomputed from scratch with the public workload function."""
    s = np.bincount(labels, weights=units.service_min, minlength=k)
    a = np.bincount(labels, weights=units.access_min, minlength=k)
    n = np.bincount(labels, weights=units.stops_per_month, minlength=k)
    ar = np.bincount(labels, weights=units.area_km2, minlength=k)
    cx = np.bincount(labels, weights=units.stops_per_month * units.xy_m[:, 0], minlength=k) / n
    cy = np.bincount(labels, weights=units.stops_per_month * units.xy_m[:, 1], minlength=k) / n
    d = np.hypot(cx - units.depot_xy_m[0, 0], cy - units.depot_xy_m[0, 1])
    return MODEL(s, a, n, ar, d)


@pytest.fixture(scope="module")
def units() -> UnitTable:
    return lattice_units(40, 40)


@pytest.fixture(scope="module")
def base(units: UnitTable):
    return partition(units, 12, seed=0, workload_fn=MODEL)


def churned(units: UnitTable, seed: int = 1) -> UnitTable:
    """300 new retailers in the eastern quarter, 100 closures in the old town."""
    rng = np.random.default_rng(seed)
    nret = units.n_retailers.copy()
    side = math.sqrt(units.n) * CELL_M
    east = np.flatnonzero(units.xy_m[:, 0] > 0.75 * side)
    np.add.at(nret, rng.choice(east, 300), 1)
    old = np.flatnonzero(np.hypot(*(units.xy_m - side / 2).T) < 0.15 * side)
    for i in rng.choice(old[nret[old] > 0], 100, replace=False):
        nret[i] -= 1
    n = round(math.sqrt(units.n))
    return lattice_units(n, n, nret=nret)


def test_partition_labels_contiguous_balanced(units: UnitTable, base) -> None:
    """Every unit gets exactly one grid 0..11, every grid is one piece, max/min <= 1.02 on the exact function."""
    assert base.labels.shape == (units.n,)
    assert set(np.unique(base.labels)) == set(range(12))
    assert (metrics.components_per_grid(base.labels, units.edges, 12) == 1).all()
    w = exact_workloads(units, base.labels, 12)
    np.testing.assert_allclose(w, base.workload_min, rtol=1e-9)
    assert metrics.balance_ratio(w) <= 1.02
    assert base.is_feasible()


def test_partition_compactness(units: UnitTable, base) -> None:
    """Grids are compact on the lattice: Polsby-Popper of the cell unions >= 0.40 each, mean >= 0.50."""
    cells = gpd.GeoSeries(shapely.box(*(units.xy_m - 50).T, *(units.xy_m + 50).T), crs=3857)
    pp = metrics.grid_compactness(base.labels, cells, 12)
    np.testing.assert_allclose(pp, base.compactness, atol=1e-9)  # perimeter bookkeeping is exact on cells
    assert pp.min() >= 0.40
    assert pp.mean() >= 0.50


def test_compact_district_meets_the_compactness_targets() -> None:
    """On a square district (60 x 60 blocks, dense centre) 12 grids reach PP mean >= 0.55 and min >= 0.40.

    The demo misses these targets because of its real, ragged outline (PP 0.18); this checks
    the partition itself reaches them where the outline allows.
    """
    res = partition(lattice_units(60, 60), 12, seed=0, workload_fn=MODEL)
    assert res.is_feasible()
    assert res.compactness.mean() >= 0.55
    assert res.compactness.min() >= 0.40


def test_compactness_study_power_diagram_is_balanced_and_tiles_the_district() -> None:
    """The study's ideal partition: cells of equal mass that tile the district, squares on a uniform square."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "study_compactness", Path(__file__).parents[1] / "scripts/study_compactness.py"
    )
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    square = shapely.box(0, 0, 2000, 2000)
    xy = np.stack(np.meshgrid(np.arange(25, 2000, 50.0), np.arange(25, 2000, 50.0)), axis=-1).reshape(-1, 2)
    mass = np.where(xy[:, 0] < 1000, 3.0, 1.0)  # the west half three times as dense: its cells are smaller
    cells = study.power_diagram(xy, mass, 4, square, seed=0)
    assert shapely.union_all(cells).symmetric_difference(square).area < 1.0
    assert sum(c.area for c in cells) == pytest.approx(square.area)
    held = [mass[shapely.contains_xy(c, xy[:, 0], xy[:, 1])].sum() for c in cells]
    assert max(held) / min(held) <= 1.02
    west = [c for c in cells if c.centroid.x < 1000]
    assert len(west) >= 2 and max(c.area for c in west) < square.area / 4
    assert all(study.polsby_popper(c) > 0.5 for c in cells)


def test_partition_deterministic(units: UnitTable, base) -> None:
    """The same units and seed give the same labels."""
    again = partition(units, 12, seed=0, workload_fn=MODEL)
    np.testing.assert_array_equal(again.labels, base.labels)


def test_bad_k_raises_clear_errors(units: UnitTable) -> None:
    """k < 1 and k > number of units raise InfeasiblePlanError saying why."""
    with pytest.raises(InfeasiblePlanError, match=">= 1"):
        partition(units, 0)
    with pytest.raises(InfeasiblePlanError, match=f"exceeds the {units.n} building units"):
        partition(units, units.n + 1)


def test_rebalance_after_churn_moves_fewer_than_rebuild(units: UnitTable, base) -> None:
    """After churn, rebalance restores max/min <= 1.05 and moves fewer units than a rebuild from scratch."""
    after = churned(units)
    assert metrics.balance_ratio(exact_workloads(after, base.labels, 12)) > 1.05  # churn broke the balance
    res = rebalance(after, base.labels, workload_fn=MODEL, tolerance=1.05)
    assert res.balance <= 1.05
    assert (res.components == 1).all()
    rebuilt = partition(after, 12, seed=0, workload_fn=MODEL)
    # a rebuild is compared at its best: grids renumbered to overlap the old ones most
    overlap = np.zeros((12, 12))
    np.add.at(overlap, (base.labels, rebuilt.labels), after.n_retailers)
    rows, cols = linear_sum_assignment(-overlap)
    rebuild_moved = after.n_retailers.sum() - overlap[rows, cols].sum()
    assert 0 < res.moved_retailers < rebuild_moved
    assert res.moved_share <= 0.10


def test_rebalance_keeps_every_grid_within_the_compactness_slack(units: UnitTable, base) -> None:
    """As grids rebalance tries first (min_compactness=1): no grid loses more than 0.05 of its Polsby-Popper.

    Every step (balancing, sending units home, smoothing, the compactness search) keeps the floor, even
    when the balance cannot reach the tolerance within it (grids rebalance then tries a larger slack).
    """
    after = churned(units)
    res = rebalance(after, base.labels, workload_fn=MODEL, tolerance=1.05, min_compactness=1.0, compactness_slack=0.05)
    assert res.moved_retailers > 0
    assert res.balance < metrics.balance_ratio(exact_workloads(after, base.labels, 12))
    # the lattice's cells tile the plane, so the search's Polsby-Popper is the polygons' (test_partition_compactness)
    assert (res.compactness >= base.compactness - 0.05 - 1e-9).all(), np.round(res.compactness - base.compactness, 3)


def test_rebalance_respects_locks(units: UnitTable, base) -> None:
    """Locked units and every unit of a locked grid keep their grid; the locked grid takes no units."""
    after = churned(units)
    w = exact_workloads(after, base.labels, 12)
    typical = int(np.argmin(np.abs(w - w.mean())))  # the grid nearest the mean: 4.5% below it after the churn
    other = (typical + 1) % 12
    locked_units = np.flatnonzero(base.labels == other)[:20]
    res = rebalance(after, base.labels, workload_fn=MODEL, locked_units=locked_units, locked_grids=[typical],
                    tolerance=1.10)  # fmt: skip
    assert (res.labels[locked_units] == other).all()
    np.testing.assert_array_equal(res.labels == typical, base.labels == typical)
    assert res.balance <= 1.10


def test_impossible_lock_names_the_lock(units: UnitTable, base) -> None:
    """A locked grid whose workload is far out of range gives InfeasiblePlanError naming that grid."""
    nret = units.n_retailers.copy()
    nret[base.labels == 7] *= 2.0  # grid 7 doubles its work but is locked
    heavy = lattice_units(40, 40, nret=nret)
    with pytest.raises(InfeasiblePlanError, match="locked grid 7"):
        rebalance(heavy, base.labels, workload_fn=MODEL, locked_grids=[7], tolerance=1.05)


def test_two_locked_grids_out_of_balance_fail_fast(units: UnitTable, base) -> None:
    """Two locked grids whose own ratio exceeds the tolerance are named before any search."""
    nret = units.n_retailers.copy()
    nret[base.labels == 2] *= 1.5
    heavy = lattice_units(40, 40, nret=nret)
    with pytest.raises(InfeasiblePlanError, match=r"grid 2 .*grid 4|grid 4.*grid 2"):
        rebalance(heavy, base.labels, workload_fn=MODEL, locked_grids=[2, 4], tolerance=1.05)


def test_rebalance_12_to_11_grids(units: UnitTable, base) -> None:
    """Going from 12 to 11 grids dissolves one grid, keeps grids contiguous and balanced, moves a limited share."""
    res = rebalance(units, base.labels, 11, workload_fn=MODEL, tolerance=1.05)
    assert set(np.unique(res.labels)) == set(range(11))
    assert (res.components == 1).all()
    assert res.balance <= 1.05
    assert sum(v is None for v in res.label_map.values()) == 1
    assert res.moved_share <= 0.16  # target 0.12: see the report's open problems


def test_rebalance_12_to_13_splits(units: UnitTable, base) -> None:
    """Going from 12 to 13 grids splits one grid; all 13 contiguous and balanced."""
    res = rebalance(units, base.labels, 13, workload_fn=MODEL, tolerance=1.05)
    assert set(np.unique(res.labels)) == set(range(13))
    assert (res.components == 1).all()
    assert res.balance <= 1.05


def test_new_units_join_a_neighbouring_grid(units: UnitTable, base) -> None:
    """Units without a grid (-1) take a neighbour's grid and do not count as moved."""
    start = base.labels.copy()
    start[[0, 1, 40]] = -1
    res = rebalance(units, start, workload_fn=MODEL, tolerance=1.10)
    assert (res.labels[[0, 1, 40]] == base.labels[0]).all()
    assert not res.moved[[0, 1, 40]].any()


def test_input_errors() -> None:
    """Negative workloads, wrong lengths and out-of-range edges are InputErrors naming the field."""
    xy = np.array([[0.0, 0.0], [100.0, 0.0]])
    with pytest.raises(InputError, match="service_min"):
        UnitTable.from_arrays(xy, [1.0, -2.0], edges=[[0, 1]])
    with pytest.raises(InputError, match="access_min"):
        UnitTable.from_arrays(xy, [1.0, 2.0], access_min=[1.0], edges=[[0, 1]])
    with pytest.raises(InputError, match="edges"):
        UnitTable.from_arrays(xy, [1.0, 2.0], edges=[[0, 5]])


def test_disconnected_units_are_bridged() -> None:
    """An island is joined to the nearest unit so partitions stay possible."""
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [1000.0, 0.0]])
    u = UnitTable.from_arrays(xy, [1.0, 1.0, 1.0], edges=[[0, 1]])
    assert {tuple(e) for e in u.edges} == {(0, 1), (1, 2)}


def test_from_geodataframe_rook_adjacency_and_major_roads() -> None:
    """Cells give rook edges with shared lengths; an edge across a major road gets its crossing cost."""
    boxes = [shapely.box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for x in range(3) for y in range(3)]
    gdf = gpd.GeoDataFrame({"service_min": np.ones(9), "n_retailers": np.ones(9)}, geometry=boxes, crs=3857)
    road = gpd.GeoSeries([shapely.LineString([(200, -10), (200, 310)])], crs=3857)  # between columns 1 and 2
    u = UnitTable.from_geodataframe(gdf, access_col=None, stops_col=None, major_roads=road, major_road_cost=2.0)
    assert len(u.edges) == 12
    np.testing.assert_allclose(u.shared_m, 100.0)
    crossing = {tuple(e) for e, c in zip(u.edges, u.crossing_cost, strict=True) if c > 0}
    assert crossing == {(3, 6), (4, 7), (5, 8)}
    res = partition(u, 2, tolerance=1.5)
    assert (res.components == 1).all()
    with pytest.raises(InputError, match="projected"):
        UnitTable.from_geodataframe(gdf.set_crs(4326, allow_override=True))


def test_workload_formula_by_hand() -> None:
    """workload_min = S + A + c*sqrt(n*a) + days*2*d/v*60, checked on round numbers."""
    w = workload.workload_min([100.0], [20.0], [16.0], [4.0], [1500.0], c_tour_min=10.0, days_per_month=20.0,
                             speed_kmh=15.0)  # fmt: skip
    assert w[0] == pytest.approx(100 + 20 + 10 * 8 + 20 * 2 * 1.5 / 15 * 60)


def test_balance_metrics_and_components() -> None:
    """balance_ratio, CV and components_per_grid on tiny cases."""
    assert metrics.balance_ratio([10, 20, 15]) == 2.0
    assert metrics.balance_ratio([0, 1]) == math.inf
    assert metrics.coefficient_of_variation([5, 5, 5]) == 0.0
    # a path 0-1-2-3 with grid 0 = {0, 3} (two pieces) and grid 1 = {1, 2}
    comps = metrics.components_per_grid([0, 1, 1, 0], [[0, 1], [1, 2], [2, 3]], 2)
    np.testing.assert_array_equal(comps, [2, 1])


def test_polsby_popper() -> None:
    """A square scores pi/4, a fine circle about 1, on a polygon and on a GeoSeries."""
    assert metrics.polsby_popper(shapely.box(0, 0, 10, 10)) == pytest.approx(math.pi / 4)
    s = gpd.GeoSeries([shapely.box(0, 0, 10, 10), shapely.Point(0, 0).buffer(10, quad_segs=64)], crs=3857)
    pp = metrics.polsby_popper(s)
    assert pp.iloc[0] == pytest.approx(math.pi / 4)
    assert pp.iloc[1] == pytest.approx(1.0, abs=1e-3)


def test_compactness_search_lowers_inverse_pp_within_tolerance(units: UnitTable) -> None:
    """The compactness pass never raises sum(1/PP), keeps max/min <= tolerance and every grid in one piece."""
    from gridmgmt.grids.search import SearchOptions, SearchState, compact

    plain = partition(units, 12, seed=3, workload_fn=MODEL, compact_search=False)
    state = SearchState(units, plain.labels, 12, MODEL)
    before = float((1.0 / state.compactness()).sum())
    opt = SearchOptions(tolerance=1.02, min_compactness=0.4, movable=np.ones(units.n, dtype=bool),
                         closed_grids=np.zeros(12, dtype=bool), retailer_weight=0.0)  # fmt: skip
    moved = compact(state, opt)
    after = float((1.0 / state.compactness()).sum())
    assert moved > 0
    assert after < before
    assert metrics.balance_ratio(state.W) <= 1.02 + 1e-9
    assert (metrics.components_per_grid(state.lab, units.edges, 12) == 1).all()


def test_unmove_sends_needless_moves_home(units: UnitTable, base) -> None:
    """A unit moved to a neighbour for no reason goes back home when balance allows; the grids stay whole."""
    from gridmgmt.grids.search import SearchOptions, SearchState, unmove

    state = SearchState(units, base.labels, 12, MODEL)
    home = state.lab.copy()
    # move one boundary unit (with retailers) of grid 0 to a neighbouring grid, keeping grid 0 whole
    cand = [int(i) for i in np.flatnonzero(home == 0) if units.n_retailers[i] > 0
            and (home[state.neighbours(int(i))[0]] != 0).any() and state.stays_connected(int(i))]  # fmt: skip
    i = cand[0]
    h = int(next(v for v in home[state.neighbours(i)[0]] if v != 0))
    state.move(i, h)
    opt = SearchOptions(tolerance=1.5, min_compactness=0.0, movable=np.ones(units.n, dtype=bool),
                         closed_grids=np.zeros(12, dtype=bool), retailer_weight=1.0)  # fmt: skip
    assert unmove(state, home, opt) >= 1
    assert state.lab[i] == 0
    assert (metrics.components_per_grid(state.lab, units.edges, 12) == 1).all()


def test_capacitated_assignment_on_nearest_centres_matches_the_full_one() -> None:
    """Arcs to the cheapest centres only give the full assignment's labels; a too-thin set falls back to all arcs."""
    from gridmgmt.grids.lloyd import capacitated_assign

    rng = np.random.default_rng(4)
    xy, centres = rng.random((400, 2)), rng.random((30, 2))
    cost = np.round(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2) * 1e6).astype(np.int64)
    supply = rng.integers(1, 10, 400).astype(np.int64)
    caps = np.full(30, int(supply.sum() / 30 * 1.1) + 1, dtype=np.int64)
    full = capacitated_assign(supply, cost, caps)
    np.testing.assert_array_equal(capacitated_assign(supply, cost, caps, nearest=16), full)
    # one centre must take almost everything: the 2 nearest centres cannot carry it, all arcs can
    tight = np.full(30, 1, dtype=np.int64)
    tight[0] = int(supply.sum())
    labels = capacitated_assign(supply, cost, tight, nearest=2)
    np.testing.assert_array_equal(labels, capacitated_assign(supply, cost, tight))
    assert np.bincount(labels, weights=supply, minlength=30)[0] >= supply.sum() - 29


def test_resplit_cuts_a_strip_crosswise_where_boundary_moves_are_stuck() -> None:
    """Two grids splitting a 20 x 4 strip lengthwise (PP 0.26 each): no single move or swap helps within
    1.02, a re-split cuts the strip crosswise (PP 0.64 each), balanced, each grid in one piece."""
    from gridmgmt.grids.partition import _balance_and_compact
    from gridmgmt.grids.search import SearchOptions, SearchState, compact, compactness_key, resplit

    nx, ny = 20, 4
    idx = np.arange(nx * ny).reshape(nx, ny)
    xy = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"), axis=-1).reshape(-1, 2) * CELL_M + 50.0
    edges = np.concatenate([np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),
                            np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)])  # fmt: skip
    units = UnitTable.from_arrays(xy, np.full(nx * ny, 60.0), area_km2=np.full(nx * ny, 0.01), edges=edges)
    state = SearchState(units, (xy[:, 1] > 2 * CELL_M).astype(np.int64), 2, workload.WorkloadModel())
    opt = SearchOptions(tolerance=1.02, min_compactness=0.4, movable=np.ones(units.n, dtype=bool),
                        closed_grids=np.zeros(2, dtype=bool), retailer_weight=0.0)  # fmt: skip
    assert compact(state, opt) == 0
    before = compactness_key(state.compactness())

    moved = resplit(state, opt, lambda s, o, changed: _balance_and_compact(s, o, True, changed))

    assert moved > 0 and compactness_key(state.compactness()) < before
    np.testing.assert_allclose(state.compactness(), 4 * math.pi * 0.4 / 2.8**2)  # two 1 km x 400 m halves
    assert metrics.balance_ratio(state.W) <= 1.02
    assert (metrics.components_per_grid(state.lab, units.edges, 2) == 1).all()


def test_units_priced_on_their_routes_scale_each_grids_travel_by_its_stop_weighted_factor(units, base) -> None:
    """Travel (all but service and access) times the stop-weighted mean of the grid's unit factors."""
    from gridmgmt.grids.search import SearchState

    k, labels = base.k, base.labels
    factor = np.random.default_rng(0).uniform(0.7, 1.4, units.n)

    priced = SearchState(units.with_travel_factor(factor), labels, k, MODEL).W

    on_site = np.bincount(labels, weights=units.service_min + units.access_min, minlength=k)
    stops = np.bincount(labels, weights=units.stops_per_month, minlength=k)
    mean_factor = np.bincount(labels, weights=units.stops_per_month * factor, minlength=k) / stops
    np.testing.assert_allclose(priced, on_site + (exact_workloads(units, labels, k) - on_site) * mean_factor)
    keep = units.xy_m[:, 0] > 1000
    assert units.with_travel_factor(factor).subset(keep).travel_factor.tolist() == factor[keep].tolist()
    with pytest.raises(ValueError, match="travel_factor"):
        units.with_travel_factor(np.zeros(units.n))


def test_a_partition_gives_less_work_where_the_routes_price_travel_higher(units) -> None:
    """The east priced at 3 times the model's travel: balanced on that, its grids are lighter on the model."""
    east = units.xy_m[:, 0] > units.xy_m[:, 0].mean()
    priced = partition(units.with_travel_factor(np.where(east, 3.0, 1.0)), 12, seed=0, workload_fn=MODEL)

    on_model = exact_workloads(units, priced.labels, 12)
    share_east = np.bincount(priced.labels, weights=east.astype(float), minlength=12) / np.bincount(priced.labels)
    assert metrics.balance_ratio(priced.workload_min) <= 1.02
    assert on_model[share_east > 0.9].mean() < 0.95 * on_model[share_east < 0.1].mean()  # 0.91 when written
