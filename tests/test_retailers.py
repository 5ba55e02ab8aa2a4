"""Tests of gridmgmt.inputs.retailers: loading, aliases, encodings, formats and every bad-input check."""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gridmgmt._errors import InputError
from gridmgmt.coords import wgs84_to_bd09, wgs84_to_gcj02
from gridmgmt.inputs.retailers import check_retailers, load_retailers

HEADER = "retailer_id,name,address,lon,lat,business_type,customer_class,open_time,close_time,subdistrict,licence_date"
GOOD_ROWS = [
    "520103100001,中华烟酒,中华北路1号,106.7100,26.5848,tobacco_liquor,A,08:00,22:00,中华北路街道,2020-03-05",
    "520103100002,便民超市,中华北路2号,106.7120,26.5860,supermarket,B,08:30,24:00,中华北路街道,2021-01-01",
    "520103100003,小卖部,延安路3号,106.7050,26.5800,grocery,C,07:00,23:00,延安路街道,",
    "520103100004,好又多,延安路4号,106.7080,26.5900,convenience,D,00:00,24:00,延安路街道,2019-12-31",
    "520103100005,夜场,延安路5号,106.7150,26.5820,entertainment,AA,20:00,02:00,延安路街道,2018-06-01",
]


def guiyang_boundary() -> gpd.GeoDataFrame:
    """A small box around central Guiyang (about 10 km x 11 km), WGS-84."""
    return gpd.GeoDataFrame(geometry=[box(106.65, 26.54, 106.75, 26.64)], crs="EPSG:4326")


def write_csv(tmp_path, rows, header=HEADER, name="retailers.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def problems_of(tmp_path, rows, header=HEADER, **kwargs):
    path = write_csv(tmp_path, rows, header=header)
    with pytest.raises(InputError) as info:
        load_retailers(path, **kwargs)
    return info.value.problems, [str(p) for p in info.value.problems]


def test_good_table_loads_typed_points(tmp_path):
    """A clean table gives WGS-84 points with float lon/lat, HH:MM times and date strings."""
    frame = load_retailers(write_csv(tmp_path, GOOD_ROWS), boundary=guiyang_boundary())
    assert isinstance(frame, gpd.GeoDataFrame)
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == 5
    assert frame["lon"].dtype == float and frame["lat"].dtype == float
    assert frame.geometry.iloc[0].x == pytest.approx(106.71)
    assert list(frame["close_time"]) == ["22:00", "24:00", "23:00", "24:00", "02:00"]
    assert frame["licence_date"].iloc[2] == ""
    assert frame["retailer_id"].iloc[0] == "520103100001"


def test_extra_columns_and_hostile_names_are_kept_byte_for_byte(tmp_path):
    """HTML in names is data: kept exactly, and extra columns survive."""
    hostile = '<script>alert("x")</script><b onmouseover=alert(1)>店</b>'
    rows = [
        GOOD_ROWS[0].replace("中华烟酒", '"' + hostile.replace('"', '""') + '"') + ",备注1",
        *(r + ",备注" for r in GOOD_ROWS[1:]),
    ]
    frame = load_retailers(write_csv(tmp_path, rows, header=HEADER + ",remark"))
    assert frame["name"].iloc[0] == hostile
    assert frame["remark"].iloc[0] == "备注1"


def test_aliases_map_silently_with_info_note(tmp_path):
    """Chinese and English header aliases are read as canonical names, with an info note only."""
    header = "许可证号,店名,地址,经度,纬度,业态,档位,open_time,close_time,subdistrict,licence_date"
    rows = [r.replace("tobacco_liquor", "烟酒商店").replace("supermarket", "超市") for r in GOOD_ROWS]
    frame, problems = check_retailers(
        pd.read_csv(write_csv(tmp_path, rows, header=header), dtype=str, keep_default_na=False), file="r.csv"
    )
    assert all(p.severity == "info" for p in problems)
    assert any("'经度' read as 'lon'" in str(p) for p in problems)
    assert frame["business_type"].tolist()[:2] == ["tobacco_liquor", "supermarket"]
    assert frame["retailer_id"].iloc[0] == "520103100001"


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_gbk_and_bom_csv_with_chinese_headers(tmp_path, encoding):
    """GBK and UTF-8-with-BOM files with Chinese headers and values load correctly."""
    header = "许可证号,名称,地址,经度,纬度,业态,客户档位,open_time,close_time,subdistrict,licence_date"
    rows = [r.replace("grocery", "食杂店").replace("convenience", "便利店") for r in GOOD_ROWS]
    path = write_csv(tmp_path, rows, header=header, encoding=encoding)
    frame = load_retailers(path)
    assert frame["name"].iloc[0] == "中华烟酒"
    assert frame["address"].iloc[2] == "延安路3号"
    assert frame["business_type"].iloc[2] == "grocery"
    assert frame["business_type"].iloc[3] == "convenience"


def test_undecodable_text_names_the_line(tmp_path):
    """Bytes that are neither UTF-8 nor GBK give an error naming the line."""
    path = tmp_path / "bad.csv"
    path.write_bytes((HEADER + "\n" + GOOD_ROWS[0] + "\n").encode() + b"5201,\xff\xff\xff\n")
    with pytest.raises(InputError) as info:
        load_retailers(path)
    assert "row 3" in str(info.value)
    assert "undecodable" in str(info.value)


def test_missing_columns_listed_with_suggestion(tmp_path):
    """A missing required column is an error, an absent assumed one a warning; both suggest a close name."""
    header = HEADER.replace(",lon,", ",longtitude,").replace(",customer_class", ",custmer_class")
    frame = pd.read_csv(io.StringIO(header + "\n" + "\n".join(GOOD_ROWS) + "\n"), dtype=str)
    _, problems = check_retailers(frame, file="r.csv")
    errors = [str(p) for p in problems if p.severity == "error"]
    warnings = [str(p) for p in problems if p.severity == "warning"]
    assert len(errors) == 1
    assert "missing column: lon" in errors[0]
    assert "rename column 'longtitude' to 'lon'" in errors[0]
    assert any("customer_class" in w and "rename column 'custmer_class' to 'customer_class'" in w for w in warnings)


def test_bare_licence_list_is_enough(tmp_path):
    """id, name, lon, lat alone load: the other columns take stated defaults, each with one warning."""
    frame = pd.DataFrame(
        {"retailer_id": ["R1", "R2"], "name": ["甲", "乙"], "lon": [106.71, 106.72], "lat": [26.58, 26.59]}
    )
    retailers, problems = check_retailers(frame, file="r.csv")
    assert not [p for p in problems if p.severity == "error"]
    assert {p.field for p in problems if p.severity == "warning"} >= {"business_type", "customer_class", "open_time"}
    assert list(retailers["business_type"]) == ["other", "other"]
    assert list(retailers["open_time"]) == ["08:00", "08:00"]


def test_empty_file_and_header_only(tmp_path):
    """An empty file and a file with only a header are both reported as empty."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_retailers(empty)
    _, texts = problems_of(tmp_path, [])
    assert "no data rows" in texts[0]


def test_non_numeric_and_out_of_range_coordinates(tmp_path):
    """Non-numeric, empty and out-of-range coordinates name row, field and value."""
    rows = list(GOOD_ROWS)
    rows[1] = rows[1].replace("106.7120", "106.7l20")
    rows[2] = rows[2].replace("26.5800", "")
    rows[3] = rows[3].replace("26.5900", "95.5")
    _, texts = problems_of(tmp_path, rows)
    assert any("row 3, field 'lon': not a longitude" in t and "'106.7l20'" in t for t in texts)
    assert any("row 4, field 'lat': empty value" in t for t in texts)
    assert any("row 5, field 'lat': latitude out of range" in t and "95.5" in t for t in texts)


def test_swapped_lon_lat_detected_with_swap_hint(tmp_path):
    """A row with lat in the lon column is reported as swapped, with the hint to swap the columns."""
    rows = list(GOOD_ROWS)
    rows[2] = rows[2].replace("106.7050,26.5800", "26.5800,106.7050")
    _, texts = problems_of(tmp_path, rows, boundary=guiyang_boundary())
    swapped = [t for t in texts if "swapped" in t]
    assert len(swapped) == 1
    assert "row 4, field 'lon'" in swapped[0]
    assert "swap the columns" in swapped[0]
    assert not any("out of range" in t for t in texts)


def test_outside_boundary_says_how_far_and_near_edge_is_warning(tmp_path):
    """A point 2 km outside is an error with its distance; 100 m outside is only a warning."""
    rows = list(GOOD_ROWS)
    # 106.75 is the east edge; 0.02 deg of longitude at 26.6 N is about 1.99 km
    rows[1] = rows[1].replace("106.7120", "106.7700")
    rows[3] = rows[3].replace("106.7080", "106.7510")  # about 100 m east of the edge
    _problems, texts = problems_of(tmp_path, rows, boundary=guiyang_boundary())
    outside = [t for t in texts if "outside the district boundary by" in t]
    assert len(outside) == 1
    assert "row 3, field 'lon/lat'" in outside[0]
    assert "1,99" in outside[0] or "2,0" in outside[0]
    _, all_problems = check_retailers(
        pd.read_csv(write_csv(tmp_path, rows, name="r2.csv"), dtype=str, keep_default_na=False),
        file="r2.csv",
        boundary=guiyang_boundary(),
    )
    near = [p for p in all_problems if p.severity == "warning" and "just outside" in p.message]
    assert [p.row for p in near] == [5]


def test_far_point_without_boundary_is_flagged(tmp_path):
    """Without a boundary, a point ~100 km from the others is an error; a clean table has none."""
    rows = [*GOOD_ROWS, GOOD_ROWS[0].replace("520103100001", "520103100009").replace("106.7100", "107.7100")]
    _, texts = problems_of(tmp_path, rows)
    far = [t for t in texts if "far from all the other points" in t]
    assert len(far) == 1 and "row 7, field 'lon/lat'" in far[0]
    assert "km from their median centre" in far[0]


def test_isolated_point_is_a_warning(tmp_path):
    """A point whose nearest neighbour is > 3 km away (but inside the boundary) is a warning, not an error."""
    rows = [
        *GOOD_ROWS,
        GOOD_ROWS[0].replace("520103100001", "520103100009").replace("106.7100,26.5848", "106.6600,26.6300"),
    ]
    frame, problems = check_retailers(
        pd.read_csv(write_csv(tmp_path, rows), dtype=str, keep_default_na=False),
        file="r.csv",
        boundary=guiyang_boundary(),
    )
    isolated = [p for p in problems if "isolated" in p.message]
    assert [(p.row, p.severity) for p in isolated] == [(7, "warning")]
    assert len(frame) == 6


def test_duplicate_ids_name_both_rows(tmp_path):
    """A repeated retailer_id names its own row and the row where it first appeared."""
    rows = [*GOOD_ROWS, GOOD_ROWS[1].replace("106.7120", "106.7121")]
    _, texts = problems_of(tmp_path, rows)
    dup = [t for t in texts if "duplicate" in t]
    assert len(dup) == 1
    assert "row 7, field 'retailer_id': duplicate retailer_id, first in row 3" in dup[0]


def test_bad_times_and_24_only_for_close(tmp_path):
    """Bad times are errors; 24:00 is accepted as close_time but not as open_time."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("08:00,22:00", "24:00,22:00")
    rows[1] = rows[1].replace("08:30,24:00", "8.30,24:30")
    rows[2] = rows[2].replace("07:00,23:00", "7:00,23:00")  # H:MM is fine and normalised
    _problems, texts = problems_of(tmp_path, rows)
    assert any("row 2, field 'open_time': not a time of day" in t and "'24:00'" in t for t in texts)
    assert any("row 3, field 'open_time'" in t and "'8.30'" in t for t in texts)
    assert any("row 3, field 'close_time'" in t and "'24:30'" in t for t in texts)
    assert not any("row 4" in t for t in texts)


def test_unknown_categories_with_did_you_mean(tmp_path):
    """Unknown business_type and customer_class name the value and suggest the closest code."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("tobacco_liquor", "tobaco_liquor")
    rows[1] = rows[1].replace(",B,", ",E,")
    _, texts = problems_of(tmp_path, rows)
    assert any(
        "row 2, field 'business_type': unknown business_type" in t and "did you mean 'tobacco_liquor'" in t
        for t in texts
    )
    assert any("row 3, field 'customer_class'" in t and "'E'" in t and "AAA, AA, A, B, C, D" in t for t in texts)


def test_bad_licence_date(tmp_path):
    """A licence_date that is not a date is an error; 2020/3/5 is normalised to 2020-03-05."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("2020-03-05", "2020/3/5")
    rows[1] = rows[1].replace("2021-01-01", "2021-02-30")
    _, texts = problems_of(tmp_path, rows)
    assert next(t for t in texts if "licence_date" in t).startswith(str(tmp_path / "retailers.csv") + ", row 3")
    rows[1] = GOOD_ROWS[1]
    frame = load_retailers(write_csv(tmp_path, rows, name="ok.csv"))
    assert frame["licence_date"].iloc[0] == "2020-03-05"


def test_all_problems_collected_not_just_first(tmp_path):
    """Errors in different rows and fields are all reported in one InputError."""
    rows = list(GOOD_ROWS)
    rows[0] = rows[0].replace("106.7100", "x")
    rows[2] = rows[2].replace(",C,", ",Q,")
    rows[4] = rows[4].replace("20:00", "99:00")
    problems, _ = problems_of(tmp_path, rows)
    assert {(p.row, p.field) for p in problems} >= {(2, "lon"), (4, "customer_class"), (6, "open_time")}


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_declared_chinese_coordinates_are_converted(tmp_path, system):
    """Coordinates declared gcj02/bd09 are converted back to the WGS-84 points to < 1 cm."""
    wgs = np.array([[106.71, 26.5848], [106.712, 26.586], [106.705, 26.58], [106.708, 26.59], [106.715, 26.582]])
    forward = wgs84_to_gcj02 if system == "gcj02" else wgs84_to_bd09
    lon, lat = forward(wgs[:, 0], wgs[:, 1])
    rows = [
        r.replace(f"{w[0]:.4f},{w[1]:.4f}", f"{x:.9f},{y:.9f}")
        for r, w, x, y in zip(GOOD_ROWS, wgs, lon, lat, strict=True)
    ]
    assert rows != GOOD_ROWS
    frame = load_retailers(write_csv(tmp_path, rows), coords=system, boundary=guiyang_boundary())
    error_m = np.hypot((frame["lon"] - wgs[:, 0]) * 99_600, (frame["lat"] - wgs[:, 1]) * 110_700)
    assert error_m.max() < 0.01


def _frame_of_good_rows() -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO("\n".join([HEADER, *GOOD_ROWS])), dtype=str, keep_default_na=False)


def test_geojson_geopackage_parquet_inputs(tmp_path):
    """GeoJSON, GeoPackage and GeoParquet point layers load to the same retailers."""
    frame = _frame_of_good_rows()
    points = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"].astype(float), frame["lat"].astype(float)),
        crs="EPSG:4326",
    )
    paths = [tmp_path / "r.geojson", tmp_path / "r.gpkg", tmp_path / "r.parquet"]
    points.to_file(paths[0], driver="GeoJSON")
    points.to_file(paths[1], driver="GPKG")
    points.to_parquet(paths[2])
    for path in paths:
        loaded = load_retailers(path, boundary=guiyang_boundary())
        assert loaded["retailer_id"].tolist() == frame["retailer_id"].tolist(), path
        assert loaded["lon"].to_numpy() == pytest.approx(frame["lon"].astype(float).to_numpy()), path
        assert loaded["name"].iloc[0] == "中华烟酒"


def test_record_numbers_for_non_csv(tmp_path):
    """In a GeoJSON file a bad value is located by 1-based record number, called 'record'."""
    frame = _frame_of_good_rows()
    frame.loc[1, "customer_class"] = "ZZ"
    points = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"].astype(float), frame["lat"].astype(float)),
        crs="EPSG:4326",
    )
    path = tmp_path / "r.geojson"
    points.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError) as info:
        load_retailers(path)
    assert "record 2, field 'customer_class'" in str(info.value.problems[0])


def test_grid_id_optional_integer(tmp_path):
    """grid_id may be empty (NA) and must otherwise be a whole number >= 1."""
    rows = [r + ("," + g) for r, g in zip(GOOD_ROWS, ["1", "", "12", "2.5", "0"], strict=True)]
    _, texts = problems_of(tmp_path, rows, header=HEADER + ",grid_id")
    assert any("row 5, field 'grid_id': not a whole number" in t for t in texts)
    assert any("row 6, field 'grid_id': out of range" in t for t in texts)
    rows = [r + ("," + g) for r, g in zip(GOOD_ROWS, ["1", "", "12", "3", "4"], strict=True)]
    frame = load_retailers(write_csv(tmp_path, rows, header=HEADER + ",grid_id", name="g.csv"))
    assert str(frame["grid_id"].dtype) == "Int64"
    assert frame["grid_id"].isna().tolist() == [False, True, False, False, False]
