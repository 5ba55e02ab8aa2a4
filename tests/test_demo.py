"""Tests of the synthetic demo district generator (gridmgmt.demo) on a small, short district."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gridmgmt import demo
from gridmgmt.config import Files, load_settings
from gridmgmt.io import read_table

N_RETAILERS = 600
HISTORY_END = "2026-11-30"
HISTORY_DAYS = 150


def _generate(path: Path, seed: int) -> dict[str, Path]:
    return demo.generate_demo(
        path, seed=seed, n_retailers=N_RETAILERS, history_end=HISTORY_END, history_days=HISTORY_DAYS
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _generate(tmp_path_factory.mktemp("demo_a"), seed=7)


@pytest.fixture(scope="module")
def graph(small: dict[str, Path]) -> nx.MultiDiGraph:
    import osmnx as ox

    return ox.graph_from_xml(small["network"], retain_all=True)


@pytest.fixture(scope="module")
def retailers(small: dict[str, Path]) -> pd.DataFrame:
    return read_table(small["retailers"])


def _events(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_same_seed_same_files_other_seed_differs(small: dict[str, Path], tmp_path: Path) -> None:
    """The same seed gives byte-identical retailers, network and events; another seed gives other retailers."""
    again = _generate(tmp_path / "b", seed=7)
    for key in ("retailers", "network", "events", "staff", "ground_truth", "schools", "subdistricts", "district"):
        assert small[key].read_bytes() == again[key].read_bytes(), key
    pd.testing.assert_frame_equal(_events(small["events"]), _events(again["events"]))
    pd.testing.assert_frame_equal(pd.read_parquet(small["orders"]), pd.read_parquet(again["orders"]))
    other = _generate(tmp_path / "c", seed=8)
    assert small["retailers"].read_bytes() != other["retailers"].read_bytes()
    assert not _events(small["events"]).equals(_events(other["events"]))


def test_every_file_written_and_named_in_district_toml(small: dict[str, Path]) -> None:
    """load_settings accepts the written district.toml, and every file it names exists."""
    settings = load_settings(small["district"])
    assert settings.history_end == HISTORY_END
    assert settings.grids.count == 12
    for key in (f.name for f in dataclasses.fields(Files)):
        path = settings.path(key)
        assert path.is_file() and path.stat().st_size > 0, key
        assert path == small[key].resolve()


def test_network_loads_strongly_connected_inside_boundary(small: dict[str, Path], graph: nx.MultiDiGraph) -> None:
    """osmnx reads roads.osm.gz; the directed graph is strongly connected, inside the district, with one-way
    streets, and there are no streets in 黔灵山 park."""
    assert len(graph) > 1000
    assert nx.is_strongly_connected(graph)
    boundary = gpd.read_file(small["boundary"]).union_all()
    lon = np.array([d["x"] for _, d in graph.nodes(data=True)])
    lat = np.array([d["y"] for _, d in graph.nodes(data=True)])
    assert shapely.contains_xy(boundary, lon, lat).all()
    oneway = [d.get("oneway") for _, _, d in graph.edges(data=True)]
    assert sum(oneway) > 100
    assert {"primary", "residential", "secondary"} <= {
        d["highway"] for _, _, d in graph.edges(data=True) if isinstance(d["highway"], str)
    }
    park = gpd.GeoSeries([shapely.Point(demo.PARK_LONLAT)], crs=demo.WGS84).to_crs(demo.UTM_CRS).buffer(400)
    park_wgs = park.to_crs(demo.WGS84).iloc[0]
    assert not shapely.contains_xy(park_wgs, lon, lat).any()


def test_old_town_much_denser_than_new_town(small: dict[str, Path], retailers: pd.DataFrame) -> None:
    """About two thirds of retailers sit in the old town (a fifth of the area): density ratio well above 4."""
    subs = gpd.read_file(small["subdistricts"]).to_crs(demo.UTM_CRS)
    area_km2 = subs.set_index("name_zh").area / 1e6
    counts = retailers["subdistrict"].value_counts().reindex(area_km2.index, fill_value=0)
    kind = subs.set_index("name_zh")["area_type"]
    old, new = kind == "old_town", kind == "new_town"
    density_old = counts[old].sum() / area_km2[old].sum()
    density_new = counts[new].sum() / area_km2[new].sum()
    assert density_old > 4 * density_new
    assert set(retailers["subdistrict"]) <= set(subs["name_zh"])
    assert len(subs) == 18
    assert abs(subs.union_all().area - gpd.read_file(small["boundary"]).to_crs(demo.UTM_CRS).area.sum()) < 1e4


def test_retailer_columns_and_category_shares(retailers: pd.DataFrame) -> None:
    """Licence numbers are unique 520103xxxxxx; business types and classes follow the target shares."""
    assert len(retailers) == N_RETAILERS
    assert retailers["retailer_id"].is_unique
    assert retailers["retailer_id"].str.fullmatch(r"520103\d{6}").all()
    shares = retailers["business_type"].value_counts(normalize=True)
    for kind, target in demo.BUSINESS_SHARES.items():
        assert abs(shares.get(kind, 0.0) - target) < 0.06, kind
    assert abs((retailers["customer_class"] == "A").mean() - 0.89) < 0.05
    assert retailers["open_time"].str.fullmatch(r"\d\d:\d\d").all()
    assert (retailers["close_time"] == "24:00").any()
    assert retailers["name"].str.contains("<script>", regex=False).sum() == 1
    assert retailers["grid_id"].eq("").all()


def test_events_within_history_and_consistent(small: dict[str, Path], retailers: pd.DataFrame) -> None:
    """No event after history_end or before the history starts; every violation follows a found inspection."""
    ev = _events(small["events"])
    assert ev["event_id"].is_unique
    assert ev["time"].max() <= HISTORY_END + "T23:59"
    start = (pd.Timestamp(HISTORY_END) - pd.Timedelta(days=HISTORY_DAYS - 1)).strftime("%Y-%m-%d")
    assert ev["time"].min() >= start
    assert set(ev["retailer_id"]) <= set(retailers["retailer_id"])
    assert {"inspection", "violation", "tip_off", "complaint", "visit"} <= set(ev["type"])
    viol = ev[(ev["type"] == "violation") & (ev["corrects"] == "")]
    found = ev[(ev["type"] == "inspection") & (ev["outcome"] == "violation")]
    assert len(viol) == len(found) > 0
    assert viol["severity"].isin(["minor", "serious", "criminal"]).all()
    assert set(ev.loc[ev["type"] == "inspection", "outcome"]) == {"ok", "violation"}
    orders = pd.read_parquet(small["orders"])
    assert (orders["cartons"] >= 0).all()
    assert orders["week"].max() <= HISTORY_END
    assert (pd.to_datetime(orders["week"]).dt.day_of_week == 0).all()


def test_ground_truth_matches_retailers(small: dict[str, Path], retailers: pd.DataFrame) -> None:
    """ground_truth.csv has one positive true_risk per retailer, higher for tobacco_liquor than for malls."""
    truth = pd.read_csv(small["ground_truth"], dtype={"retailer_id": str})
    assert list(truth["retailer_id"]) == list(retailers["retailer_id"])
    assert (truth["true_risk"] > 0).all()
    by_type = truth["true_risk"].groupby(retailers["business_type"]).median()
    assert by_type["tobacco_liquor"] > by_type["mall"]


def test_staff_and_depots(small: dict[str, Path]) -> None:
    """12 customer managers and 12 monopoly officers, paired on grids 1-12, at one of the 3 depots."""
    staff = read_table(small["staff"])
    depots = read_table(small["depots"])
    assert len(depots) == 3
    assert set(staff["depot"]) <= set(depots["depot_id"])
    assert staff.groupby("department").size().to_dict() == {"marketing": 12, "monopoly": 12}
    assert (staff.groupby("grid_id")["department"].nunique() == 2).all()
    assert set(staff["travel_mode"]) <= {"walk", "ebike", "car"}


def test_churn_adds_east_and_closes_old(
    small: dict[str, Path], graph: nx.MultiDiGraph, retailers: pd.DataFrame
) -> None:
    """make_churn_scenario opens shops in 渔安/水东路 beside streets and closes old-town ones."""
    subs = gpd.read_file(small["subdistricts"])
    changed = demo.make_churn_scenario(retailers, graph, subs, seed=1, n_new_east=30, n_closed_old=20)
    assert len(changed) == len(retailers) + 30 - 20
    assert changed["retailer_id"].is_unique
    new = changed[~changed["retailer_id"].isin(retailers["retailer_id"])]
    assert len(new) == 30 and new["subdistrict"].isin(demo.EAST_SUBDISTRICTS).all()
    gone = retailers[~retailers["retailer_id"].isin(changed["retailer_id"])]
    assert gone["subdistrict"].isin(demo.OLD_TOWN_SUBDISTRICTS).all()
    assert list(changed.columns) == list(retailers.columns)


def test_gzip_outputs_are_reproducible(small: dict[str, Path]) -> None:
    """The gzip headers carry no timestamp, so reruns do not change the committed bytes."""
    for key in ("network", "events"):
        assert small[key].read_bytes()[4:8] == b"\x00\x00\x00\x00"
        assert gzip.decompress(small[key].read_bytes())
