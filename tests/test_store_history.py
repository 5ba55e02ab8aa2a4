"""The shared store's history, runs, schema, init, backup and export on SQLite and PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa
from shapely.geometry import Point, box

from gridmgmt._errors import StoreError
from gridmgmt.store import open_store
from gridmgmt.store.engine import HEAD
from gridmgmt.store.schema import metadata

pytestmark = pytest.mark.slow  # a PostgreSQL server or many generated requests: outside the quick loop


def _district() -> SimpleNamespace:
    """A tiny district as load_district gives one: 4 retailers in 2 grids, a pair per grid, 6 events."""
    retailers = gpd.GeoDataFrame(
        {
            "retailer_id": ["R1", "R2", "R3", "R4"],
            "name": ["甲", "乙", "丙", "丁"],
            "address": ["a", "b", "c", "d"],
            "lon": [106.70, 106.71, 106.72, 106.73],
            "lat": [26.58, 26.58, 26.59, 26.59],
            "customer_class": ["A", "B", "C", "D"],
            "licence_date": ["2020-01-01", "2020-01-01", "2025-06-01", "2020-01-01"],
            "grid_id": ["1", "1", "2", "2"],
        },
        geometry=[Point(106.70 + k / 100, 26.58) for k in range(4)],
        crs="EPSG:4326",
    )
    staff = pd.DataFrame(
        {
            "staff_id": ["M01", "S01", "M02", "S02"],
            "name": ["m1", "s1", "m2", "s2"],
            "department": ["marketing", "monopoly", "marketing", "monopoly"],
            "grid_id": [1, 1, 2, 2],
            "depot": "D1",
        }
    )
    events = pd.DataFrame(
        {
            "event_id": [f"E{k}" for k in range(6)],
            "retailer_id": ["R1", "R2", "R3", "R4", "R1", "R2"],
            "time": pd.to_datetime(["2025-01-02 09:00"] * 6) + pd.to_timedelta(range(6), unit="h"),
            "type": ["inspection", "visit", "tip_off", "complaint", "violation", "visit"],
            "department": ["monopoly", "marketing", "public", "public", "monopoly", "marketing"],
            "outcome": ["ok", "", "", "", "", ""],
            "severity": ["", "", "", "", "serious", ""],
            "note": "",
            "corrects": "",
        }
    )
    boundary = gpd.GeoDataFrame({"name": ["d"]}, geometry=[box(106.6, 26.5, 106.8, 26.7)], crs="EPSG:4326")
    depots = gpd.GeoDataFrame({"depot_id": ["D1"]}, geometry=[Point(106.71, 26.585)], crs="EPSG:4326")
    return SimpleNamespace(
        retailers=retailers,
        staff=staff,
        events=events,
        boundary=boundary,
        depots=depots,
        subdistricts=None,
        schools=None,
    )


def test_schema_is_created_once_and_matches_the_tables(store_url: str) -> None:
    """Opening creates the schema at HEAD (Alembic's head, from the file names); opening again changes nothing."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gridmgmt.store.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    open_store(store_url, create=True).close()
    with open_store(store_url, create=True) as store:
        inspector = sa.inspect(store.engine)
        for name, table in metadata.tables.items():
            assert {c["name"] for c in inspector.get_columns(name)} == set(table.columns.keys()), name
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("events")}
        assert {("time",), ("retailer_id",), ("type",)} <= indexed
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def test_init_loads_a_district_once(store_url: str) -> None:
    """store init loads retailers, staff, pairs, grids, layers and events in one go, and refuses a second time."""
    district = _district()
    with open_store(store_url, create=True) as store:
        counts = store.init_district(district, valid_from="2025-01-01")
        assert counts == {
            "retailers": 4,
            "staff": 4,
            "staff_pairs": 2,
            "grid_assignments": 4,
            "boundary": 1,
            "depots": 1,
            "events": 6,
        }
        with pytest.raises(StoreError, match="already holds a district"):
            store.init_district(district)
        assert store.count_events() == 6
        retailers = store.retailers()
        assert retailers.crs.equals("EPSG:4326") and retailers.geometry.x.round(2).tolist() == [
            106.7,
            106.71,
            106.72,
            106.73,
        ]
        assert retailers["customer_class"].tolist() == ["A", "B", "C", "D"]
        assert store.features("boundary").geometry.iloc[0].equals(district.boundary.geometry.iloc[0])
        with pytest.raises(Exception, match="unknown retailer"):
            store.add_event(retailer_id="R99", time="2025-02-01T10:00", type="visit", department="marketing")


def test_responsible_pair_follows_validity_periods(store_url: str) -> None:
    """Which pair was responsible on a date follows grid moves, staff changes and licence periods."""
    with open_store(store_url, create=True) as store:
        store.init_district(_district(), valid_from="2025-01-01")
        assert store.responsible_pair("R1", "2025-03-01").customer_manager == "M01"
        # R2 moves to grid 2 on 1 April; grid 2's officer changes on 1 May; R4 closes on 1 June
        moved = store.publish_assignment(
            pd.DataFrame({"retailer_id": ["R1", "R2", "R3", "R4"], "grid_id": ["1", "2", "2", "2"]}), "2025-04-01"
        )
        assert moved == 1
        store.publish_pairs(
            pd.DataFrame(
                {"grid_id": ["1", "2"], "customer_manager": ["M01", "M02"], "monopoly_officer": ["S01", "S09"]}
            ),
            "2025-05-01",
        )
        store.close_licence("R4", "2025-06-01")
        before, after = store.responsible_pair("R2", "2025-03-31"), store.responsible_pair("R2", "2025-04-01")
        assert (before.grid_id, before.monopoly_officer) == ("1", "S01")
        assert (after.grid_id, after.monopoly_officer) == ("2", "S02")
        assert store.responsible_pair("R2", "2025-05-01").monopoly_officer == "S09"
        assert store.responsible_pair("R4", "2025-05-31").grid_id == "2"
        assert store.responsible_pair("R4", "2025-06-01") is None  # licence closed
        assert store.responsible_pair("R3", "2025-05-01") is None  # licensed only from 1 June
        assert store.responsible_pair("R3", "2025-06-01").grid_id == "2"
        assert store.responsible_pair("R1", "2024-12-31") is None  # before the store's history
        assert sorted(store.assignment_on("2025-03-01")["grid_id"]) == ["1", "1", "2", "2"]


def test_a_published_grids_run_makes_its_matched_pairs_current(store_url: str) -> None:
    """A build matches pairs to grids by travel mode: from the day its grids are published, its pairs serve them."""
    grids = gpd.GeoDataFrame(
        {"grid_id": [1, 2], "customer_manager": ["M02", "M01"], "monopoly_officer": ["S02", ""]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    assignment = pd.DataFrame({"retailer_id": ["R1", "R2", "R4"], "grid_id": [1, 2, 2]})
    with open_store(store_url, create=True) as store:
        store.init_district(_district(), valid_from="2025-01-01")
        store.write_run("grids", {"grids": grids, "assignment": assignment}, assignment_from="2025-04-01")
        assert store.responsible_pair("R1", "2025-03-31").customer_manager == "M01"  # the staff table's pair
        now = store.responsible_pair("R1", "2025-04-01")
        assert (now.grid_id, now.customer_manager, now.monopoly_officer) == ("1", "M02", "S02")
        # a grid whose pair the build left half-named keeps its pair
        pairs = store.pairs_on("2025-04-01").set_index("grid_id")
        assert pairs.loc["2", ["customer_manager", "monopoly_officer"]].tolist() == ["M02", "S02"]


def test_runs_keep_every_result_readable(store_url: str) -> None:
    """Each result is a run with id, time, inputs' hashes and parameters; an earlier run stays readable."""
    grids = gpd.GeoDataFrame(
        {"grid_id": ["1", "2"], "minutes": [410.5, 399.0]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)]
    )
    grids = grids.set_crs("EPSG:4326")
    with open_store(store_url, create=True) as store:
        first = store.write_run(
            "grids",
            {"grids": grids, "assignment": pd.DataFrame({"retailer_id": ["R1", "R2"], "grid_id": ["1", "2"]})},
            inputs={"retailers.csv": "ab" * 32},
            parameters={"seed": 0, "count": 2},
            assignment_from="2025-01-01",
        )
        scores = pd.DataFrame({"retailer_id": ["R1"], "score": [0.7], "as_of": pd.to_datetime(["2025-02-01"])})
        store.write_run("risk", {"risk": scores}, parameters={"as_of": pd.Timestamp("2025-02-01")})
        second = store.write_run(
            "grids",
            {
                "grids": grids.assign(minutes=[1.0, 2.0]),
                "assignment": pd.DataFrame({"retailer_id": ["R1", "R2"], "grid_id": ["2", "2"]}),
            },
            assignment_from="2025-03-01",
        )
        assert store.read_run(kind="grids").run_id == second
        old = store.read_run(first)
        assert old.parameters == {"seed": 0, "count": 2} and old.inputs == {"retailers.csv": "ab" * 32}
        assert old.layers["grids"]["minutes"].tolist() == [410.5, 399.0]
        assert old.layers["grids"].geometry.iloc[1].equals(box(1, 0, 2, 1))
        risk = store.read_run(kind="risk")
        assert risk.layers["risk"]["as_of"].dtype.kind == "M" and risk.parameters["as_of"].startswith("2025-02-01")
        assert store.list_runs("grids")["run_id"].tolist() == [second, first]
        assert store.assignment_on("2025-02-01").set_index("retailer_id")["grid_id"].to_dict() == {"R1": "1", "R2": "2"}
        assert store.assignment_on("2025-03-01").set_index("retailer_id")["grid_id"].to_dict() == {"R1": "2", "R2": "2"}


def test_backup_is_a_consistent_copy(store_url: str, tmp_path) -> None:
    """store backup writes a copy (SQLite file or pg_dump archive) while the store stays open for writing."""
    with open_store(store_url, create=True) as store:
        store.init_district(_district(), valid_from="2025-01-01")
        target = store.backup(tmp_path / ("copy.sqlite" if store.backend == "sqlite" else "copy.dump"))
        store.add_event(retailer_id="R1", time="2025-03-01T10:00", type="visit", department="marketing")
    assert target.stat().st_size > 0
    if store.backend == "sqlite":
        with open_store(target) as copy:
            assert copy.count_events() == 6 and len(copy.retailers()) == 4
    else:
        assert target.read_bytes()[:5] == b"PGDMP"


def test_export_writes_every_current_layer(store_url: str, tmp_path) -> None:
    """store export writes a GeoPackage with inputs, history, the events and the newest runs, for QGIS."""
    with open_store(store_url, create=True) as store:
        store.init_district(_district(), valid_from="2025-01-01")
        store.write_run("risk", {"risk": _district().retailers[["retailer_id", "geometry"]].assign(score=0.5)})
        path, names = store.export(tmp_path / "store.gpkg")
    layers = set(pyogrio.list_layers(path)[:, 0])
    assert {"boundary", "depots", "retailers", "staff", "staff_pairs", "events", "risk"} <= layers == set(names)
    retailers = gpd.read_file(path, layer="retailers")
    assert retailers.crs.equals("EPSG:4326") and len(retailers) == 4
    with open_store(store_url, create=True) as store, pytest.raises(StoreError, match=r"\.gpkg"):
        store.export(tmp_path / "store.csv")


def test_store_url_from_the_environment(monkeypatch, tmp_path) -> None:
    """GRIDMGMT_STORE names the store when none is given; a GeoPackage path is refused with a hint."""
    monkeypatch.setenv("GRIDMGMT_STORE", str(tmp_path / "env.sqlite"))
    with open_store(create=True) as store:
        assert store.label.endswith("env.sqlite")
    monkeypatch.delenv("GRIDMGMT_STORE")
    with pytest.raises(StoreError, match="no store given"):
        open_store()
    with pytest.raises(StoreError, match="not the shared store"):
        open_store(tmp_path / "store.gpkg")
