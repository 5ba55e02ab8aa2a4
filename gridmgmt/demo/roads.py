"""The demo's street network: jittered grids, main roads and a ring, noded and written as OSM XML.

The old town gets a dense jittered grid of lanes (80-120 m), the new town an arterial grid
(200-400 m); named main roads radiate from 喷水池. Every piece is noded, clipped to the
district, kept out of the park and pruned to one strongly connected network.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmgmt.demo.geography import TO_WGS, UTM_CRS

_MAIN_ROADS = (
    # name, highway, angle (deg from east), start km, end km
    ("中华北路", "primary", 90.0, 0.0, 12.0),
    ("延安西路", "primary", 180.0, 0.0, 3.2),
    ("贵黄路", "trunk", 182.0, 3.2, 13.0),
    ("延安东路", "primary", 2.0, 0.0, 8.0),
    ("宝山北路", "primary", 35.0, 0.0, 9.0),
    ("中山西路", "primary", 225.0, 0.0, 2.0),
)
_PLACE_WORDS_TEXT = (
    "富水 科学 省府 都司 箭道 蔡家 贵乌 枣山 沙河 三民 新华 民生 瑞金 友谊 合群 陕西 半边 狮峰 环溪 天官 "
    "洗马 富强 和平 光明 幸福 百花 雅关 金鸭 荔星 松山 东山 螺蛳 顺海 北新 新添 安井 黄金 银杏 桂花 梧桐 "
    "青山 玉田 云峰 龙泉 清溪 明珠 星光 翠微 育新 建设 团结 胜利 鸿福 文化 复兴 向阳 红岩 紫林 金鼎 博爱 "
    "兴关 六广 圣泉 甲秀 观风 仙人 太慈 万东 水口 油榨 大十 小十 次南 护国 忠烈 醒狮 达德 阳明 君子 白沙 "
    "沙冲 渔村 金桥 保利 未来 创业 智慧 银河 锦绣 宏图 长岭 贵开 盐沙 普天 花溪 乌江 苗岭 麒麟 凤凰 月亮 "
    "海天 尚义"
)
#: Place-name stems of Guiyang, for street names (and school names, see ``population``).
PLACE_WORDS = tuple(_PLACE_WORDS_TEXT.split())
_NUMERALS = "一二三四五六七八九"


@dataclass
class Roads:
    """The noded street network in UTM: one row per way piece, plus node coordinates."""

    ways: gpd.GeoDataFrame  # geometry, name, highway, oneway, lanes, maxspeed, zone, u, v
    nodes: np.ndarray  # (n, 2) UTM coordinates; row index = node index


def _name_pool(rng: np.random.Generator) -> Iterator[str]:
    """Endless street-name stems: the words in random order, then 一/二/三… variants."""
    words = [str(w) for w in rng.permutation(PLACE_WORDS)]
    yield from words
    for k in itertools.count(1):
        yield from (w + (_NUMERALS[k - 1] if k <= len(_NUMERALS) else str(k)) for w in words)


def _grid(
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    lo_m: float,
    hi_m: float,
    jitter_m: float,
    angle_deg: float,
    pivot: Point,
) -> tuple[np.ndarray, int, int]:
    """Jittered grid points (rows x cols x 2) with spacings drawn in [lo_m, hi_m], rotated about ``pivot``."""
    minx, miny, maxx, maxy = bounds
    diag = max(maxx - minx, maxy - miny) * 1.5
    xs = np.cumsum(rng.uniform(lo_m, hi_m, int(2 * diag / lo_m))) - diag
    ys = np.cumsum(rng.uniform(lo_m, hi_m, int(2 * diag / lo_m))) - diag
    xs, ys = xs[xs < diag], ys[ys < diag]
    gx, gy = np.meshgrid(xs, ys)  # rows follow y
    gx = gx + rng.uniform(-jitter_m, jitter_m, gx.shape)
    gy = gy + rng.uniform(-jitter_m, jitter_m, gy.shape)
    a = np.radians(angle_deg)
    px = pivot.x + gx * np.cos(a) - gy * np.sin(a)
    py = pivot.y + gx * np.sin(a) + gy * np.cos(a)
    return np.stack([px, py], axis=-1), gx.shape[0], gx.shape[1]


def _grid_lines(
    rng: np.random.Generator,
    pts: np.ndarray,
    region: BaseGeometry,
    drop: float,
    tag_row: Callable[[int], dict],
    tag_col: Callable[[int], dict],
) -> list[tuple[LineString, dict]]:
    """Segments between grid neighbours inside ``region`` (a share ``drop`` removed), tagged per row/column."""
    nr, nc = pts.shape[:2]
    minx, miny, maxx, maxy = region.bounds
    starts, ends, tags = [], [], []
    for axis_pts_a, axis_pts_b, index, tagger in (
        (pts[:, :-1], pts[:, 1:], np.repeat(np.arange(nr), nc - 1), tag_row),
        (pts[:-1, :], pts[1:, :], np.tile(np.arange(nc), nr - 1), tag_col),
    ):
        a, b = axis_pts_a.reshape(-1, 2), axis_pts_b.reshape(-1, 2)
        near = (
            (np.minimum(a[:, 0], b[:, 0]) < maxx)
            & (np.maximum(a[:, 0], b[:, 0]) > minx)
            & (np.minimum(a[:, 1], b[:, 1]) < maxy)
            & (np.maximum(a[:, 1], b[:, 1]) > miny)
        )
        a, b, index = a[near], b[near], index[near]
        row_tags = {int(k): tagger(int(k)) for k in np.unique(index)}
        dropped = rng.random(len(a)) < drop
        for k in range(len(a)):
            t = row_tags[int(index[k])]
            if dropped[k] and t.get("highway") != "secondary":
                continue
            if t.get("oneway") == "-1":  # draw it the other way round, then tag plainly
                starts.append(b[k])
                ends.append(a[k])
                t = {**t, "oneway": "yes"}
            else:
                starts.append(a[k])
                ends.append(b[k])
            tags.append(t)
    segs = shapely.linestrings(np.stack([np.array(starts), np.array(ends)], axis=1))
    assert isinstance(segs, np.ndarray)  # one line per start/end pair
    shapely.prepare(region)
    inside = shapely.contains(region, segs)  # cheap with a prepared region; only the rest needs cutting
    lines = segs.copy()
    cut = ~inside & shapely.intersects(region, segs)
    lines[cut] = shapely.intersection(segs[cut], region)
    lines[~inside & ~cut] = shapely.LineString()
    clipped = []
    for g, t in zip(lines, tags, strict=True):
        for part in getattr(g, "geoms", [g]):
            if isinstance(part, LineString) and not part.is_empty and part.length > 0.5:
                clipped.append((part, t))
    return clipped


def build_roads(rng: np.random.Generator, area: Polygon, old: Polygon, park: BaseGeometry, centre: Point) -> Roads:
    """Old-town jittered grid (80-120 m), new-town arterial grid (200-400 m), main roads and a ring; noded,
    clipped to the district, without streets in the park, and strongly connected."""
    pool = _name_pool(rng)
    old_names: dict[tuple[str, int], dict] = {}

    def old_tag(axis: str, k: int, oneway_every: int) -> dict:
        key = (axis, k)
        if key not in old_names:
            if k % 3 == 0:
                tags = {"highway": "tertiary", "name": next(pool) + rng.choice(["路", "街"]), "maxspeed": "30"}
            else:
                hw = "living_street" if rng.random() < 0.2 else "residential"
                tags = {
                    "highway": hw,
                    "name": next(pool) + rng.choice(["巷", "巷", "街"]),
                    "maxspeed": "20" if hw == "living_street" else "30",
                }
            tags["lanes"] = "1"
            if k % oneway_every == 1:
                tags["oneway"] = "yes" if (k // oneway_every) % 2 == 0 else "-1"
            tags["zone"] = "old"
            old_names[key] = tags
        return old_names[key]

    new_names: dict[tuple[str, int], dict] = {}

    def new_tag(axis: str, k: int) -> dict:
        key = (axis, k)
        if key not in new_names:
            if k % 3 == 0:
                tags = {
                    "highway": "secondary",
                    "name": next(pool) + rng.choice(["大道", "路"]),
                    "maxspeed": "50",
                    "lanes": "4",
                }
            else:
                tags = {"highway": "tertiary", "name": next(pool) + "路", "maxspeed": "40", "lanes": "2"}
            tags["zone"] = "new"
            new_names[key] = tags
        return new_names[key]

    park_free = shapely.difference(area.buffer(-3), park.buffer(5))
    old_pts, _, _ = _grid(rng, old.bounds, 80, 120, 12, 17.0, centre)
    lines = _grid_lines(
        rng,
        old_pts,
        shapely.intersection(old.buffer(15), park_free),
        0.10,
        lambda k: old_tag("row", k, 4),
        lambda k: old_tag("col", k, 8),
    )
    new_region = shapely.intersection(shapely.difference(area, old).buffer(15), park_free)
    new_pts, _, _ = _grid(rng, area.bounds, 200, 400, 25, 0.0, centre)
    lines += _grid_lines(rng, new_pts, new_region, 0.2, lambda k: new_tag("row", k), lambda k: new_tag("col", k))
    # main roads: gently curving radials from 喷水池 and a ring road around the old town
    inner = shapely.difference(area.buffer(-20), park.buffer(5))
    for name, hw, angle, r0, r1 in _MAIN_ROADS:
        r = np.linspace(r0 * 1000, r1 * 1000, 60)
        th = np.radians(angle) + 0.06 * np.sin(r / 1500.0)
        line = LineString(np.column_stack([centre.x + r * np.cos(th), centre.y + r * np.sin(th)]))
        tags = {"highway": hw, "name": name, "maxspeed": "60" if hw == "trunk" else "50", "lanes": "4", "zone": "main"}
        lines += [(g, tags) for g in _parts(shapely.intersection(line, inner))]
    beijing = LineString([(centre.x - 1200, centre.y + 1500), (centre.x + 7500, centre.y + 1700)])
    lines += [
        (g, {"highway": "primary", "name": "北京路", "maxspeed": "50", "lanes": "4", "zone": "main"})
        for g in _parts(shapely.intersection(beijing, inner))
    ]
    park_road = shapely.intersection(park.buffer(30).exterior, inner)
    lines += [
        (g, {"highway": "secondary", "name": "枣山路", "maxspeed": "40", "lanes": "2", "zone": "main"})
        for g in _parts(park_road)
    ]
    ring = shapely.difference(old.exterior, park.buffer(40))
    for g in _parts(shapely.intersection(ring, inner)):
        mid = g.interpolate(0.5, normalized=True)
        side = "北" if mid.y > centre.y + abs(mid.x - centre.x) * 0.5 else ("东" if mid.x > centre.x else "西")
        lines.append(
            (g, {"highway": "primary", "name": f"环城{side}路", "maxspeed": "50", "lanes": "4", "zone": "main"})
        )
    return _node(lines, area, park, old)


def _parts(geom: BaseGeometry) -> list[LineString]:
    if geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, LineString) and g.length > 1.0]


_PRIORITY = {"trunk": 5, "primary": 4, "secondary": 3, "tertiary": 2, "residential": 1, "living_street": 0}


def _node(lines: list[tuple[LineString, dict]], area: Polygon, park: BaseGeometry, old: Polygon) -> Roads:
    """Split every line where it meets another, tag the pieces, prune stubs and keep the strongly
    connected core (one-way pieces that split it become two-way)."""
    src = np.array([g for g, _ in lines], dtype=object)
    noded = shapely.union_all(shapely.set_precision(src, 0.01))
    pieces = [g for g in getattr(noded, "geoms", [noded]) if isinstance(g, LineString) and g.length > 0]
    pieces_arr = np.array(pieces, dtype=object)
    mids = shapely.line_interpolate_point(pieces_arr, 0.5, normalized=True)
    tree = shapely.STRtree(src)
    pi, li = tree.query(mids, predicate="dwithin", distance=0.05)
    best = np.full(len(pieces), -1)
    best_pr = np.full(len(pieces), -1)
    for p, q in zip(pi, li, strict=True):
        pr = _PRIORITY[lines[q][1]["highway"]]
        if pr > best_pr[p] or (pr == best_pr[p] and q < best[p]):
            best[p], best_pr[p] = q, pr
    core, park_core = area.buffer(-1), park.buffer(-1)
    shapely.prepare(core)
    shapely.prepare(park_core)
    inside = shapely.contains(core, pieces_arr) & ~shapely.intersects(park_core, pieces_arr)
    keep = (best >= 0) & inside
    rows = []
    for k in np.flatnonzero(keep):
        g = pieces[k]
        seg, tags = lines[best[k]]
        tags = dict(tags)
        coords = np.asarray(g.coords)
        if tags.get("oneway") == "yes":
            s0, s1 = seg.project(Point(coords[0])), seg.project(Point(coords[-1]))
            if s1 < s0:
                coords = coords[::-1]
        rows.append((coords, tags))
    # nodes by exact coordinates (the noder shares intersection coordinates)
    key_of: dict[tuple[float, float], int] = {}
    ways = []
    for coords, tags in rows:
        ids = []
        for x, y in coords:
            key = (round(x, 2), round(y, 2))
            if key not in key_of:
                key_of[key] = len(key_of)
            ids.append(key_of[key])
        if ids[0] != ids[-1]:
            ways.append((ids, coords, tags))
    nodes = np.array(list(key_of.keys()))
    ways = _prune_and_connect(ways)
    used = sorted({i for ids, _, _ in ways for i in ids})
    remap = {old_i: new_i for new_i, old_i in enumerate(used)}
    nodes = nodes[used]
    recs = []
    for ids, coords, tags in ways:
        recs.append({**tags, "nd": [remap[i] for i in ids], "geometry": LineString(coords)})
    frame = gpd.GeoDataFrame(recs, geometry="geometry", crs=UTM_CRS)
    frame["oneway"] = frame.get("oneway", pd.Series(index=frame.index, dtype=object)).fillna("")
    return Roads(ways=frame, nodes=nodes)


def _prune_and_connect(ways: list) -> list:
    """Drop short dead-end stubs left by clipping, then keep the largest strongly connected component."""
    short = {id(w) for w in ways if np.hypot(*np.diff(w[1], axis=0).T).sum() < 30.0}
    for _ in range(3):
        deg: dict[int, int] = {}
        for ids, _, _ in ways:
            for e in (ids[0], ids[-1]):
                deg[e] = deg.get(e, 0) + 1
        ways = [w for w in ways if not (id(w) in short and (deg[w[0][0]] == 1 or deg[w[0][-1]] == 1))]
    while True:
        g: nx.DiGraph[int] = nx.DiGraph()
        for ids, _, tags in ways:
            g.add_edge(ids[0], ids[-1])
            if tags.get("oneway") != "yes":
                g.add_edge(ids[-1], ids[0])
        comps = list(nx.strongly_connected_components(g))
        comp_of = {n: c for c, nodes in enumerate(comps) for n in nodes}
        fixed = 0
        for ids, _, tags in ways:
            if tags.get("oneway") == "yes" and comp_of[ids[0]] != comp_of[ids[-1]]:
                tags.pop("oneway")
                fixed += 1
        if not fixed:
            break
    biggest = max(comps, key=len)
    return [w for w in ways if w[0][0] in biggest and w[0][-1] in biggest]


def osm_xml(roads: Roads) -> bytes:
    """OSM XML (gzip, deterministic) that osmnx.graph_from_xml reads."""
    lon, lat = TO_WGS.transform(roads.nodes[:, 0], roads.nodes[:, 1])
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="gridmgmt.demo">']
    minlon, maxlon, minlat, maxlat = lon.min(), lon.max(), lat.min(), lat.max()
    out.append(f' <bounds minlat="{minlat:.7f}" minlon="{minlon:.7f}" maxlat="{maxlat:.7f}" maxlon="{maxlon:.7f}"/>')
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        out.append(f' <node id="{i + 1}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>')
    keys = ("highway", "name", "lanes", "maxspeed", "oneway")
    columns = [roads.ways[key].tolist() for key in keys]
    for k, nd in enumerate(roads.ways["nd"].tolist()):
        out.append(f' <way id="{k + 1}" version="1">')
        out += [f'  <nd ref="{n + 1}"/>' for n in nd]
        for key, column in zip(keys, columns, strict=True):
            val = column[k]
            if isinstance(val, str) and val:
                out.append(f"  <tag k={quoteattr(key)} v={quoteattr(val)}/>")
        out.append(" </way>")
    out.append("</osm>\n")
    return gzip.compress("\n".join(out).encode("utf-8"), compresslevel=6, mtime=0)
