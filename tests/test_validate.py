"""Tests of gridmgmt.inputs.validate: every problem in every input reported at once."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

from gridmgmt.coords import wgs84_to_bd09
from gridmgmt.inputs.validate import ValidationReport, validate_inputs

RETAILERS = [
    "retailer_id,name,lon,lat,business_type,customer_class,open_time,close_time",
    "R1,一号店,106.7100,26.5848,grocery,A,08:00,22:00",
    "R2,二号店,106.7120,26.5860,convenience,B,08:00,24:00",
    "R3,三号店,106.7050,26.5800,supermarket,C,09:00,21:00",
]
EVENTS = [
    "event_id,retailer_id,time,type,department,outcome,severity,note,corrects",
    "E1,R1,2024-03-01T09:30,inspection,monopoly,ok,,,",
    "E2,R2,2024-03-02T10:00,tip_off,public,,,,",
]


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def district(tmp_path, *, retailers=RETAILERS, events=EVENTS, staff_depot="D1"):
    gpd.GeoDataFrame(geometry=[box(106.65, 26.54, 106.75, 26.64)], crs="EPSG:4326").to_file(
        tmp_path / "boundary.geojson", driver="GeoJSON"
    )
    write(tmp_path, "retailers.csv", retailers)
    write(tmp_path, "events.csv", events)
    write(tmp_path, "depots.csv", ["depot_id,name,lon,lat", "D1,所,106.70,26.58"])
    write(
        tmp_path,
        "staff.csv",
        ["staff_id,name,department,grid_id,depot,travel_mode", f"M1,甲,marketing,1,{staff_depot},ebike"],
    )
    write(tmp_path, "orders.csv", ["retailer_id,week,cartons", "R1,2024-03-04,5"])
    files = ['events = "events.csv"', 'orders = "orders.csv"', 'network = ""']  # no road network: tested below
    return write(tmp_path, "district.toml", ['name = "test"', "[files]", *files])


def test_clean_inputs_are_ok(tmp_path):
    """A clean district validates with no errors and counts every table."""
    report = validate_inputs(None, district=district(tmp_path))
    assert report.ok, report.lines()
    assert report.counts == {"boundary": 1, "retailers": 3, "events": 2, "depots": 1, "staff": 1, "orders": 1}
    assert "inputs are usable" in report.summary()


def test_problems_from_several_files_at_once(tmp_path):
    """Errors in retailers, events and staff are all reported in one report, not just the first file's."""
    retailers = [*RETAILERS[:3], "R3,三号店,106.7050,26.5800,superstore,C,09:00,21:00"]
    events = [*EVENTS, "E3,R9,2024-03-03T10:00,complaint,public,,,,"]
    path = district(tmp_path, retailers=retailers, events=events, staff_depot="D7")
    report = validate_inputs(tmp_path / "retailers.csv", district=path)
    assert not report.ok
    text = "\n".join(report.lines())
    assert "retailers.csv, row 4, field 'business_type'" in text
    assert "events.csv, row 4, field 'retailer_id': unknown retailer_id" in text
    assert "staff.csv, row 2, field 'depot': unknown depot_id" in text
    summary = report.summary()
    assert "retailers: " in summary and "1 error," in summary
    assert "NOT usable" in summary


def test_unreadable_file_does_not_stop_the_others(tmp_path):
    """A missing events file is one error; the retailer problems are still found."""
    retailers = [*RETAILERS, "R4,四号店,abc,26.58,grocery,A,08:00,22:00"]
    report = validate_inputs(write(tmp_path, "r.csv", retailers), events=tmp_path / "missing.csv")
    messages = [str(p) for p in report.errors]
    assert any("missing.csv: file not found" in m for m in messages)
    assert any("r.csv, row 5, field 'lon'" in m for m in messages)


def test_warnings_do_not_fail(tmp_path):
    """A retailer just outside the boundary is a warning; the report stays ok."""
    retailers = [*RETAILERS, "R4,四号店,106.7505,26.6000,grocery,A,08:00,22:00"]
    report = validate_inputs(None, district=district(tmp_path, retailers=retailers))
    assert report.ok
    assert [(p.row, p.field) for p in report.warnings] == [(5, "lon/lat")]


def test_coords_option_converts_before_checks(tmp_path):
    """With coords='bd09' BD-09 input passes the boundary check; read as WGS-84 it would be 1 km off."""
    lon, lat = wgs84_to_bd09(106.7495, 26.60)  # 50 m inside the east edge in WGS-84
    retailers = [*RETAILERS, f"R4,四号店,{lon:.8f},{lat:.8f},grocery,A,08:00,22:00"]
    path = district(tmp_path, retailers=retailers)
    assert validate_inputs(None, district=path, coords="bd09").ok
    wrong = validate_inputs(None, district=path, coords="wgs84")
    assert [p.row for p in wrong.errors] == [5]
    assert "outside the district boundary by" in str(wrong.errors[0])


def test_bad_district_file_reported(tmp_path):
    """A district.toml with an unknown key is reported alongside the retailer check."""
    path = write(tmp_path, "district.toml", ["[grids]", "cuont = 3"])
    report = validate_inputs(write(tmp_path, "r.csv", RETAILERS), district=path)
    assert any("grids.cuont" in str(p) for p in report.errors)
    assert report.counts["retailers"] == 3


def test_report_is_a_dataclass_with_ok():
    """An empty report is ok; one error makes it not ok."""
    from gridmgmt._errors import Problem

    report = ValidationReport()
    assert report.ok
    report.add([Problem(file="f", message="m", severity="warning")])
    assert report.ok
    assert len(report.problems) == 1 and len(report.warnings) == 1
    report.add([Problem(file="f", message="m")])
    assert not report.ok


def test_retailers_far_from_every_street_are_warned(tmp_path):
    """With a road network, a retailer 400 m from any street gets a warning naming its row; near ones do not."""
    import shutil

    shutil.copy(Path(__file__).parent / "data" / "tiny_roads.osm", tmp_path / "roads.osm")
    (tmp_path / "boundary.geojson").write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon",'
        '"coordinates":[[[106.69,26.57],[106.72,26.57],[106.72,26.60],[106.69,26.60],[106.69,26.57]]]}}]}',
        encoding="utf-8",
    )
    (tmp_path / "district.toml").write_text(
        'name = "tiny"\n[files]\nboundary = "boundary.geojson"\nnetwork = "roads.osm"\nretailers = "r.csv"\n'
        'subdistricts = ""\nevents = ""\norders = ""\nstaff = ""\ndepots = ""\nschools = ""\n',
        encoding="utf-8",
    )
    header = "retailer_id,name,address,lon,lat,business_type,customer_class,open_time,close_time,subdistrict\n"
    rows = ["R1,a,x,106.7005,26.58005,grocery,A,08:00,22:00,s", "R2,b,x,106.7010,26.5880,grocery,A,08:00,22:00,s"]
    (tmp_path / "r.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    report = validate_inputs(None, district=tmp_path / "district.toml")
    far = [p for p in report.warnings if "far from every street" in p.message]
    assert len(far) == 1
    assert far[0].row == 3 and far[0].field == "lon/lat"
    assert report.ok


def test_numbers_in_problems_print_as_numbers(tmp_path):
    """A value read from a table prints as the number it is, never as numpy's repr (np.float64(95.5))."""
    retailers = [*RETAILERS, "R4,四号店,106.7000,95.5,grocery,C,09:00,21:00"]
    lines = validate_inputs(None, district=district(tmp_path, retailers=retailers)).lines()
    latitude = [line for line in lines if "latitude out of range" in line]
    assert len(latitude) == 1 and "(value: 95.5)" in latitude[0], lines
    assert not any("np." in line for line in lines)


def test_summary_says_the_settings_were_read(tmp_path):
    """district.toml has no rows: read without errors it is "read", not "not read"."""
    summary = validate_inputs(None, district=district(tmp_path)).summary()
    assert "district.toml: read, 0 errors" in summary
