"""Tests of gridmgmt.grids.pairs: staff pairs matched to grids by depot and travel mode, pins, earlier grids."""

from __future__ import annotations

import copy
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from road_fixtures import synthetic_grid

from gridmgmt._errors import InputError
from gridmgmt.config import Settings
from gridmgmt.grids.build import build_grids, rebalance_grids
from gridmgmt.grids.grid_map import grid_map
from gridmgmt.grids.pairs import form_pairs, match_pairs, parse_pins, travel_cost
from gridmgmt.grids.report import grid_report
from gridmgmt.grids.unit_table import UnitTable
from gridmgmt.grids.verify import verify_workload
from gridmgmt.grids.workload import WorkloadModel
from gridmgmt.inputs.district import District
from gridmgmt.maps import save_map

ORIGIN = (106.70, 26.57)
#: pair -> (depot, mode of the manager, mode of the officer); the walking pair's officer drives
PAIRS = {1: ("DE", "ebike", "ebike"), 2: ("DC", "walk", "car"), 3: ("DW", "ebike", "ebike"), 4: ("DC", "car", "car")}


def _district(n_retailers: int = 480, seed: int = 4) -> District:
    """A 16 x 16 street grid, retailers dense in the centre, depots west, centre and east.

    The east ebike pair holds staff grid_id 1, the north-west grid in the numbering, so a
    matching by grid number would send it across the district.
    """
    graph = synthetic_grid(16, 16, spacing_m=150.0, origin=ORIGIN, seed=1)
    nodes = pd.DataFrame.from_dict(dict(graph.nodes(data=True)), orient="index")
    rng = np.random.default_rng(seed)
    box = shapely.box(nodes.x.min(), nodes.y.min(), nodes.x.max(), nodes.y.max())
    boundary = gpd.GeoDataFrame({"name": ["test"]}, geometry=[box], crs="EPSG:4326")
    crs = boundary.estimate_utm_crs()
    boundary = gpd.GeoDataFrame({"name": ["test"]}, geometry=boundary.to_crs(crs).buffer(60.0).to_crs("EPSG:4326"))
    dense = rng.random(n_retailers) < 0.5
    fx = np.where(dense, rng.uniform(0.35, 0.65, n_retailers), rng.uniform(0.0, 1.0, n_retailers))
    fy = np.where(dense, rng.uniform(0.35, 0.65, n_retailers), rng.uniform(0.0, 1.0, n_retailers))
    x0, x1, y0, y1 = nodes.x.min(), nodes.x.max(), nodes.y.min(), nodes.y.max()
    retailers = gpd.GeoDataFrame(
        {
            "retailer_id": [f"5201031{i:05d}" for i in range(n_retailers)],
            "name": [f"店{i}" for i in range(n_retailers)],
            "business_type": rng.choice(["grocery", "convenience", "supermarket"], n_retailers),
            "customer_class": rng.choice(["AA", "A", "B", "C"], n_retailers),
        },
        geometry=gpd.points_from_xy(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)),
        crs="EPSG:4326",
    )
    ym = (y0 + y1) / 2
    depots = gpd.GeoDataFrame(
        {"depot_id": ["DW", "DC", "DE"], "name": ["西站", "局", "东站"]},
        geometry=gpd.points_from_xy([x0 + 0.1 * (x1 - x0), (x0 + x1) / 2, x0 + 0.9 * (x1 - x0)], [ym, ym, ym]),
        crs="EPSG:4326",
    )
    rows = []
    for g, (depot, mk_mode, mo_mode) in PAIRS.items():
        rows.append({"staff_id": f"M{g:02d}", "name": f"营{g}", "department": "marketing", "grid_id": g,
                     "depot": depot, "travel_mode": mk_mode})  # fmt: skip
        rows.append({"staff_id": f"Z{g:02d}", "name": f"专{g}", "department": "monopoly", "grid_id": g,
                     "depot": depot, "travel_mode": mo_mode})  # fmt: skip
    return District(settings=Settings(), boundary=boundary, retailers=retailers, events=pd.DataFrame(),
                    orders=pd.DataFrame(), staff=pd.DataFrame(rows), depots=depots, _graph=graph)  # fmt: skip


@pytest.fixture(scope="module")
def district() -> District:
    return _district()


@pytest.fixture(scope="module")
def plan(district):
    return build_grids(district, 4, seed=0)


def _grid_of(plan, staff_id: str) -> pd.Series:
    g = plan.grids.to_crs(plan.grids.estimate_utm_crs())
    return g.loc[(g["customer_manager"] == staff_id) | (g["monopoly_officer"] == staff_id)].iloc[0]


def test_pairs_are_formed_by_staff_grid_id_at_the_slower_mode_from_the_officers_depot():
    """M02 (walk) + Z02 (car) are one pair walking from DC; staff without a grid id pair up in staff_id order."""
    staff = _district(20).staff
    extra = pd.DataFrame({"staff_id": ["M09", "Z09"], "name": ["a", "b"], "department": ["marketing", "monopoly"],
                          "depot": ["DW", ""], "travel_mode": ["car", "car"]})  # fmt: skip
    pairs = form_pairs(pd.concat([staff, extra], ignore_index=True), ["DW", "DC", "DE"])
    assert len(pairs) == 5
    two = pairs.loc[pairs["customer_manager"] == "M02"].iloc[0]
    assert (two["monopoly_officer"], two["travel_mode"], two["depot"], two["depot_index"]) == ("Z02", "walk", "DC", 1)
    last = pairs.iloc[-1]
    assert (last["customer_manager"], last["monopoly_officer"], last["depot"]) == ("M09", "Z09", "DW")


def test_matching_sends_each_pair_to_the_grid_near_its_depot_whatever_its_grid_number():
    """On a cost matrix alone: two ebike pairs, depots west and east, staff grid ids crossed; travel wins."""
    xy = np.array([[x * 500.0, 0.0] for x in range(10)])
    units = UnitTable.from_arrays(xy, np.ones(10), stops_per_month=np.full(10, 5.0), area_km2=np.full(10, 0.25),
                                  depot_xy_m=[[0.0, 0.0], [4500.0, 0.0]])  # fmt: skip
    labels = np.repeat([0, 1], 5)  # grid 0 west, grid 1 east
    pairs = pd.DataFrame({"travel_mode": ["ebike", "ebike"], "depot_index": [1, 0]})  # pair 0 east, pair 1 west
    cost = travel_cost(pairs, units, labels, 2, {"ebike": WorkloadModel(c_tour_min=9.5, speed_kmh=6.4)})
    assert list(match_pairs(cost, preferred=np.array([0, 1]))) == [1, 0]
    assert list(match_pairs(cost, fixed={0: 0})) == [0, 1]  # a pin wins over travel


def test_no_pair_crosses_the_district_past_a_nearer_pair_of_the_same_mode(district, plan):
    """The east ebike pair (staff grid_id 1, the north-west grid) serves the east; the west ebike pair the west."""
    east, west = _grid_of(plan, "M01"), _grid_of(plan, "M03")
    assert east.geometry.centroid.x > west.geometry.centroid.x
    assert (east["depot"], east["travel_mode"], west["depot"], west["travel_mode"]) == ("DE", "ebike", "DW", "ebike")
    depots = district.depots.to_crs(plan.grids.estimate_utm_crs()).set_index("depot_id").geometry
    assert east.geometry.distance(depots["DE"]) < east.geometry.distance(depots["DW"])
    assert west.geometry.distance(depots["DW"]) < west.geometry.distance(depots["DE"])
    assert plan.metrics["pairs_matched_by"] == "travel"
    assert plan.metrics["balance"] <= district.settings.grids.balance_tolerance + 1e-9 and plan.metrics["contiguous"]


def test_walking_pairs_get_smaller_denser_grids_than_car_pairs(plan):
    """The walking pair's grid is the smallest and densest; the car pair's is larger and sparser."""
    walk, car = _grid_of(plan, "M02"), _grid_of(plan, "M04")
    assert walk["travel_mode"] == "walk" and car["travel_mode"] == "car"
    assert walk["area_km2"] == plan.grids["area_km2"].min()
    assert walk["area_km2"] < car["area_km2"] and walk["density_per_km2"] > car["density_per_km2"]


def test_grids_table_report_and_verify_name_each_pairs_depot_and_mode(district, plan, tmp_path):
    """grids, the report and the map carry depot and travel_mode; verify routes each grid in its pair's mode."""
    rep = grid_report(plan).set_index("customer_manager")
    assert rep.loc["M02", "travel_mode"] == "walk" and rep.loc["M01", "depot"] == "DE"
    v = verify_workload(district, plan, day_stride=4).set_index("grid_id")
    by_grid = plan.grids.set_index("grid_id")
    assert (v["travel_mode"] == by_grid.loc[v.index, "travel_mode"]).all()
    assert (v["depot"] == by_grid.loc[v.index, "depot"]).all()
    html = save_map(grid_map(plan, district, lang="en"), tmp_path / "grids.html").read_text(encoding="utf-8")
    assert "Travel mode" in html and "e-bike" in html
    assert "DE 东站" in html or json.dumps("DE 东站")[1:-1] in html  # folium may JSON-escape the popups


def test_pins_are_honoured_and_bad_pins_fail_clearly(district, plan):
    """--pin M01=2 puts the east pair on grid 2; unknown staff, unknown grids and clashes are input errors."""
    pinned = build_grids(district, 4, seed=0, pins={"Z01": 2, "M04": 4})
    g = pinned.grids.set_index("grid_id")
    assert (g.loc[2, "customer_manager"], g.loc[4, "monopoly_officer"]) == ("M01", "Z04")
    assert sorted(g["customer_manager"]) == ["M01", "M02", "M03", "M04"]
    assert parse_pins(["M01=2,Z04=4", "M03=1"]) == {"M01": 2, "Z04": 4, "M03": 1}
    with pytest.raises(InputError, match="STAFF=GRID"):
        parse_pins(["M01:2"])
    for bad, what in (({"X99": 1}, "X99"), ({"M01": 9}, "9"), ({"M01": 1, "Z02": 1}, "two pairs")):
        with pytest.raises(InputError, match=what):
            build_grids(district, 4, seed=0, pins=bad)


def test_an_earlier_plan_keeps_pairs_on_the_grid_they_overlap(district, plan):
    """Retailers carrying an earlier plan's grid ids: grids keep those ids and pairs their staff.grid_id grid."""
    before = plan.grids.set_index("grid_id")
    d = copy.copy(district)
    staff = district.staff.copy()
    staff["grid_id"] = [int(before.index[before["customer_manager"].eq(s) | before["monopoly_officer"].eq(s)][0])
                        for s in staff["staff_id"]]  # fmt: skip
    d.staff = staff
    d.retailers = district.retailers.merge(plan.assignment, on="retailer_id")
    again = build_grids(d, 4, seed=1)
    assert again.metrics["pairs_matched_by"] == "earlier grids"
    old = plan.assignment.set_index("retailer_id")["grid_id"]
    new = again.assignment.set_index("retailer_id")["grid_id"].reindex(old.index)
    overlap = pd.crosstab(new, old)
    for gid, row in again.grids.set_index("grid_id").iterrows():
        assert int(overlap.loc[gid].idxmax()) == gid  # the new grid overlaps the old grid of its id most
        assert row["customer_manager"] == before.loc[gid, "customer_manager"]  # the pair followed its grid
    # a rebalance keeps every pair on its grid; a pin swaps two pairs
    kept, _, _ = rebalance_grids(district, plan)
    assert list(kept.grids["customer_manager"]) == list(plan.grids["customer_manager"])
    swapped, _, _ = rebalance_grids(district, plan, pins={"M01": int(_grid_of(plan, "M03")["grid_id"])})
    assert _grid_of(swapped, "M01")["grid_id"] == _grid_of(plan, "M03")["grid_id"]
    assert _grid_of(swapped, "M03")["grid_id"] == _grid_of(plan, "M01")["grid_id"]
