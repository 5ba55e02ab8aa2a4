"""Tests of gridmgmt.inputs.tables: boundary, depots, staff, orders and point layers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from gridmgmt._errors import InputError
from gridmgmt.coords import wgs84_to_gcj02
from gridmgmt.inputs.tables import load_boundary, load_depots, load_orders, load_points, load_staff


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def problems_of(func, *args, **kwargs):
    with pytest.raises(InputError) as info:
        func(*args, **kwargs)
    return [str(p) for p in info.value.problems]


# -- boundary ---------------------------------------------------------------------------------


def test_boundary_merges_features_and_reprojects(tmp_path):
    """Two touching polygons in UTM become one WGS-84 polygon row."""
    halves = gpd.GeoDataFrame(
        {"name": ["云岩区", "x"]},
        geometry=[box(106.65, 26.54, 106.70, 26.64), box(106.70, 26.54, 106.75, 26.64)],
        crs="EPSG:4326",
    )
    path = tmp_path / "boundary.gpkg"
    halves.to_crs(halves.estimate_utm_crs()).to_file(path, driver="GPKG")
    boundary = load_boundary(path)
    assert len(boundary) == 1
    assert boundary.crs.to_epsg() == 4326
    assert boundary.geometry.iloc[0].geom_type == "Polygon"
    assert boundary.total_bounds == pytest.approx([106.65, 26.54, 106.75, 26.64], abs=1e-6)
    assert boundary["name"].iloc[0] == "云岩区"


def test_boundary_geoparquet(tmp_path):
    """A GeoParquet boundary loads."""
    frame = gpd.GeoDataFrame(geometry=[box(106.65, 26.54, 106.75, 26.64)], crs="EPSG:4326")
    frame.to_parquet(tmp_path / "b.parquet")
    assert load_boundary(tmp_path / "b.parquet").geometry.iloc[0].area == pytest.approx(0.01)


def test_boundary_not_polygonal_or_empty(tmp_path):
    """A line boundary and an empty layer are clear errors naming the file."""
    line = gpd.GeoDataFrame(geometry=[LineString([(106.65, 26.54), (106.75, 26.64)])], crs="EPSG:4326")
    line.to_file(tmp_path / "line.geojson", driver="GeoJSON")
    texts = problems_of(load_boundary, tmp_path / "line.geojson")
    assert "line.geojson, field 'geometry': the boundary must be a polygon" in texts[0]
    assert "LineString" in texts[0]
    (tmp_path / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    texts = problems_of(load_boundary, tmp_path / "empty.geojson")
    assert "empty.geojson" in texts[0] and "no geometry" in texts[0]
    texts = problems_of(load_boundary, tmp_path / "missing.geojson")
    assert "file not found" in texts[0]


# -- depots and points ------------------------------------------------------------------------


def test_depots_load_and_convert_gcj02(tmp_path):
    """Depots declared gcj02 come back at their WGS-84 position."""
    lon, lat = wgs84_to_gcj02(106.71, 26.5848)
    path = write(tmp_path, "depots.csv", ["depot_id,name,lon,lat", f"D1,云岩所,{lon:.9f},{lat:.9f}"])
    depots = load_depots(path, coords="gcj02")
    assert depots.crs.to_epsg() == 4326
    assert depots["lon"].iloc[0] == pytest.approx(106.71, abs=1e-8)
    assert depots.geometry.iloc[0].y == pytest.approx(26.5848, abs=1e-8)


def test_depots_duplicate_and_bad_coordinates(tmp_path):
    """Duplicate depot ids and bad coordinates name their rows."""
    path = write(tmp_path, "depots.csv", ["depot_id,name,lon,lat", "D1,a,106.71,26.58", "D1,b,106.72,north"])
    texts = problems_of(load_depots, path)
    assert any("row 3, field 'depot_id': duplicate depot_id, first in row 2" in t for t in texts)
    assert any("row 3, field 'lat': not a latitude" in t and "'north'" in t for t in texts)


def test_points_geojson_and_csv(tmp_path):
    """Schools load from GeoJSON points and from CSV with lon/lat, keeping their columns."""
    schools = gpd.GeoDataFrame(
        {"school_id": ["S1", "S2"], "name": ["一中", "二小"]},
        geometry=[Point(106.70, 26.58), Point(106.71, 26.59)],
        crs="EPSG:4326",
    )
    schools.to_file(tmp_path / "schools.geojson", driver="GeoJSON")
    loaded = load_points(tmp_path / "schools.geojson")
    assert loaded["name"].tolist() == ["一中", "二小"]
    assert loaded.geometry.iloc[1].x == pytest.approx(106.71)
    csv = write(tmp_path, "s.csv", ["school_id,name,经度,纬度", "S1,一中,106.70,26.58"])
    assert load_points(csv)["lat"].iloc[0] == pytest.approx(26.58)
    texts = problems_of(load_points, write(tmp_path, "bad.csv", ["school_id,name", "S1,x"]))
    assert "missing columns: lon, lat" in texts[0]


# -- staff ------------------------------------------------------------------------------------

STAFF = [
    "staff_id,name,department,grid_id,depot,travel_mode,shift_start,shift_end",
    "M01,张三,marketing,1,D1,ebike,08:30,17:30",
    "Z01,李四,monopoly,1,D1,car,,",
    "Z02,王五,monopoly,,D1,walk,09:00,18:00",
]


def test_staff_loads(tmp_path):
    """A clean staff table loads with Int64 grid ids and '' for default shifts."""
    staff = load_staff(write(tmp_path, "staff.csv", STAFF), depot_ids={"D1"})
    assert str(staff["grid_id"].dtype) == "Int64"
    assert staff["grid_id"].isna().tolist() == [False, False, True]
    assert staff["shift_start"].tolist() == ["08:30", "", "09:00"]


def test_staff_every_check(tmp_path):
    """Bad department, travel mode, shift times, unknown depot and duplicate ids are all reported."""
    rows = [
        STAFF[0],
        "M01,张三,sales,1,D1,ebike,08:30,17:30",
        "M01,赵六,monopoly,1,D9,bike,08:30,17:30",
        "Z02,王五,monopoly,x,D1,walk,9h,18:00",
        "Z03,钱七,monopoly,2,D1,walk,18:00,09:00",
    ]
    texts = problems_of(load_staff, write(tmp_path, "staff.csv", rows), depot_ids={"D1"})
    assert any("row 2, field 'department'" in t and "'sales'" in t for t in texts)
    assert any("row 3, field 'staff_id': duplicate staff_id, first in row 2" in t for t in texts)
    assert any("row 3, field 'depot': unknown depot_id" in t and "'D9'" in t for t in texts)
    assert any("row 3, field 'travel_mode'" in t and "'bike'" in t and "did you mean 'ebike'" in t for t in texts)
    assert any("row 4, field 'grid_id'" in t and "'x'" in t for t in texts)
    assert any("row 4, field 'shift_start'" in t and "'9h'" in t for t in texts)
    assert any("row 5, field 'shift_end': shift ends before it starts" in t for t in texts)


# -- orders -----------------------------------------------------------------------------------


def test_orders_parquet_and_types(tmp_path):
    """Orders from Parquet: week becomes a date, cartons a float."""
    frame = pd.DataFrame(
        {
            "retailer_id": ["R1", "R1", "R2"],
            "week": ["2024-03-04", "2024-03-11", "2024-03-04"],
            "cartons": [10.0, 12.5, 0.0],
        }
    )
    frame.to_parquet(tmp_path / "orders.parquet")
    orders = load_orders(tmp_path / "orders.parquet", retailer_ids={"R1", "R2"})
    assert pd.api.types.is_datetime64_any_dtype(orders["week"])
    assert orders["week"].iloc[1] == pd.Timestamp("2024-03-11")
    assert orders["cartons"].to_numpy() == pytest.approx(np.array([10.0, 12.5, 0.0]))


def test_orders_bad_values(tmp_path):
    """Bad weeks, negative or non-numeric cartons and a repeated retailer-week are errors naming the row."""
    rows = [
        "retailer_id,week,cartons",
        "R1,2024-03-04,10",
        "R1,2024-13-04,5",
        "R2,2024-03-04,-3",
        "R2,2024-03-11,ten",
        "R1,2024-03-04,2",
    ]
    texts = problems_of(load_orders, write(tmp_path, "orders.csv", rows), retailer_ids={"R1", "R2"})
    assert any("row 3, field 'week': not a date" in t for t in texts)
    assert any("row 4, field 'cartons': out of range" in t and "'-3'" in t for t in texts)
    assert any("row 5, field 'cartons': not a number of cartons" in t for t in texts)
    assert any("row 6, field 'retailer_id, week'" in t and "first in row 2" in t for t in texts)


def test_orders_unknown_retailer_and_non_monday_warn(tmp_path, caplog):
    """Orders of unknown retailers and weeks not starting on Monday are warnings, not errors."""
    path = write(tmp_path, "orders.csv", ["retailer_id,week,cartons", "R1,2024-03-05,1", "R7,2024-03-04,2"])
    with caplog.at_level("WARNING"):
        orders = load_orders(path, retailer_ids={"R1"})
    assert len(orders) == 2
    assert "row 2, field 'week': week is not a Monday" in caplog.text
    assert "row 3, field 'retailer_id': unknown retailer_id" in caplog.text
