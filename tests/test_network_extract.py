"""Tests of gridmgmt.network.extract: real clipped OSM extracts -> clean street XML, cut and cached."""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import osmium
import osmnx as ox
import pytest
import shapely

import gridmgmt.network.extract as extract
from gridmgmt._errors import InputError
from gridmgmt.network.extract import (
    CN_STREET_CLASSES,
    DEFAULT_STREET_CLASSES,
    PreparedExtract,
    prepare_extract,
    street_classes,
)

DATA = Path(__file__).parent / "data"
MONACO = DATA / "osm" / "monaco_centre_clipped.osm.pbf"
WUDAOKOU = DATA / "osm" / "wudaokou_clipped.osm"
TINY = DATA / "tiny_roads.osm"
#: A ~300 m square in La Condamine, Monaco (lon/lat).
CONDAMINE = shapely.box(7.4220, 43.7320, 7.4257, 43.7347)


def _contents(path: Path) -> tuple[dict[int, tuple[float, float]], dict[int, list[int]]]:
    """Node locations and way node lists of an OSM file."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[int]] = {}
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        if obj.is_node():
            nodes[obj.id] = (obj.location.lon, obj.location.lat)
        else:
            ways[obj.id] = [nd.ref for nd in obj.nodes]
    return nodes, ways


def _graph(prepared: PreparedExtract):
    return ox.graph_from_xml(prepared.path, bidirectional=False, simplify=True, retain_all=False)


@pytest.mark.parametrize(
    ("source", "min_nodes", "min_edges"),
    [(MONACO, 500, 1200), (WUDAOKOU, 150, 400)],
    ids=["monaco-pbf", "wudaokou-xml"],
)
def test_clipped_extract_prepares_and_loads(tmp_path: Path, source: Path, min_nodes: int, min_edges: int) -> None:
    """A clipped real extract: dangling references are dropped and counted, and osmnx loads the result."""
    with pytest.raises(ValueError, match="missing nodes"):  # the problem this module solves
        ox.graph_from_xml(source if source.suffix == ".osm" else _as_xml(source, tmp_path))
    prepared = prepare_extract(source, cache_dir=tmp_path / "cache")
    assert prepared.dangling_refs > 0
    assert prepared.ways_shortened > 0
    assert prepared.ways_kept > 100
    assert prepared.ways_written == prepared.ways_kept + prepared.ways_split
    assert not prepared.from_cache
    nodes, ways = _contents(prepared.path)
    assert len(nodes) == prepared.nodes_kept
    assert len(ways) == prepared.ways_written
    assert all(ref in nodes for refs in ways.values() for ref in refs)
    assert all(len(refs) >= 2 for refs in ways.values())
    graph = _graph(prepared)
    assert graph.number_of_nodes() > min_nodes
    assert graph.number_of_edges() > min_edges


def _as_xml(source: Path, folder: Path) -> Path:
    target = folder / (source.name.split(".")[0] + ".osm")
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY):
            writer.add_node(obj) if obj.is_node() else writer.add_way(obj)
    return target


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gz", "bz2"])
def test_compressed_xml_gives_the_same_result(tmp_path: Path, compress) -> None:
    """.osm.gz and .osm.bz2 extracts give the same streets as the plain XML."""
    suffix = ".osm.gz" if compress is gzip.compress else ".osm.bz2"
    packed = tmp_path / f"wudaokou{suffix}"
    packed.write_bytes(compress(WUDAOKOU.read_bytes()))
    plain = prepare_extract(WUDAOKOU, cache_dir=tmp_path / "cache")
    prepared = prepare_extract(packed, cache_dir=tmp_path / "cache")
    assert prepared.path != plain.path  # the compressed file has its own hash
    for name in ("ways_kept", "nodes_kept", "dangling_refs", "ways_dropped"):
        assert getattr(prepared, name) == getattr(plain, name)
    assert _contents(prepared.path) == _contents(plain.path)


def test_unclipped_file_loses_nothing(tmp_path: Path) -> None:
    """A complete file: no dangling references, every street kept and the building dropped."""
    prepared = prepare_extract(TINY, cache_dir=tmp_path)
    assert (prepared.dangling_refs, prepared.ways_dropped, prepared.ways_split, prepared.ways_shortened) == (0, 0, 0, 0)
    _, source_ways = _contents(TINY)
    _, ways = _contents(prepared.path)
    assert len(ways) == prepared.ways_kept == len(source_ways) - 1  # the building
    graph = _graph(prepared)
    assert graph.number_of_edges() > 10
    assert graph.nodes[5]["highway"] == "traffic_signals"  # node tags are kept


def test_ways_split_at_missing_nodes(tmp_path: Path) -> None:
    """A way that leaves and re-enters the extract becomes two pieces; a way with one node left is dropped."""
    source = tmp_path / "gap.osm"
    nodes = "".join(f'<node id="{i}" lat="26.58" lon="{106.700 + i / 1000:.3f}"/>' for i in (1, 2, 4, 5, 6))
    source.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><osm version="0.6">'
        + nodes
        + '<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/>'
        '<tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>'
        '<way id="11"><nd ref="6"/><nd ref="7"/><tag k="highway" v="residential"/></way>'
        '<way id="12"><nd ref="5"/><nd ref="6"/><tag k="highway" v="cycleway"/></way>'
        "</osm>",
        encoding="utf-8",
    )
    prepared = prepare_extract(source, cache_dir=tmp_path / "cache")
    assert (prepared.ways_kept, prepared.ways_written, prepared.ways_split) == (2, 3, 1)
    assert (prepared.dangling_refs, prepared.ways_dropped) == (2, 1)
    _, ways = _contents(prepared.path)
    assert ways == {10: [1, 2], -1: [4, 5], 12: [5, 6]}
    graph = ox.graph_from_xml(prepared.path, bidirectional=False, simplify=False, retain_all=True)
    assert graph.has_edge(4, 5) and not graph.has_edge(5, 4)  # the piece keeps oneway=yes
    cn = prepare_extract(source, cache_dir=tmp_path / "cache", highway="cn")
    assert cn.ways_kept == 1  # no cycleway in the Chinese preset


def test_boundary_keeps_only_ways_near_it(tmp_path: Path) -> None:
    """With a boundary, every kept way reaches the boundary plus buffer; a wider buffer keeps more."""
    whole = prepare_extract(MONACO, cache_dir=tmp_path)
    near = prepare_extract(MONACO, boundary=CONDAMINE, buffer_m=0.0, cache_dir=tmp_path)
    wider = prepare_extract(MONACO, boundary=CONDAMINE, buffer_m=200.0, cache_dir=tmp_path)
    assert 0 < near.ways_kept < wider.ways_kept < whole.ways_kept
    assert near.ways_outside == whole.ways_kept - near.ways_kept
    nodes, ways = _contents(near.path)
    area = CONDAMINE.buffer(1e-9)
    for refs in ways.values():
        line = shapely.LineString([nodes[r] for r in refs])
        assert line.intersects(area)
    assert len({p.path for p in (whole, near, wider)}) == 3


def test_boundary_as_geoseries_in_a_metric_crs(tmp_path: Path) -> None:
    """A GeoSeries boundary in another CRS is reprojected to WGS-84 before the cut."""
    import geopandas as gpd

    series = gpd.GeoSeries([CONDAMINE], crs=4326).to_crs(32632)
    prepared = prepare_extract(MONACO, boundary=series, buffer_m=0.0, cache_dir=tmp_path)
    direct = prepare_extract(MONACO, boundary=CONDAMINE, buffer_m=0.0, cache_dir=tmp_path)
    assert abs(prepared.ways_kept - direct.ways_kept) <= 1


def test_boundary_outside_the_extract_is_an_input_error(tmp_path: Path) -> None:
    """A boundary the extract does not cover: one error naming the file and the area, no traceback."""
    with pytest.raises(InputError, match=r"monaco_centre_clipped.*no streets .*within the boundary"):
        prepare_extract(MONACO, boundary=shapely.box(106.7, 26.5, 106.8, 26.6), cache_dir=tmp_path)


def test_second_call_comes_from_the_cache(tmp_path: Path) -> None:
    """The same source and settings: the same file, from the cache; a changed source is prepared again."""
    source = tmp_path / "wudaokou.osm"
    shutil.copyfile(WUDAOKOU, source)
    messages: list[str] = []
    first = prepare_extract(source, cache_dir=tmp_path / "cache", progress=messages.append)
    assert any("pass 1/2" in m for m in messages)
    again = prepare_extract(source, cache_dir=tmp_path / "cache", progress=messages.append)
    assert again.from_cache and not first.from_cache
    assert again.path == first.path
    assert "from cache" in messages[-1]
    assert {k: v for k, v in vars(again).items() if k not in ("from_cache", "elapsed_s")} == {
        k: v for k, v in vars(first).items() if k not in ("from_cache", "elapsed_s")
    }
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("<osm ", "<!-- edited --><osm ", 1), encoding="utf-8")
    changed = prepare_extract(source, cache_dir=tmp_path / "cache")
    assert not changed.from_cache
    assert changed.path != first.path and changed.sha256 != first.sha256
    other = prepare_extract(source, cache_dir=tmp_path / "cache", highway="eu")
    assert not other.from_cache and other.path != changed.path
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")) == []  # no leftovers


def test_default_cache_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without cache_dir the clean file goes to $XDG_CACHE_HOME/gridmgmt/extracts, never the current folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    prepared = prepare_extract(TINY)
    assert prepared.path.parent == tmp_path / "gridmgmt" / "extracts"


def test_large_files_index_node_locations_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The on-disk location index (used for large files) gives the same result as the in-memory one."""
    in_memory = prepare_extract(MONACO, cache_dir=tmp_path / "a")
    monkeypatch.setattr(extract, "_DISK_INDEX_BYTES", 0)
    assert extract._location_store(MONACO, tmp_path).startswith("sparse_file_array,")
    on_disk = prepare_extract(MONACO, cache_dir=tmp_path / "b")
    assert _contents(on_disk.path) == _contents(in_memory.path)
    assert sorted(p.suffix for p in (tmp_path / "b").iterdir()) == [".json", ".osm"]  # scratch index removed


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.osm.pbf", b"", "is empty"),
        ("garbage.osm.pbf", b"\x00\x00\x00\x0dnot a pbf file at all" * 10, "cannot read the OSM extract"),
        ("truncated.osm", WUDAOKOU.read_bytes()[:5000], "cannot read the OSM extract"),
        ("buildings.osm", TINY.read_bytes().replace(b'k="highway"', b'k="building"'), "no streets"),
        ("roads.csv", b"a,b\n1,2\n", "unsupported OSM extract format"),
    ],
)
def test_bad_files_are_input_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    """Empty, corrupt, truncated, street-less or unknown files: an InputError naming the file."""
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        prepare_extract(source, cache_dir=tmp_path / "cache")
    assert name in str(info.value)
    assert not list(tmp_path.glob("cache/*.osm"))  # nothing half-written left behind


def test_missing_file_and_unknown_preset(tmp_path: Path) -> None:
    """A missing file and an unknown street class preset are input errors."""
    with pytest.raises(InputError, match="not found"):
        prepare_extract(tmp_path / "nowhere.osm.pbf", cache_dir=tmp_path)
    with pytest.raises(InputError, match="unknown street class set 'asia'"):
        prepare_extract(TINY, cache_dir=tmp_path, highway="asia")


def test_street_class_presets() -> None:
    """Presets are subsets of the default; a list of classes is taken as given."""
    assert street_classes("default") == DEFAULT_STREET_CLASSES
    assert street_classes("cn") == CN_STREET_CLASSES < DEFAULT_STREET_CLASSES
    assert "footway" in street_classes("eu") and "track" not in street_classes("eu")
    assert street_classes(["residential", "service"]) == {"residential", "service"}
    with pytest.raises(ValueError, match="at least one"):
        street_classes([])


def test_unwritable_cache_folder_is_an_input_error(tmp_path: Path) -> None:
    """A cache folder that cannot be made (a file is in the way) is one error naming the folder."""
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(InputError, match="cannot write the prepared street network") as info:
        prepare_extract(TINY, cache_dir=blocker)
    assert str(blocker) in str(info.value)
