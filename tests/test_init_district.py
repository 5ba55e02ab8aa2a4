"""`gridmgmt init`: a district folder from a retailer table and an OSM extract, deriving what is missing."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from gridmgmt._errors import InputError
from gridmgmt.cli import app
from gridmgmt.config import load_settings
from gridmgmt.coords import wgs84_to_gcj02
from gridmgmt.ops.district import load_district
from gridmgmt.ops.init import default_pairs, init_district, placeholder_staff

WUDAOKOU = Path(__file__).parent / "data" / "osm" / "wudaokou_clipped.osm"  # real, clipped; no admin areas

# the synthetic town: a 7 x 7 street grid, 100 m blocks, around (106.70, 26.58) in Guiyang
_LON0, _LAT0 = 106.70, 26.58
_DLON, _DLAT = 0.001, 0.0009  # about 100 m each way
_N = 7


def _town_osm() -> str:
    """OSM XML of the synthetic town: streets, a level-6 district and two level-8 halves around them."""
    nodes, ways, relations = [], [], []
    nid = 1
    grid: dict[tuple[int, int], int] = {}
    for i in range(_N):
        for j in range(_N):
            grid[i, j] = nid
            nodes.append(f'<node id="{nid}" lat="{_LAT0 + i * _DLAT:.7f}" lon="{_LON0 + j * _DLON:.7f}" version="1"/>')
            nid += 1
    wid = 100
    for i in range(_N):
        for refs in ([grid[i, j] for j in range(_N)], [grid[j, i] for j in range(_N)]):
            nds = "".join(f'<nd ref="{r}"/>' for r in refs)
            ways.append(f'<way id="{wid}" version="1">{nds}<tag k="highway" v="residential"/></way>')
            wid += 1
    # admin areas reach 600 m beyond the streets, so they cover the derived boundary
    west, east = _LON0 - 0.006, _LON0 + (_N - 1) * _DLON + 0.006
    south, north = _LAT0 - 0.0054, _LAT0 + (_N - 1) * _DLAT + 0.0054
    middle = _LON0 + (_N - 1) * _DLON / 2
    rings = {"all": (west, east), "west": (west, middle), "east": (middle, east)}
    ring_way: dict[str, int] = {}
    for key, (x0, x1) in rings.items():
        corner_ids = []
        for lon, lat in ((x0, south), (x1, south), (x1, north), (x0, north)):
            nodes.append(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
            corner_ids.append(nid)
            nid += 1
        nds = "".join(f'<nd ref="{r}"/>' for r in [*corner_ids, corner_ids[0]])
        ways.append(f'<way id="{wid}" version="1">{nds}</way>')
        ring_way[key] = wid
        wid += 1
    for rid, key, level, name, name_en in (
        (9001, "all", 6, "测试区", "Test District"),
        (9002, "west", 8, "西街道", "West Subdistrict"),
        (9003, "east", 8, "东街道", "East Subdistrict"),
    ):
        tags = {"type": "boundary", "boundary": "administrative", "admin_level": level, "name": name}
        tags["name:en"] = name_en
        tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        member = f'<member type="way" ref="{ring_way[key]}" role="outer"/>'
        relations.append(f'<relation id="{rid}" version="1">{member}{tag_xml}</relation>')
    body = "\n  ".join([*nodes, *ways, *relations])
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n  {body}\n</osm>\n'


def _retailer_table(lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    n = len(lon)
    return pd.DataFrame(
        {
            "retailer_id": [f"5201031{i:05d}" for i in range(n)],
            "name": [f"便利店 {i}" for i in range(n)],
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "business_type": "convenience",
            "customer_class": "B",
            "open_time": "08:00",
            "close_time": "21:00",
        }
    )


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(network, retailers): the synthetic town and 40 retailers inside its streets."""
    folder = tmp_path_factory.mktemp("town")
    network = folder / "town.osm"
    network.write_text(_town_osm(), encoding="utf-8")
    rng = np.random.default_rng(3)
    lon = _LON0 + rng.uniform(0.0005, (_N - 1) * _DLON - 0.0005, 40)
    lat = _LAT0 + rng.uniform(0.0005, (_N - 1) * _DLAT - 0.0005, 40)
    retailers = folder / "shops.csv"
    _retailer_table(lon, lat).to_csv(retailers, index=False)
    return network, retailers


@pytest.fixture(scope="module")
def wudaokou_shops() -> pd.DataFrame:
    """The real shops (``shop=*`` nodes) of the clipped Wudaokou extract as a WGS-84 retailer table."""
    import osmium

    shops = osmium.FileProcessor(str(WUDAOKOU), osmium.osm.NODE).with_filter(osmium.filter.KeyFilter("shop"))
    points = [(n.location.lon, n.location.lat) for n in shops]
    assert len(points) >= 10
    lon, lat = np.array(points).T
    return _retailer_table(lon, lat)


def _siblings(folder: Path) -> list[str]:
    """Hidden work folders init may have left next to ``folder``."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def test_init_from_retailers_and_network_loads(town, tmp_path) -> None:
    """Only retailers + network: a district.toml that load_district loads, with every derived input."""
    network, retailers = town
    result = init_district(tmp_path / "town", retailers, network, name="测试区")

    assert result.district == tmp_path / "town" / "district.toml"
    assert all(f.exists() for f in result.files)
    settings = tomllib.loads(result.district.read_text(encoding="utf-8"))
    assert settings["name"] == "测试区"
    assert set(settings["files"]) == {"retailers", "network", "boundary", "subdistricts", "depots", "staff"}
    assert settings["grids"]["count"] == 1
    for topic in ("retailers", "network", "boundary", "subdistricts", "depot", "staff", "events"):
        assert any(note.startswith(topic) for note in result.notes), topic

    district = load_district(result.district)
    assert len(district.retailers) == 40
    # subdistricts: the finest admin level (8) covering the district, not the level-6 district itself
    subs = district.subdistricts
    assert sorted(subs["name_zh"]) == ["东街道", "西街道"]
    assert set(subs["admin_level"]) == {8}
    assert {"subdistrict_id", "name_zh", "name_en"} <= set(subs.columns)
    # depot: snapped onto a street node of the grid
    depot = district.depots.iloc[0]
    assert depot["depot_id"] == "D1"
    j = (depot["lon"] - _LON0) / _DLON
    i = (depot["lat"] - _LAT0) / _DLAT
    assert abs(j - round(j)) < 1e-3 and abs(i - round(i)) < 1e-3
    assert _siblings(tmp_path / "town") == []


def test_derived_boundary_contains_all_retailers(town, wudaokou_shops, tmp_path) -> None:
    """The derived boundary holds every retailer, on the synthetic town and on a real clipped extract."""
    network, retailers = town
    result = init_district(tmp_path / "town", retailers, network)
    boundary = gpd.read_file(result.district.parent / "boundary.geojson").union_all()
    shops = pd.read_csv(retailers)
    assert shapely.contains_xy(boundary, shops["lon"], shops["lat"]).all()

    table = tmp_path / "wudaokou_shops.csv"
    wudaokou_shops.to_csv(table, index=False)
    result = init_district(tmp_path / "wudaokou", table, WUDAOKOU, depot="116.3200,40.0010")
    boundary = gpd.read_file(result.district.parent / "boundary.geojson").union_all()
    assert shapely.contains_xy(boundary, wudaokou_shops["lon"], wudaokou_shops["lat"]).all()
    # no admin areas in this extract: one subdistrict, the boundary
    subs = gpd.read_file(result.district.parent / "subdistricts.geojson")
    assert len(subs) == 1
    assert subs.geometry.iloc[0].symmetric_difference(boundary).area < 1e-6 * boundary.area


def test_placeholder_staff_count(town, tmp_path) -> None:
    """--pairs K writes 2K placeholder staff marked 待分配, one marketing and one monopoly per pair."""
    network, retailers = town
    result = init_district(tmp_path / "town", retailers, network, pairs=3, depot=(106.703, 26.5827))
    staff = pd.read_csv(result.district.parent / "staff.csv", dtype=str, keep_default_na=False)
    assert len(staff) == 6
    assert staff["department"].value_counts().to_dict() == {"marketing": 3, "monopoly": 3}
    assert staff["name"].str.startswith("待分配 to assign").all()
    assert set(staff["depot"]) == {"D1"} and set(staff["travel_mode"]) == {"ebike"}
    assert (staff["grid_id"] == "").all()
    assert tomllib.loads(result.district.read_text(encoding="utf-8"))["grids"]["count"] == 3
    assert len(load_district(result.district).staff) == 6
    assert [default_pairs(n) for n in (1, 209, 210, 630, 5000)] == [1, 1, 1, 2, 12]
    assert list(placeholder_staff(2)["staff_id"]) == ["M01", "M02", "Z01", "Z02"]


def test_refuses_existing_folder_without_force(town, tmp_path) -> None:
    """An existing non-empty folder is refused and left untouched; --force replaces only a district folder."""
    network, retailers = town
    folder = tmp_path / "town"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="exists and is not empty"):
        init_district(folder, retailers, network, depot="106.703,26.5827")
    with pytest.raises(InputError, match="only a district folder"):
        init_district(folder, retailers, network, depot="106.703,26.5827", force=True)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine"

    (folder / "district.toml").write_text('name = "old"\n', encoding="utf-8")
    result = init_district(folder, retailers, network, depot="106.703,26.5827", force=True)
    assert not (folder / "notes.txt").exists()
    assert 'name = "town"' in result.district.read_text(encoding="utf-8")
    assert _siblings(folder) == []


def test_failure_part_way_leaves_no_folder(town, tmp_path, monkeypatch) -> None:
    """A bad --staff file, or a failure while deriving, leaves neither the folder nor a work folder behind."""
    network, retailers = town
    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id,name,department,depot,travel_mode\nM01,王,marketing,D9,ebike\n", encoding="utf-8")
    folder = tmp_path / "town"
    with pytest.raises(InputError, match="D9"):
        init_district(folder, retailers, network, staff=staff)
    assert not folder.exists()

    import gridmgmt.ops.init as init_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(init_module, "derive_subdistricts", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        init_district(folder, retailers, network)
    assert not folder.exists()
    assert _siblings(folder) == []


def test_gcj02_retailers_are_recorded_and_converted(wudaokou_shops, tmp_path) -> None:
    """Real shops given in GCJ-02 (Amap): [coords] retailers = "gcj02", and they load back onto WGS-84."""
    glon, glat = wgs84_to_gcj02(wudaokou_shops["lon"].to_numpy(), wudaokou_shops["lat"].to_numpy())
    table = tmp_path / "shops_gcj02.csv"
    wudaokou_shops.assign(lon=np.round(glon, 8), lat=np.round(glat, 8)).to_csv(table, index=False)

    result = init_district(tmp_path / "wudaokou", table, WUDAOKOU, coords="gcj02", depot="116.3200,40.0010")
    settings = tomllib.loads(result.district.read_text(encoding="utf-8"))
    assert settings["coords"]["retailers"] == "gcj02"
    assert any("GCJ-02" in note for note in result.notes)

    district = load_district(result.district)
    shift_m = np.hypot(
        (district.retailers["lon"].to_numpy() - wudaokou_shops["lon"].to_numpy()) * 85_000,
        (district.retailers["lat"].to_numpy() - wudaokou_shops["lat"].to_numpy()) * 111_000,
    )
    assert shift_m.max() < 1.0  # metres: the ~500 m GCJ-02 offset is gone
    boundary = district.boundary.union_all()
    assert shapely.contains_xy(boundary, wudaokou_shops["lon"], wudaokou_shops["lat"]).all()


def test_cli_prints_notes_and_next_commands(town, tmp_path) -> None:
    """`gridmgmt init` says what it derived and prints the commands to run next."""
    network, retailers = town
    folder = tmp_path / "town"
    result = CliRunner().invoke(
        app, ["init", str(folder), "--retailers", str(retailers), "--network", str(network), "--pairs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "boundary: derived from the retailers' concave hull buffered 300 m" in result.output
    toml = folder / "district.toml"
    for command in ("validate", "grids build", "risk map", "patrol plan"):
        assert f"gridmgmt {command} --district {toml}" in result.output


def test_cli_errors_are_one_line(town, tmp_path) -> None:
    """Contradictory options and an occupied folder end with one line each and exit code 1, no traceback."""
    network, retailers = town
    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id\n", encoding="utf-8")
    args = ["init", str(tmp_path / "x"), "--retailers", str(retailers), "--network", str(network)]
    result = CliRunner().invoke(app, [*args, "--pairs", "2", "--staff", str(staff)])
    assert result.exit_code == 1
    assert "give either --pairs or --staff" in result.output
    assert "Traceback" not in result.output

    result = CliRunner().invoke(app, [*args, "--depot", "somewhere"])
    assert result.exit_code == 1
    assert "not a position" in result.output
    assert not (tmp_path / "x").exists()


def test_report_names_the_shops_each_mode_cannot_reach(town, tmp_path) -> None:
    """A shop on a street cut off from the town: init's report says per mode how many shops it reaches and
    names the one it cannot (every mode for placeholder pairs; the staff's modes for a staff table)."""
    network, retailers = town
    lon, lat = _LON0 + (_N - 1) * _DLON + 0.004, _LAT0 + 3 * _DLAT  # about 400 m east of the town's last street
    island = tmp_path / "island.osm"
    street = (
        f'<node id="8001" lat="{lat:.7f}" lon="{lon - 0.0005:.7f}" version="1"/>'
        f'<node id="8002" lat="{lat:.7f}" lon="{lon + 0.0005:.7f}" version="1"/>'
        '<way id="8000" version="1"><nd ref="8001"/><nd ref="8002"/><tag k="highway" v="residential"/></way>'
    )
    island.write_text(network.read_text(encoding="utf-8").replace("</osm>", street + "</osm>"), encoding="utf-8")
    shops = pd.read_csv(retailers, dtype=str)
    lone = _retailer_table(np.array([lon]), np.array([lat + 0.00002])).assign(retailer_id="LONE1", name="孤街店")
    table = tmp_path / "shops.csv"
    pd.concat([shops, lone], ignore_index=True).to_csv(table, index=False)

    result = init_district(tmp_path / "a", table, island, pairs=1, depot="106.703,26.5827")
    reach = [note for note in result.notes if note.startswith("reachable shops")]
    assert len(reach) == 1, result.notes
    assert "every mode" in reach[0]
    for mode in ("walk", "ebike", "car"):
        assert f"{mode} 40/41 (1 unreachable: LONE1 孤街店)" in reach[0], reach[0]
    assert "gridmgmt validate" in reach[0]

    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id,name,department,depot,travel_mode\nM1,王,marketing,D1,walk\nZ1,李,monopoly,D1,car\n",
                     encoding="utf-8")  # fmt: skip
    result = init_district(tmp_path / "b", table, island, staff=staff, depot="106.703,26.5827")
    reach = [note for note in result.notes if note.startswith("reachable shops")]
    assert reach == ["reachable shops by travel mode of the staff: walk 40/41 (1 unreachable: LONE1 孤街店), car 40/41 "
                     "(1 unreachable: LONE1 孤街店); `gridmgmt validate` says why and what to do"]  # fmt: skip

    result = init_district(tmp_path / "c", retailers, network, pairs=1, depot="106.703,26.5827")
    reach = [note for note in result.notes if note.startswith("reachable shops")]
    assert len(reach) == 1 and reach[0].endswith("walk 40/40, ebike 40/40, car 40/40"), reach


MONACO = Path(__file__).parent / "data" / "osm" / "monaco_district_clipped.osm.pbf"  # real, clipped
MONACO_SHOPS = MONACO.parent / "monaco_district_shops.csv"  # its real shops


def test_label_language_follows_the_retailers_country(wudaokou_shops, tmp_path) -> None:
    """[district] lang is "en" for Monaco's shops and "zh" for Wudaokou's (Beijing); the note says why."""
    result = init_district(tmp_path / "monaco", MONACO_SHOPS, MONACO, depot="7.4215,43.7350")
    assert tomllib.loads(result.district.read_text(encoding="utf-8"))["district"]["lang"] == "en"
    assert load_settings(result.district).district.lang == "en"
    assert any(note.startswith("lang: en") and "outside China" in note for note in result.notes)

    table = tmp_path / "wudaokou_shops.csv"
    wudaokou_shops.to_csv(table, index=False)
    result = init_district(tmp_path / "wudaokou", table, WUDAOKOU, depot="116.3200,40.0010")
    assert tomllib.loads(result.district.read_text(encoding="utf-8"))["district"]["lang"] == "zh"
    assert any(note.startswith("lang: zh") and "in China" in note for note in result.notes)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["-q", *args])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, f"gridmgmt {' '.join(args)}:\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def en_town(town, tmp_path_factory) -> Path:
    """The synthetic town (in Guiyang) made with `init --lang en`, its grids built; its district.toml.

    Its 40 shops are all class B without history: 3.2 risk points each, all low risk.
    """
    network, retailers = town
    folder = tmp_path_factory.mktemp("en") / "town"
    _invoke("init", str(folder), "--retailers", str(retailers), "--network", str(network), "--pairs", "2")
    assert load_settings(folder / "district.toml").district.lang == "zh"  # in China
    _invoke(
        "init", str(folder), "--retailers", str(retailers), "--network", str(network), "--pairs", "2", "--lang", "en",
        "--force",
    )  # fmt: skip
    _invoke("grids", "build", "--district", str(folder / "district.toml"))
    return folder / "district.toml"


def _first_weekday(day: date) -> str:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def test_maps_and_sheets_speak_the_districts_language(en_town) -> None:
    """An en district's grid map, risk map and route sheets are English without --lang; --lang zh overrides."""
    out = en_town.parent / "out"
    grids = out / "grids" / "grids.gpkg"
    _invoke("grids", "map", "--grids", str(grids))
    html = (out / "grid_map.html").read_text(encoding="utf-8")
    assert "<title>Service grids</title>" in html and "服务网格" not in html
    _invoke("risk", "map", "--district", str(en_town), "--date", "2026-12-01", "--grids", str(grids))
    assert "Retailer risk map" in (out / "risk_map.html").read_text(encoding="utf-8")
    day = _first_weekday(date.today())  # the placeholder pairs work from the day of init
    _invoke("patrol", "plan", "--district", str(en_town), "--date", day, "--grids", str(grids), "--solution-limit", "5")
    assert '<html lang="en"' in (out / "patrol" / "route_sheets.html").read_text(encoding="utf-8")

    _invoke("grids", "map", "--grids", str(grids), "--lang", "zh")
    assert "<title>服务网格</title>" in (out / "grid_map.html").read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["grids", "map", "--grids", str(grids), "--lang", "fr"])
    assert result.exit_code == 2 and "'fr' is not a label language" in result.output


def _low_risk_map(en_town) -> Path:
    out = en_town.parent / "out"
    if not (out / "risk_map.html").exists():
        grids = out / "grids" / "grids.gpkg"
        _invoke("risk", "map", "--district", str(en_town), "--date", "2026-12-01", "--grids", str(grids))
    return out / "risk_map.html"


def test_risk_map_of_low_risk_shops_paints_low_risk_grids(en_town) -> None:
    """Only low-risk shops: every grid has the low level's colour (not the top colour) and the map says no history."""
    from gridmgmt.maps.escape import esc
    from gridmgmt.risk.risk_map import LEVEL_COLORS

    html = _low_risk_map(en_town).read_text(encoding="utf-8")
    strokes = re.findall(r'"stroke": "(#[0-9a-f]{6})"', html)
    assert len(strokes) == 2 and set(strokes) == {LEVEL_COLORS["low"]}
    assert esc("No history yet: risk scores use static evidence only") in html


@pytest.mark.browser
def test_no_history_note_shows_in_the_browser(en_town, chromium) -> None:
    """In headless Chromium the note is on screen and the grids are drawn in the low level's colour."""
    from gridmgmt.risk.risk_map import LEVEL_COLORS

    grid_lines = f'path[stroke="{LEVEL_COLORS["low"]}"][stroke-width="3"]'
    facts = chromium.open(
        _low_risk_map(en_town),
        wait_for=".gm-note",
        action="(() => { const n = document.querySelector('.gm-note'), r = n.getBoundingClientRect();"
        " return {text: n.innerText, left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
        f" grids: document.querySelectorAll({json.dumps(grid_lines)}).length}}; }})()",
    )
    assert facts.console_errors == [] and facts.page_errors == []
    note = facts.result
    assert note["text"].startswith("No history yet")
    assert 0 <= note["left"] < note["right"] <= 1200 and 0 <= note["top"] < note["bottom"] <= 800  # in the viewport
    assert note["grids"] == 2
