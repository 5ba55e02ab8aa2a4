"""Tests of gridmgmt.inputs.validate: every problem in every input reported at once."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry import box

from gridmgmt.coords import wgs84_to_bd09
from gridmgmt.inputs.validate import ValidationReport, validate_inputs
from gridmgmt.ops.district import validate_files

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
    """With a road network, a retailer 400 m from any street gets a warning naming its row; near ones do not.
    The inputs alone check no network: ops gives validate_inputs the network's checks."""
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
    report = validate_files(None, district=tmp_path / "district.toml")
    far = [p for p in report.warnings if "far from every street" in p.message]
    assert len(far) == 1
    assert far[0].row == 3 and far[0].field == "lon/lat"
    assert report.ok
    files_only = validate_inputs(None, district=tmp_path / "district.toml")
    assert files_only.ok and not [p for p in files_only.warnings if "far from every street" in p.message]


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


# ---------------------------------------------------------------- shops a pair's travel mode cannot reach

_M_LAT = 1 / 111_320.0
_M_LON = _M_LAT / 0.8966  # cos(26.3°): metres east of 106.70, 26.58 (Guiyang)


def _lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    return 106.70 + x_m * _M_LON, 26.58 + y_m * _M_LAT


def _reach_district(tmp_path: Path, staff_rows: list[str]) -> Path:
    """A 3 x 3 street grid (200 m), an isolated street 1 km north, and shops on the grid, on that street and
    700 m beyond the last street; the staff table as given."""
    nodes = {10 * r + c + 1: (200.0 * c, 200.0 * r) for r in range(3) for c in range(3)}
    nodes |= {201: (0.0, 1000.0), 202: (100.0, 1000.0)}
    ways = [[1, 2, 3], [11, 12, 13], [21, 22, 23], [1, 11, 21], [2, 12, 22], [3, 13, 23], [201, 202]]
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (x, y) in nodes.items():
        lon, lat = _lonlat(x, y)
        xml.append(f'<node id="{node_id}" version="1" lat="{lat:.8f}" lon="{lon:.8f}"/>')
    for way_id, refs in enumerate(ways, start=1):
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        xml.append(f'<way id="{way_id}" version="1">{nds}<tag k="highway" v="residential"/></way>')
    write(tmp_path, "roads.osm", [*xml, "</osm>"])
    x0, y0 = _lonlat(-300, -300)
    x1, y1 = _lonlat(1400, 1300)
    gpd.GeoDataFrame(geometry=[box(x0, y0, x1, y1)], crs="EPSG:4326").to_file(tmp_path / "boundary.geojson")
    shops = {"R1,街角店": (100, 2), "R2,孤街店": (50, 1002), "R3,野外店": (1100, 200)}
    rows = [f"{key},{lon:.7f},{lat:.7f},grocery,A,08:00,22:00" for key, (lon, lat) in
            ((k, _lonlat(*xy)) for k, xy in shops.items())]  # fmt: skip
    write(tmp_path, "retailers.csv", [RETAILERS[0], *rows])
    write(tmp_path, "depots.csv", ["depot_id,name,lon,lat", "D1,所,{:.7f},{:.7f}".format(*_lonlat(200, 200))])
    write(tmp_path, "staff.csv", ["staff_id,name,department,grid_id,depot,travel_mode", *staff_rows])
    files = ['network = "roads.osm"', 'events = ""', 'orders = ""', 'subdistricts = ""']
    return write(tmp_path, "district.toml", ['name = "reach"', "[files]", *files])


def _unreachable(report: ValidationReport) -> list[tuple[int | None, str, str]]:
    return [(p.row, p.value, p.message) for p in report.warnings if p.message.startswith("unreachable by")]


def test_shops_the_pairs_mode_cannot_reach_are_named(tmp_path):
    """An e-bike pair: the shop on an isolated street and the one beyond the last street are named with mode
    and reason (row, id and name, a hint); the shop on the streets is not; walk and car are not checked."""
    staff = ["M1,甲,marketing,1,D1,ebike", "Z1,乙,monopoly,1,D1,ebike"]
    report = validate_files(None, district=_reach_district(tmp_path, staff))
    assert report.ok, report.lines()
    lost = _unreachable(report)
    assert [(row, value) for row, value, _ in lost] == [(3, "R2 孤街店"), (4, "R3 野外店")], report.lines()
    assert lost[0][2].startswith("unreachable by ebike: on streets not connected to the walk network")
    assert lost[1][2] == "unreachable by ebike: farther than 500 m from any street"
    problems = [p for p in report.warnings if p.message.startswith("unreachable by")]
    assert all(p.field == "lon/lat" and p.file.endswith("retailers.csv") for p in problems)
    assert "use an extract that reaches further" in problems[0].hint
    assert "check its coordinates" in problems[1].hint


def test_placeholder_staff_have_every_mode_checked(tmp_path):
    """init's placeholder pairs have no real mode yet: walk, e-bike and car are each checked, shop by shop."""
    staff = ["M01,待分配 to assign M01,marketing,,D1,ebike", "Z01,待分配 to assign Z01,monopoly,,D1,ebike"]
    lost = _unreachable(validate_files(None, district=_reach_district(tmp_path, staff)))
    modes = [message.split(":")[0] for _, _, message in lost]
    assert modes == ["unreachable by walk", "unreachable by ebike", "unreachable by car"] * 2
    assert [row for row, _, _ in lost] == [3, 3, 3, 4, 4, 4]


def test_many_unreachable_shops_are_listed_up_to_a_cap():
    """Beyond MAX_LISTED shops, one more warning counts the rest by mode; a mode that reaches a shop is named."""
    import pandas as pd

    from gridmgmt.ops.network_checks import MAX_LISTED, reach_problems

    n = MAX_LISTED + 5
    lost = pd.DataFrame({"position": range(n), "retailer_id": [f"R{i}" for i in range(n)], "name": "店",
                         "mode": "ebike", "reason": "on streets not connected"})  # fmt: skip
    lost.attrs["modes"] = ("walk", "ebike")
    listed, more = reach_problems(lost, "shops.csv")
    assert len(listed) == MAX_LISTED and listed[0].row == 2 and listed[0].value == "R0 店"
    assert "a pair by walk reaches it" in listed[0].hint
    assert [p.message for p in more] == ["5 more shops unreachable (5 by ebike)"]
    assert reach_problems(lost.head(3), "shops.csv")[1] == []
