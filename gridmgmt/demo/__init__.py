"""The synthetic demo district: a realistic Yunyan District (Guiyang) generated from a seed.

Only the boundary is real (data/demo/boundary.geojson); streets, retailers, schools, staff,
the two-year event log and the weekly orders are synthetic. The event log and the orders
come from a hidden risk process (documented in data/demo/README.md) whose per-retailer
expected violation rate is written to ``ground_truth.csv`` so risk models can be scored.

Geometry is built in UTM zone 48N (EPSG:32648, metres) and written in WGS-84.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.ops
import shapely.prepared
from pyproj import Transformer
from scipy import sparse
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point, Polygon

from gridmgmt import io
from gridmgmt.config import Files

log = logging.getLogger(__name__)

FILE_KEYS = tuple(f.name for f in dataclasses.fields(Files))  # every [files] entry of district.toml

UTM_CRS = "EPSG:32648"
WGS84 = "EPSG:4326"
_TO_UTM = Transformer.from_crs(WGS84, UTM_CRS, always_xy=True)
_TO_WGS = Transformer.from_crs(UTM_CRS, WGS84, always_xy=True)

#: 喷水池, the old town centre (lon, lat), and the centre of 黔灵山 park.
CENTRE_LONLAT = (106.7100, 26.5848)
PARK_LONLAT = (106.6950, 26.6000)
_REPO_BOUNDARY = Path(__file__).resolve().parents[2] / "data" / "demo" / "boundary.geojson"

#: Subdistricts: name_zh, name_en, seed point offset from the centre (east km, north km).
SUBDISTRICTS: tuple[tuple[str, str, float, float], ...] = (
    ("毓秀路", "Yuxiu Road", 0.3, -0.4),
    ("文昌阁", "Wenchang Pavilion", 1.5, -0.1),
    ("盐务街", "Yanwu Street", 1.2, 1.0),
    ("大营路", "Daying Road", 2.4, 1.5),
    ("普陀路", "Putuo Road", 0.3, 1.0),
    ("八鸽岩", "Bageyan", 0.6, 2.3),
    ("黔灵东路", "Qianling East Road", -0.4, 1.9),
    ("威清门", "Weiqing Gate", -1.0, 0.5),
    ("市西河", "Shixi River", -1.1, -0.5),
    ("头桥", "Touqiao", -2.8, 0.2),
    ("三桥路", "Sanqiao Road", -5.2, 0.3),
    ("马王", "Mawang", -8.8, -0.4),
    ("金关", "Jinguan", -1.2, 4.6),
    ("茶园路", "Chayuan Road", 1.9, 4.3),
    ("杨惠", "Yanghui", 0.2, 6.8),
    ("渔安", "Yu'an", 5.6, 2.6),
    ("水东路", "Shuidong Road", 3.6, 1.6),
    ("黔灵镇", "Qianling Town", -0.3, 9.2),
)
OLD_TOWN_SUBDISTRICTS = ("毓秀路", "文昌阁", "盐务街", "大营路", "普陀路", "八鸽岩", "黔灵东路", "威清门", "市西河")
EAST_SUBDISTRICTS = ("渔安", "水东路")

BUSINESS_SHARES = {"grocery": 0.45, "convenience": 0.25, "supermarket": 0.10, "mall": 0.02,
                   "tobacco_liquor": 0.10, "entertainment": 0.05, "other": 0.03}  # fmt: skip
CLASS_SHARES = {"AAA": 0.01, "AA": 0.07, "A": 0.89, "B": 0.02, "C": 0.007, "D": 0.003}

# Hidden risk process (see data/demo/README.md): log-rate effects and parameters.
BASE_RATE_PER_YEAR = 0.08
TYPE_EFFECT = {"grocery": 0.0, "convenience": -0.2, "supermarket": -0.5, "mall": -0.9,
               "tobacco_liquor": 0.7, "entertainment": 0.5, "other": 0.0}  # fmt: skip
CLASS_EFFECT = {"AAA": -0.8, "AA": -0.4, "A": 0.0, "B": 0.5, "C": 0.9, "D": 1.3}
SCHOOL_EFFECT = 0.6
SCHOOL_RADIUS_M = 100.0
INDIVIDUAL_SD = 0.6
#: Latent hot areas: east km, north km from the centre, log-rate amplitude, sigma in metres.
HOT_AREAS: tuple[tuple[float, float, float, float], ...] = (
    (-0.7, -0.2, 1.2, 350.0),  # 市西河 market streets
    (1.3, 0.6, 1.0, 300.0),  # 盐务街
    (0.4, 2.0, 0.9, 350.0),  # 八鸽岩
    (5.4, 2.4, 1.0, 500.0),  # 渔安 new town
)
NEAR_REPEAT_RADIUS_M = 300.0
EXCITE_TAU_DAYS = 20.0
EXCITE_SELF_PER_DAY = 0.004
EXCITE_NEIGHBOUR_PER_DAY = 0.0008
SPIKE_SHARE = 0.40


@dataclass(frozen=True)
class HotArea:
    """A latent hot area of the dynamic hidden process, with its life over the history.

    The log-rate bump at a retailer is ``amp * m(t) * exp(-d^2 / 2 sigma^2)``; ``m(t)`` rises
    linearly from 0 at ``start`` to 1 at ``full`` and falls linearly from 1 at ``fade_start`` to
    ``floor`` at ``fade_end`` (empty dates: always on / never fades). The centre moves linearly
    from (``east_km``, ``north_km``) at the start of the history to (``east_end_km``,
    ``north_end_km``) at its end (offsets from 喷水池). ``network`` areas are organised
    counterfeit/smuggling networks: their offences are mostly counterfeit or smuggled and more
    often preceded by an order spike.
    """

    name: str
    east_km: float
    north_km: float
    amp: float
    sigma_m: float
    start: str = ""
    full: str = ""
    fade_start: str = ""
    fade_end: str = ""
    floor: float = 0.0
    east_end_km: float | None = None
    north_end_km: float | None = None
    network: bool = False


#: Latent hot areas of the dynamic process (see data/demo/README.md, "The hidden risk process").
DYNAMIC_HOT_AREAS: tuple[HotArea, ...] = (
    HotArea("市西河 market streets", -0.7, -0.2, 1.2, 350.0),
    HotArea("盐务街 (cleaned up)", 1.3, 0.6, 1.2, 300.0, fade_start="2025-10-15", fade_end="2026-01-15", floor=0.1),
    HotArea("八鸽岩 (drifting)", 0.4, 2.0, 0.9, 350.0, east_end_km=1.3, north_end_km=2.9),
    HotArea("金关 network (dismantled)", -1.05, 4.6, 1.6, 450.0, start="2025-04-01", full="2025-06-01",
            fade_start="2026-01-15", fade_end="2026-02-28", network=True),
    HotArea("渔安 network (new)", 5.5, 2.2, 1.8, 500.0, start="2025-12-15", full="2026-02-15", network=True),
    HotArea("三桥 network (new)", -5.5, -0.1, 2.0, 450.0, start="2026-05-01", full="2026-06-30", network=True),
    HotArea("茶园路 network (new)", 1.6, 4.2, 1.8, 400.0, start="2026-07-15", full="2026-09-01", network=True),
)  # fmt: skip
#: Offending episodes: entry rate = EPISODE_ENTRY x the retailer's current background rate.
EPISODE_ENTRY = 1.0
EPISODE_FACTOR = 12.0  # hazard multiplier while in an episode
EPISODE_MIN_DAYS, EPISODE_MEAN_EXTRA_DAYS = 30, 90
EPISODE_SPIKE = 0.7  # chance an episode starts with an order spike in its first 3 weeks
EPISODE_TIP_OFF = 0.5  # chance neighbours tip the bureau off 7-40 days into an episode
NETWORK_SPIKE_SHARE = 0.6
#: Enforcement effect: after a found violation the retailer's hazard is multiplied by DETERRENCE
#: for DETERRENCE_DAYS, and its episode ends with probability EPISODE_END_ON_FOUND.
DETERRENCE, DETERRENCE_DAYS, EPISODE_END_ON_FOUND = 0.35, 180, 0.7
ORACLE_HORIZON_DAYS = 90
BASE_CARTONS_PER_WEEK = {"grocery": 8.0, "convenience": 14.0, "supermarket": 35.0, "mall": 55.0,
                         "tobacco_liquor": 30.0, "entertainment": 5.0, "other": 4.0}  # fmt: skip
CLASS_ORDER_FACTOR = {"AAA": 2.5, "AA": 1.8, "A": 1.0, "B": 0.8, "C": 0.7, "D": 0.6}
SPRING_FESTIVALS = ("2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26")

_MAIN_ROADS = (
    # name, highway, angle (deg from east), start km, end km
    ("中华北路", "primary", 90.0, 0.0, 12.0),
    ("延安西路", "primary", 180.0, 0.0, 3.2),
    ("贵黄路", "trunk", 182.0, 3.2, 13.0),
    ("延安东路", "primary", 2.0, 0.0, 8.0),
    ("宝山北路", "primary", 35.0, 0.0, 9.0),
    ("中山西路", "primary", 225.0, 0.0, 2.0),
)
_WORDS_TEXT = (
    "富水 科学 省府 都司 箭道 蔡家 贵乌 枣山 沙河 三民 新华 民生 瑞金 友谊 合群 陕西 半边 狮峰 环溪 天官 "
    "洗马 富强 和平 光明 幸福 百花 雅关 金鸭 荔星 松山 东山 螺蛳 顺海 北新 新添 安井 黄金 银杏 桂花 梧桐 "
    "青山 玉田 云峰 龙泉 清溪 明珠 星光 翠微 育新 建设 团结 胜利 鸿福 文化 复兴 向阳 红岩 紫林 金鼎 博爱 "
    "兴关 六广 圣泉 甲秀 观风 仙人 太慈 万东 水口 油榨 大十 小十 次南 护国 忠烈 醒狮 达德 阳明 君子 白沙 "
    "沙冲 渔村 金桥 保利 未来 创业 智慧 银河 锦绣 宏图 长岭 贵开 盐沙 普天 花溪 乌江 苗岭 麒麟 凤凰 月亮 "
    "海天 尚义"
)
_WORDS = tuple(_WORDS_TEXT.split())
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林郑梁谢唐韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶程魏苏吕丁任卢姚"
_NUMERALS = "一二三四五六七八九"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅鑫琳晨浩宇婷飞鹏斌波辉健霖"
_BRANDS_TEXT = (
    "鑫源 惠民 佳佳 万家 便民 好又多 旺旺 金源 福满 家和 顺发 永辉 兴隆 红星 星火 利民 乐购 合力 众鑫 康乐 佳惠"
)
_BRANDS = tuple(_BRANDS_TEXT.split())
_SHOP_SUFFIX = {
    "grocery": ("食杂店", "副食店", "小卖部", "便民店"),
    "convenience": ("便利店", "便利店", "24小时便利店"),
    "supermarket": ("超市", "生活超市", "购物超市"),
    "mall": ("商场", "百货", "购物中心"),
    "tobacco_liquor": ("烟酒商行", "名烟名酒", "烟酒店"),
    "entertainment": ("KTV", "网咖", "棋牌室", "台球俱乐部", "酒吧"),
    "other": ("书报亭", "药店", "宾馆", "加油站便利店"),
}
_HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>便利店",
    '鑫源烟酒"><script>alert(1)</script>',
    "惠民超市</td><b onmouseover=alert('x')>",
)


@dataclass
class _Roads:
    """The noded street network in UTM: one row per way piece, plus node coordinates."""

    ways: gpd.GeoDataFrame  # geometry, name, highway, oneway, lanes, maxspeed, zone, u, v
    nodes: np.ndarray  # (n, 2) UTM coordinates; row index = node index


# --------------------------------------------------------------------------- public API


def generate_demo(
    out_dir: str | Path,
    *,
    seed: int = 7,
    n_retailers: int = 5000,
    history_end: str = "2026-11-30",
    history_days: int = 730,
    boundary: str | Path | None = None,
) -> dict[str, Path]:
    """Generate the synthetic Yunyan demo district into ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing).
    seed
        Seed of every random choice; the same seed gives byte-identical files.
    n_retailers
        Number of licensed retailers.
    history_end
        Last day of the event and order history (inclusive), ``YYYY-MM-DD``.
    history_days
        Length of the history in days (730 = two years).
    boundary
        District boundary (WGS-84 GeoJSON); default ``out_dir/boundary.geojson`` if present,
        else the committed ``data/demo/boundary.geojson``. Copied into ``out_dir`` when missing there.

    Returns
    -------
    dict of str to Path
        Every file written, keyed as in district.toml's ``[files]`` plus ``district``.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    paths: dict[str, Path] = {}
    src = Path(boundary) if boundary else (out / "boundary.geojson")
    if not src.exists():
        src = _REPO_BOUNDARY
    bnd = io.read_layer(src)
    if bnd.crs is None:
        bnd = bnd.set_crs(WGS84)
    paths["boundary"] = out / "boundary.geojson"
    if src.resolve() != paths["boundary"].resolve():
        io.write_vector(bnd.to_crs(WGS84), paths["boundary"])
    area = shapely.make_valid(bnd.to_crs(UTM_CRS).union_all())
    centre = Point(_TO_UTM.transform(*CENTRE_LONLAT))
    park, old = _zones(area, centre)
    log.info(
        "demo: boundary %.1f km2, old town %.1f km2, park %.1f km2", area.area / 1e6, old.area / 1e6, park.area / 1e6
    )

    subs = _subdistricts(area, centre, old)
    paths["subdistricts"] = io.write_vector(_to_wgs(subs), out / "subdistricts.geojson")

    roads = _build_roads(rng, area, old, park, centre)
    n_oneway = int((roads.ways["oneway"] == "yes").sum())
    log.info("demo: road network %d nodes, %d ways (%d one-way)", len(roads.nodes), len(roads.ways), n_oneway)
    paths["network"] = io.write_bytes(_osm_xml(roads), out / "roads.osm.gz")

    schools = _place_schools(rng, roads, old, area, park)
    retailers = _place_retailers(rng, roads, n_retailers, old, area, park, schools, subs, history_end)
    log.info("demo: %d retailers, %d schools", len(retailers), len(schools))

    # The history has its own random stream, so the hidden process can change without changing any
    # other file. The first published (stationary) process still runs on the main stream only to
    # advance it as it always did: the staff roster drawn next stays byte-identical.
    _simulate_history(rng, retailers, schools, centre, history_end, history_days, dynamic=False)
    history_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    events, orders, truth = _simulate_history(history_rng, retailers, schools, centre, history_end, history_days)
    log.info(
        "demo: %d events, %d order rows, %d violations",
        len(events),
        len(orders),
        int((events["type"] == "violation").sum()),
    )

    depots = _depots(roads, centre)
    staff = _staff(rng)

    retailers_out = retailers.drop(columns=["x", "y", "zone"])
    paths["retailers"] = io.write_csv(retailers_out, out / "retailers.csv")
    sch = schools.drop(columns=["x", "y"])
    paths["schools"] = io.write_vector(_to_wgs(sch), out / "schools.geojson")
    paths["depots"] = io.write_csv(depots, out / "depots.csv")
    paths["staff"] = io.write_csv(staff, out / "staff.csv")
    raw = events.to_csv(index=False).encode("utf-8")
    paths["events"] = io.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0), out / "events.csv.gz")
    paths["orders"] = io.write_layers({"": orders}, out / "orders.parquet")
    paths["ground_truth"] = io.write_csv(truth, out / "ground_truth.csv")
    paths["district"] = io.write_text(_district_toml(history_end, paths), out / "district.toml")
    log.info("demo: wrote %d files to %s", len(paths), out)
    return paths


def make_churn_scenario(
    retailers: pd.DataFrame,
    network: nx.MultiDiGraph,
    subdistricts: gpd.GeoDataFrame,
    *,
    seed: int = 0,
    n_new_east: int = 300,
    n_closed_old: int = 100,
    east: tuple[str, ...] = EAST_SUBDISTRICTS,
    old_town: tuple[str, ...] = OLD_TOWN_SUBDISTRICTS,
    licence_date: str | None = None,
) -> pd.DataFrame:
    """A changed retailer table: new shops in the eastern new town, closures in the old town.

    Parameters
    ----------
    retailers
        The current retailer table (columns of the data contract, lon/lat in WGS-84).
    network
        The road network (osmnx MultiDiGraph, WGS-84); new shops are placed 5-15 m beside its streets.
    subdistricts
        Subdistrict polygons with ``name_zh`` (WGS-84).
    seed
        Seed of the random choices.
    n_new_east, n_closed_old
        Number of retailers opened in ``east`` subdistricts and closed in ``old_town`` ones.
    licence_date
        Licence date of the new shops (default: the latest in ``retailers``).

    Returns
    -------
    pandas.DataFrame
        The kept retailers (original order) followed by the new ones (``grid_id`` empty, other extra
        columns missing); a GeoDataFrame when ``retailers`` is one.
    """
    import osmnx as ox

    rng = np.random.default_rng(seed)
    table = retailers.copy()
    old_idx = np.flatnonzero(table["subdistrict"].isin(old_town).to_numpy())
    closed = rng.choice(old_idx, size=min(n_closed_old, len(old_idx)), replace=False)
    kept = table.drop(index=table.index[closed])

    edges = ox.convert.graph_to_gdfs(network, nodes=False).reset_index(drop=True).to_crs(UTM_CRS)
    subs = subdistricts.to_crs(UTM_CRS)
    east_area = shapely.union_all(subs.loc[subs["name_zh"].isin(east)].geometry.to_numpy())
    mid = shapely.line_interpolate_point(edges.geometry.to_numpy(), 0.5, normalized=True)
    on_east = edges.loc[shapely.contains(east_area, mid)]
    if on_east.empty or n_new_east <= 0:
        return kept.reset_index(drop=True)
    names = on_east["name"].map(lambda v: v[0] if isinstance(v, list) else v).fillna("").astype(str).to_numpy()
    geoms = on_east.geometry.to_numpy()
    xy, street = _points_beside(rng, geoms, names, shapely.length(geoms), n_new_east, east_area)
    date = licence_date or str(table["licence_date"].max())
    used = set(table["retailer_id"].astype(str))
    new = _retailer_attributes(rng, len(xy), used)
    lon, lat = _TO_WGS.transform(xy[:, 0], xy[:, 1])
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM_CRS)
    sub_name = _subdistrict_of(pts, subs)
    new.insert(2, "address", [f"{s}{n}号" for s, n in zip(street, rng.integers(1, 400, len(xy)), strict=True)])
    new.insert(3, "lon", np.round(lon, 6))
    new.insert(4, "lat", np.round(lat, 6))
    new["subdistrict"] = sub_name
    new["licence_date"] = date
    new["grid_id"] = ""
    new = new[[c for c in table.columns if c in new.columns]]
    for col in new.columns:  # match the table's kinds (read_table gives strings)
        if not pd.api.types.is_numeric_dtype(table[col]) and pd.api.types.is_numeric_dtype(new[col]):
            new[col] = [f"{v:.6f}" if isinstance(v, float) else str(v) for v in new[col]]
    if "grid_id" in table and pd.api.types.is_numeric_dtype(table["grid_id"]):
        new["grid_id"] = pd.array([pd.NA] * len(new), dtype=table["grid_id"].dtype)
    if isinstance(table, gpd.GeoDataFrame):
        geom = table.geometry.name
        new[geom] = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84).to_crs(table.crs).to_numpy()
        return gpd.GeoDataFrame(pd.concat([kept, new], ignore_index=True), geometry=geom, crs=table.crs)
    return pd.concat([kept, new], ignore_index=True)


# --------------------------------------------------------------------------- geography


def _offset(centre: Point, east_km: float, north_km: float) -> Point:
    return Point(centre.x + east_km * 1000.0, centre.y + north_km * 1000.0)


def _zones(area: Polygon, centre: Point) -> tuple[Polygon, Polygon]:
    """黔灵山 park (~3 km2) and the old town (~a fifth of the district around 喷水池, without the park)."""
    pc = Point(_TO_UTM.transform(*PARK_LONLAT))
    theta = np.linspace(0, 2 * np.pi, 73)[:-1]
    r = 1.0 + 0.10 * np.sin(3 * theta + 0.4) + 0.05 * np.cos(5 * theta)
    park = Polygon(np.column_stack([pc.x + 1150 * r * np.cos(theta), pc.y + 850 * r * np.sin(theta)]))
    park = shapely.intersection(park, area)
    rr = 1.0 + 0.12 * np.sin(2 * theta + 0.8) + 0.06 * np.sin(3 * theta + 2.0)

    def old_town(radius: float) -> Polygon:
        blob = Polygon(
            np.column_stack([centre.x + radius * rr * np.cos(theta), centre.y + radius * rr * np.sin(theta)])
        )
        return shapely.difference(shapely.intersection(blob, area), park)

    lo, hi = 1000.0, 6000.0
    for _ in range(30):  # bisection: old town = 20% of the district
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if old_town(mid).area < 0.2 * area.area else (lo, mid)
    old = _largest(old_town((lo + hi) / 2))
    return park, old


def _largest(geom: shapely.Geometry) -> Polygon:
    parts = list(getattr(geom, "geoms", [geom]))
    return max(parts, key=lambda g: g.area)


def _subdistricts(area: Polygon, centre: Point, old: Polygon) -> gpd.GeoDataFrame:
    """Voronoi cells of the 18 seed points, clipped to the district; stray fragments merged into neighbours."""
    inner = area.buffer(-300)
    seeds = []
    for _, _, east, north in SUBDISTRICTS:
        p = _offset(centre, east, north)
        if not inner.contains(p):
            p = shapely.ops.nearest_points(inner, p)[0]
        seeds.append(p)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=area.envelope.buffer(5000))
    geoms = []
    for p in seeds:
        cell = next(c for c in cells.geoms if c.contains(p))
        geoms.append(shapely.intersection(cell, area))
    # a cell cut by the concave boundary may fall apart: keep the part holding the seed, give the rest away
    pieces: list[Polygon] = []
    for i, g in enumerate(geoms):
        parts = list(getattr(g, "geoms", [g]))
        keep = next((q for q in parts if q.contains(seeds[i])), max(parts, key=lambda q: q.area))
        geoms[i] = keep
        pieces += [q for q in parts if q is not keep and q.area > 0]
    for q in pieces:
        best = max(range(len(geoms)), key=lambda j: shapely.intersection(geoms[j].buffer(1.0), q).area)
        geoms[best] = _largest(shapely.union(geoms[best], q.buffer(0.01)).intersection(area))
    rows = []
    for i, ((zh, en, _, _), g) in enumerate(zip(SUBDISTRICTS, geoms, strict=True)):
        share = shapely.intersection(g, old).area / g.area
        kind = "old_town" if share > 0.7 else ("new_town" if share < 0.25 else "mixed")
        rows.append(
            {
                "subdistrict_id": f"520103{i + 1:03d}",
                "name_zh": zh,
                "name_en": en,
                "area_type": kind,
                "geometry": shapely.make_valid(g),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM_CRS)


def _to_wgs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.to_crs(WGS84)
    out.geometry = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    return out


def _subdistrict_of(points: gpd.GeoSeries, subs: gpd.GeoDataFrame) -> np.ndarray:
    """Name of the subdistrict holding each point (nearest one for points on an edge)."""
    idx = np.full(len(points), -1)
    tree = shapely.STRtree(subs.geometry.to_numpy())
    pi, si = tree.query(points.to_numpy(), predicate="within")
    idx[pi] = si
    missing = np.flatnonzero(idx < 0)
    if len(missing):
        idx[missing] = tree.nearest(points.to_numpy()[missing])
    return subs["name_zh"].to_numpy()[idx]


# --------------------------------------------------------------------------- roads


def _name_pool(rng: np.random.Generator) -> Iterator[str]:
    """Endless street-name stems: the words in random order, then 一/二/三… variants."""
    words = [str(w) for w in rng.permutation(_WORDS)]
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
    region: Polygon,
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


def _build_roads(rng: np.random.Generator, area: Polygon, old: Polygon, park: Polygon, centre: Point) -> _Roads:
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


def _parts(geom: shapely.Geometry) -> list[LineString]:
    if geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, LineString) and g.length > 1.0]


_PRIORITY = {"trunk": 5, "primary": 4, "secondary": 3, "tertiary": 2, "residential": 1, "living_street": 0}


def _node(lines: list[tuple[LineString, dict]], area: Polygon, park: Polygon, old: Polygon) -> _Roads:
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
    return _Roads(ways=frame, nodes=nodes)


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
        g = nx.DiGraph()
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


def _osm_xml(roads: _Roads) -> bytes:
    """OSM XML (gzip, deterministic) that osmnx.graph_from_xml reads."""
    lon, lat = _TO_WGS.transform(roads.nodes[:, 0], roads.nodes[:, 1])
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


# --------------------------------------------------------------------------- places


def _points_beside(
    rng: np.random.Generator,
    geoms: np.ndarray,
    names: np.ndarray,
    weights: np.ndarray,
    n: int,
    allowed: Polygon,
    offset_m: tuple[float, float] = (5.0, 15.0),
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points 5-15 m beside streets (street drawn with probability ~ ``weights``), inside ``allowed``."""
    prob = weights / weights.sum()
    prepared = shapely.prepared.prep(allowed)
    xy = np.empty((0, 2))
    street = np.empty(0, dtype=object)
    while len(xy) < n:
        m = int((n - len(xy)) * 1.3) + 10
        k = rng.choice(len(geoms), size=m, p=prob)
        lens = shapely.length(geoms[k])
        t = rng.uniform(0.1, 0.9, m) * lens
        p0 = shapely.get_coordinates(shapely.line_interpolate_point(geoms[k], t))
        p1 = shapely.get_coordinates(shapely.line_interpolate_point(geoms[k], np.minimum(t + 1.0, lens)))
        d = p1 - p0
        norm = np.hypot(d[:, 0], d[:, 1])
        norm[norm == 0] = 1.0
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / norm[:, None]
        side = rng.choice([-1.0, 1.0], m) * rng.uniform(*offset_m, m)
        cand = p0 + normal * side[:, None]
        ok = np.array([prepared.contains(Point(c)) for c in cand])
        xy = np.vstack([xy, cand[ok]])
        street = np.concatenate([street, names[k][ok]])
    return xy[:n], street[:n]


def _place_schools(
    rng: np.random.Generator, roads: _Roads, old: Polygon, area: Polygon, park: Polygon
) -> gpd.GeoDataFrame:
    """~40 schools beside streets, about 60% in the old town."""
    ways = roads.ways
    allowed = shapely.difference(area, park)
    w = ways.length.to_numpy() * np.where(ways["zone"] == "old", 4.0, 1.0)
    w = w * (ways["highway"] != "trunk")
    xy, _ = _points_beside(rng, ways.geometry.to_numpy(), ways["name"].to_numpy(), w, 40, allowed, (20.0, 40.0))
    kinds = ["小学"] * 22 + ["中学"] * 12 + ["幼儿园"] * 6
    kinds = list(rng.permutation(kinds))
    words = list(rng.permutation(_WORDS))
    names = []
    for i, kind in enumerate(kinds):
        if kind == "中学" and i % 3 == 0:
            names.append(f"贵阳市第{'一二三四五六七八九'[i % 9]}{'十' if i > 9 else ''}中学")
        else:
            names.append(f"云岩区{words[i]}{kind}")
    names = _dedupe(names)
    return gpd.GeoDataFrame(
        {"school_id": [f"S{i + 1:02d}" for i in range(40)], "name": names, "x": xy[:, 0], "y": xy[:, 1]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=UTM_CRS,
    )


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}({seen[n]})")
    return out


def _retailer_attributes(rng: np.random.Generator, n: int, used_ids: set[str]) -> pd.DataFrame:
    """Licence number, name, business type, class and opening hours of ``n`` new retailers."""
    btypes = rng.choice(list(BUSINESS_SHARES), size=n, p=list(BUSINESS_SHARES.values()))
    classes = rng.choice(list(CLASS_SHARES), size=n, p=list(CLASS_SHARES.values()))
    ids: list[str] = []
    while len(ids) < n:
        cand = f"520103{rng.integers(100000, 1000000)}"
        if cand not in used_ids:
            used_ids.add(cand)
            ids.append(cand)
    names, opens, closes = [], [], []
    for bt in btypes:
        suffix = rng.choice(_SHOP_SUFFIX[bt])
        if rng.random() < 0.5:
            prefix = rng.choice(list(_SURNAMES)) + rng.choice(["记", "氏", "家", "姐", "哥"])
        else:
            prefix = str(rng.choice(_BRANDS))
        names.append(f"{prefix}{suffix}")
        if (bt == "convenience" and rng.random() < 0.3) or suffix == "24小时便利店":
            o, c = "00:00", "24:00"
        elif bt == "entertainment":
            o, c = rng.choice(["12:00", "14:00", "18:00", "19:00"]), rng.choice(["02:00", "03:00", "01:00", "24:00"])
        elif bt in ("supermarket", "mall"):
            o, c = rng.choice(["08:30", "09:00", "09:30"]), rng.choice(["21:30", "22:00", "22:30"])
        else:
            o = rng.choice(["07:00", "07:30", "08:00", "08:00", "08:30", "09:00"])
            c = rng.choice(["21:00", "21:30", "22:00", "22:00", "22:30", "23:00"])
        opens.append(str(o))
        closes.append(str(c))
    return pd.DataFrame(
        {
            "retailer_id": ids,
            "name": names,
            "business_type": btypes,
            "customer_class": classes,
            "open_time": opens,
            "close_time": closes,
        }
    )


def _place_retailers(
    rng: np.random.Generator,
    roads: _Roads,
    n: int,
    old: Polygon,
    area: Polygon,
    park: Polygon,
    schools: gpd.GeoDataFrame,
    subs: gpd.GeoDataFrame,
    history_end: str,
) -> pd.DataFrame:
    """Retailers beside streets: ~67% in the old town, denser along main roads and near schools."""
    ways = roads.ways
    allowed = shapely.difference(area, park.buffer(20))
    road_f = (
        ways["highway"]
        .map(
            {"trunk": 2.0, "primary": 3.0, "secondary": 1.5, "tertiary": 1.2, "residential": 1.0, "living_street": 0.8}
        )
        .to_numpy()
    )
    mid = shapely.line_interpolate_point(ways.geometry.to_numpy(), 0.5, normalized=True)
    in_old = shapely.contains(old, mid)
    base = ways.length.to_numpy() * road_f
    # clustered commercial life in the new town: a few local centres
    cx = np.array([[s.x, s.y] for s in schools.geometry[:8]])
    dmin = np.min(np.hypot(shapely.get_x(mid)[:, None] - cx[:, 0], shapely.get_y(mid)[:, None] - cx[:, 1]), axis=1)
    base = base * (1.0 + 2.0 * np.exp(-((dmin / 600.0) ** 2)) * ~in_old)
    target_old = 0.67
    s_old, s_new = base[in_old].sum(), base[~in_old].sum()
    f_old = target_old / (1 - target_old) * s_new / s_old
    weight = base * np.where(in_old, f_old, 1.0)
    n_school = min(n // 40, 3 * len(schools))
    xy, street = _points_beside(rng, ways.geometry.to_numpy(), ways["name"].to_numpy(), weight, n - n_school, allowed)
    # a few shops right next to schools (the street nearest each chosen school)
    tree = shapely.STRtree(ways.geometry.to_numpy())
    sch_xy, sch_street = [], []
    for k in range(n_school):
        s = schools.geometry.iloc[k % len(schools)]
        near = tree.query(s, predicate="dwithin", distance=80.0)
        if len(near) == 0:
            near = np.array([tree.nearest(s)])
        p, st = _points_beside(
            rng,
            ways.geometry.to_numpy()[near],
            ways["name"].to_numpy()[near],
            np.ones(len(near)),
            1,
            shapely.intersection(allowed, s.buffer(95.0)),
        )
        sch_xy.append(p[0])
        sch_street.append(st[0])
    if n_school:
        xy = np.vstack([xy, np.array(sch_xy)])
        street = np.concatenate([street, np.array(sch_street, dtype=object)])
    order = np.lexsort((xy[:, 0], xy[:, 1]))
    xy, street = xy[order], street[order]
    attrs = _retailer_attributes(rng, n, set())
    attrs["retailer_id"] = sorted(attrs["retailer_id"])  # licence numbers ascend from south to north
    hostile = rng.choice(n, size=min(3, n), replace=False)
    for h, text in zip(hostile, _HOSTILE_NAMES, strict=False):
        attrs.loc[h, "name"] = text
    lon, lat = _TO_WGS.transform(xy[:, 0], xy[:, 1])
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM_CRS)
    end = pd.Timestamp(history_end)
    age_days = np.where(rng.random(n) < 0.82, rng.uniform(730, 365 * 12, n), rng.uniform(1, 730, n))
    lic = (end - pd.to_timedelta(age_days.astype(int), unit="D")).strftime("%Y-%m-%d")
    numbers = rng.integers(1, 400, n)
    frame = pd.DataFrame(
        {
            "retailer_id": attrs["retailer_id"],
            "name": attrs["name"],
            "address": [
                f"{s}{k}号" if rng.random() > 0.1 else f"{s}{k}号附{rng.integers(1, 9)}号"
                for s, k in zip(street, numbers, strict=True)
            ],
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "business_type": attrs["business_type"],
            "customer_class": attrs["customer_class"],
            "open_time": attrs["open_time"],
            "close_time": attrs["close_time"],
            "subdistrict": _subdistrict_of(pts, subs),
            "licence_date": lic,
            "grid_id": "",
        }
    )
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    frame["zone"] = np.where(shapely.contains_xy(old, xy[:, 0], xy[:, 1]), "old", "new")
    return frame


def _depots(roads: _Roads, centre: Point) -> pd.DataFrame:
    """The bureau office near 喷水池 and the east and west stations, each on a street node."""
    want = [
        ("D1", "云岩区烟草专卖局 (Yunyan Tobacco Monopoly Bureau)", _offset(centre, 0.35, 0.45)),
        ("D2", "渔安管理站 (East station, Yu'an)", _offset(centre, 5.4, 2.5)),
        ("D3", "三桥管理站 (West station, Sanqiao)", _offset(centre, -5.0, 0.2)),
    ]
    tree = cKDTree(roads.nodes)
    rows = []
    for did, name, p in want:
        _, k = tree.query([p.x, p.y])
        lon, lat = _TO_WGS.transform(*roads.nodes[k])
        rows.append({"depot_id": did, "name": name, "lon": round(lon, 6), "lat": round(lat, 6)})
    return pd.DataFrame(rows)


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    names: set[str] = set()
    out = []
    while len(out) < n:
        nm = rng.choice(list(_SURNAMES)) + "".join(rng.choice(list(_GIVEN), size=rng.integers(1, 3)))
        if nm not in names:
            names.add(nm)
            out.append(nm)
    return out


def _staff(rng: np.random.Generator) -> pd.DataFrame:
    """12 customer managers (M01-M12) and 12 monopoly officers (Z01-Z12), paired by grid."""
    names = _person_names(rng, 24)
    rows = []
    for g in range(1, 13):
        depot = "D1" if g <= 8 else ("D2" if g <= 10 else "D3")
        for dept, prefix, off in (("marketing", "M", 0), ("monopoly", "Z", 12)):
            if depot == "D1":
                mode = "ebike" if (g + off) % 3 else "walk"
            else:
                mode = "car" if dept == "monopoly" or g % 2 else "ebike"
            rows.append(
                {
                    "staff_id": f"{prefix}{g:02d}",
                    "name": names[g - 1 + off],
                    "department": dept,
                    "grid_id": g,
                    "depot": depot,
                    "travel_mode": mode,
                    "shift_start": "08:30",
                    "shift_end": "17:30",
                }
            )
    return pd.DataFrame(rows).sort_values("staff_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- history


def _season(days: pd.DatetimeIndex) -> np.ndarray:
    """Multiplier of the offence rate: +40% around the Spring Festival (gift trade)."""
    out = np.ones(len(days))
    for d in SPRING_FESTIVALS:
        dt = (days - pd.Timestamp(d)).days.to_numpy()
        out += 0.4 * np.exp(-(((dt + 10) / 20.0) ** 2))
    return out


def _latent(rng: np.random.Generator, r: pd.DataFrame, schools: gpd.GeoDataFrame, centre: Point) -> pd.DataFrame:
    """Per-retailer log-rate components of the hidden process."""
    xy = r[["x", "y"]].to_numpy()
    sxy = np.column_stack([schools["x"], schools["y"]])
    d_school = cKDTree(sxy).query(xy)[0]
    hot = np.zeros(len(r))
    for east, north, amp, sigma in HOT_AREAS:
        hx, hy = centre.x + east * 1000, centre.y + north * 1000
        hot += amp * np.exp(-((xy[:, 0] - hx) ** 2 + (xy[:, 1] - hy) ** 2) / (2 * sigma**2))
    comp = pd.DataFrame(
        {
            "log_type": r["business_type"].map(TYPE_EFFECT).to_numpy(),
            "log_class": r["customer_class"].map(CLASS_EFFECT).to_numpy(),
            "log_school": np.where(d_school <= SCHOOL_RADIUS_M, SCHOOL_EFFECT, 0.0),
            "log_hot_area": hot,
            "log_individual": rng.normal(0.0, INDIVIDUAL_SD, len(r)),
        }
    )
    comp["base_rate_per_year"] = BASE_RATE_PER_YEAR * np.exp(comp.sum(axis=1))
    comp["school_distance_m"] = np.round(d_school, 1)
    return comp


def _hot_area_layers(
    xy: np.ndarray, centre: Point, days: pd.DatetimeIndex, areas: tuple[HotArea, ...] = DYNAMIC_HOT_AREAS
) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """A function of the day index giving each retailer's hot-area log-rate bump and network bump."""
    t = (days - days[0]).days.to_numpy(dtype=float)

    def day(text: str, default: float) -> float:
        return float((pd.Timestamp(text) - days[0]).days) if text else default

    profiles, centres = [], []
    for a in areas:
        up = np.interp(t, [day(a.start, -2.0), day(a.full, -1.0)], [0.0, 1.0]) if a.start else np.ones(len(t))
        down = np.interp(t, [day(a.fade_start, 1e9), day(a.fade_end, 1e9 + 1)], [1.0, a.floor])
        profiles.append(a.amp * up * down)
        e1 = a.east_km if a.east_end_km is None else a.east_end_km
        n1 = a.north_km if a.north_end_km is None else a.north_end_km
        frac = t / max(t[-1], 1.0)
        centres.append(
            (
                centre.x + 1000 * (a.east_km + (e1 - a.east_km) * frac),
                centre.y + 1000 * (a.north_km + (n1 - a.north_km) * frac),
            )
        )

    def at(d: int) -> tuple[np.ndarray, np.ndarray]:
        hot, network = np.zeros(len(xy)), np.zeros(len(xy))
        for a, prof, (cx, cy) in zip(areas, profiles, centres, strict=True):
            if prof[d] <= 0:
                continue
            bump = prof[d] * np.exp(-((xy[:, 0] - cx[d]) ** 2 + (xy[:, 1] - cy[d]) ** 2) / (2 * a.sigma_m**2))
            hot += bump
            if a.network:
                network += bump
        return hot, network

    return at


_KINDS = ("counterfeit", "smuggled", "illegal_channel", "unlicensed", "minors", "other")
_KIND_ZH = {
    "counterfeit": "销售假冒卷烟",
    "smuggled": "销售走私卷烟",
    "illegal_channel": "非法渠道购进/跨区销售",
    "unlicensed": "超范围/无证经营",
    "minors": "向未成年人售烟",
    "other": "其他违规",
}


def _simulate_history(
    rng: np.random.Generator,
    r: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    centre: Point,
    history_end: str,
    history_days: int,
    *,
    dynamic: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the hidden process day by day: offences, reports, inspections, visits; then weekly orders.

    ``dynamic=False`` is the first published, stationary process (four fixed hot areas, no
    episodes, no enforcement effect); it draws from ``rng`` exactly as it always did.
    ``dynamic=True`` adds hot areas that emerge, fade and move (:data:`DYNAMIC_HOT_AREAS`),
    offending episodes with order spikes and tip-offs as leading indicators, and deterrence
    after a found violation.
    """
    n = len(r)
    end = pd.Timestamp(history_end)
    days = pd.date_range(end=end, periods=history_days, freq="D")
    n_days = len(days)
    weekday = days.day_of_week.to_numpy()
    lic_day = np.clip((pd.to_datetime(r["licence_date"]) - days[0]).dt.days.to_numpy(), 0, None)
    comp = _latent(rng, r, schools, centre)
    lam = comp["base_rate_per_year"].to_numpy() / 365.0
    season = _season(days)
    if dynamic:  # the hot areas change with time: keep the rest of log λ fixed
        lam_fixed = lam / np.exp(comp["log_hot_area"].to_numpy())
        hot_at = _hot_area_layers(r[["x", "y"]].to_numpy(), centre, days)
        episode_until = np.full(n, -1)
        deter_until = np.full(n, -1)
        cum_hazard = np.zeros((n_days + 1, n), dtype=np.float32)
        network_now = np.zeros(n)
    near_school = comp["log_school"].to_numpy() > 0
    xy = r[["x", "y"]].to_numpy()
    tree = cKDTree(xy)
    sparse = tree.sparse_distance_matrix(tree, NEAR_REPEAT_RADIUS_M, output_type="coo_matrix")
    w = sparse.tocsr()
    w.data = EXCITE_NEIGHBOUR_PER_DAY * (1.0 - w.data / NEAR_REPEAT_RADIUS_M)
    w = w + _diag(n, EXCITE_SELF_PER_DAY)
    decay = np.exp(-1.0 / EXCITE_TAU_DAYS)
    ids = r["retailer_id"].to_numpy()
    cls = r["customer_class"].to_numpy()
    interval = pd.Series(cls).map({"AAA": 60, "AA": 60, "A": 45, "B": 30, "C": 21, "D": 14}).to_numpy(float)
    next_insp = lic_day + (rng.uniform(0, 1, n) * interval).astype(int)
    watch_until = np.full(n, -1)
    active_until = np.full(n, -1)
    active_off = np.full(n, -1)
    excite = np.zeros(n)
    offences: list[dict] = []
    events: list[tuple] = []  # (day, minute, retailer, type, department, outcome, severity, kind, note, offence)
    pending: dict[int, list[tuple]] = {}
    spikes: list[tuple[int, int]] = []  # (retailer, day of the spike week)
    found_after: dict[str, int] = {}  # violations found, by what triggered the inspection

    def minute(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi))

    def schedule(day: int, item: tuple) -> None:
        if day < n_days:
            pending.setdefault(day, []).append(item)

    def working(day: int) -> int:
        while day < n_days and weekday[day] >= 5:
            day += 1
        return day

    for d in range(n_days):
        excite *= decay
        if dynamic:
            hot_now, network_now = hot_at(d)
            lam = lam_fixed * np.exp(hot_now)
            live = d >= lic_day
            starting = np.flatnonzero(live & (episode_until < d) & (rng.random(n) < lam * EPISODE_ENTRY))
            for i in starting:
                episode_until[i] = d + EPISODE_MIN_DAYS + int(rng.exponential(EPISODE_MEAN_EXTRA_DAYS))
                if rng.random() < EPISODE_SPIKE:  # stocking up: a leading indicator in the orders
                    spikes.append((int(i), d + int(rng.integers(0, 21))))
                if rng.random() < EPISODE_TIP_OFF:  # neighbours notice the new trade
                    schedule(d + int(rng.integers(7, 41)), ("tip_off", int(i), -1))
            mult = np.where(episode_until >= d, EPISODE_FACTOR, 1.0) * np.where(deter_until >= d, DETERRENCE, 1.0)
            hazard = (lam * season[d] + excite) * mult * live
            cum_hazard[d + 1] = cum_hazard[d] + hazard
        else:
            hazard = (lam * season[d] + excite) * (d >= lic_day)
        hit = np.flatnonzero(rng.random(n) < -np.expm1(-hazard))
        for i in hit:
            spike = rng.random() < (NETWORK_SPIKE_SHARE if dynamic and network_now[i] > 0.5 else SPIKE_SHARE)
            if dynamic and network_now[i] > 0.5 and rng.random() < 0.8:  # an organised network's goods
                kind = str(rng.choice(["counterfeit", "smuggled", "illegal_channel"], p=[0.5, 0.3, 0.2]))
                if spike:
                    spikes.append((i, d - int(rng.integers(2, 10))))
            elif spike:
                kind = "illegal_channel" if rng.random() < 0.7 else str(rng.choice(["counterfeit", "smuggled"]))
                spikes.append((i, d - int(rng.integers(2, 10))))
            elif near_school[i] and rng.random() < 0.4:
                kind = "minors"
            else:
                kind = str(rng.choice(_KINDS, p=[0.28, 0.12, 0.2, 0.1, 0.15, 0.15]))
            sev = str(rng.choice(["minor", "serious", "criminal"], p=[0.7, 0.25, 0.05]))
            if kind in ("counterfeit", "smuggled") and sev == "minor" and rng.random() < 0.4:
                sev = "serious"
            k = len(offences)
            offences.append({"retailer": i, "day": d, "kind": kind, "severity": sev, "spike": spike, "found": -1})
            active_off[i] = k
            active_until[i] = d + 15 + int(rng.exponential(40))
            if rng.random() < 0.32:  # a neighbour or customer tips the bureau off
                schedule(d + int(rng.integers(0, 7)), ("tip_off", i, k))
            if rng.random() < (0.3 if kind == "illegal_channel" else 0.12):
                schedule(d + int(rng.integers(3, 16)), ("marketing_report", i, k))
            if rng.random() < (0.35 if kind == "minors" else 0.08):
                schedule(d + int(rng.integers(0, 11)), ("complaint", i, k))
        if len(hit):
            excite += np.asarray(w[:, hit].sum(axis=1)).ravel()
        # reports arriving today, and the inspections they trigger
        inspect: list[tuple[int, float, str]] = []  # (retailer, detection probability, reason)
        for item in pending.pop(d, []):
            kind, i = item[0], item[1]
            if kind == "inspect":
                inspect.append((i, item[3], item[4]))
                continue
            k = item[2]
            if kind == "tip_off":
                events.append((d, minute(420, 1320), i, "tip_off", "public", "", "", "", "举报疑似违规售烟", -1))
                schedule(working(d + int(rng.integers(0, 3))), ("inspect", i, k, 0.9, "tip_off"))
            elif kind == "complaint":
                note = "投诉向未成年人售烟" if offences[k]["kind"] == "minors" and k >= 0 else "投诉经营行为"
                events.append((d, minute(480, 1260), i, "complaint", "public", "", "", "", note, -1))
                schedule(working(d + int(rng.integers(1, 4))), ("inspect", i, k, 0.8, "complaint"))
            elif kind == "marketing_report":
                events.append(
                    (d, minute(540, 1050), i, "marketing_report", "marketing", "", "", "", "订货/经营异常", -1)
                )
                if k >= 0 or rng.random() < 0.5:
                    schedule(working(d + int(rng.integers(1, 6))), ("inspect", i, k, 0.7, "joint"))
        if weekday[d] < 5:
            due = np.flatnonzero((next_insp <= d) & (d >= lic_day))
            for i in due:
                inspect.append((int(i), 0.6, "routine"))
                gap = interval[i] if watch_until[i] < d else 14
                next_insp[i] = d + max(7, int(gap * rng.uniform(0.75, 1.25)))
        for i, p_detect, reason in inspect:
            t = minute(540, 1020)
            live = active_off[i] >= 0 and active_until[i] >= d and offences[active_off[i]]["found"] < 0
            if live and rng.random() < p_detect:
                found_after[reason] = found_after.get(reason, 0) + 1
                off = offences[active_off[i]]
                off["found"] = d
                active_until[i] = -1
                events.append((d, t, i, "inspection", "monopoly", "violation", "", "", "", -1))
                events.append(
                    (
                        d,
                        t,
                        i,
                        "violation",
                        "monopoly",
                        "",
                        off["severity"],
                        off["kind"],
                        _KIND_ZH[off["kind"]],
                        active_off[i],
                    )
                )
                watch_until[i] = d + 90
                next_insp[i] = min(next_insp[i], d + 14)
                if dynamic:  # enforcement deters this retailer for a while, and often ends its episode
                    deter_until[i] = d + DETERRENCE_DAYS
                    if rng.random() < EPISODE_END_ON_FOUND:
                        episode_until[i] = min(episode_until[i], d)
            else:
                events.append((d, t, i, "inspection", "monopoly", "ok", "", "", "", -1))
    # wrong reports, so that ~60% of tip-offs, ~25% of complaints and ~50% of marketing reports are correct
    n_wrong = {}
    for kind, reason, share in (
        ("tip_off", "tip_off", 0.55),
        ("complaint", "complaint", 0.22),
        ("marketing_report", "joint", 0.5),
    ):
        n_kind = sum(1 for e in events if e[3] == kind)
        found_n = found_after.get(reason, 0)
        if dynamic:  # a small or short district still gets a few wrong reports of every kind
            found_n = max(found_n, 1)
        n_wrong[kind] = max(0, round(found_n / share) - n_kind)
    # wrong reports lean towards risky-looking shops, but not towards hot areas that do not exist yet
    events += _false_reports(rng, lam_fixed if dynamic else lam, lic_day, weekday, n_days, n_wrong)
    events += _marketing_visits(rng, cls, lic_day, weekday, n_days)
    ev = _events_frame(events, ids, days, rng)
    orders = _orders(rng, r, lic_day, days, spikes)
    truth = comp.copy()
    excite_year = excite * EXCITE_TAU_DAYS * (1 - np.exp(-365.0 / EXCITE_TAU_DAYS))
    if dynamic:  # the state at the end: hot areas, episodes and deterrence as they are on the last day
        hot_end, _ = hot_at(n_days - 1)
        truth["log_hot_area"] = hot_end
        truth["base_rate_per_year"] = lam_fixed * 365.0 * np.exp(hot_end)
        state = np.where(episode_until >= n_days - 1, EPISODE_FACTOR, 1.0)
        state = state * np.where(deter_until >= n_days - 1, DETERRENCE, 1.0)
        excite_year = excite_year * state
        truth["episode_factor_at_end"] = np.where(episode_until >= n_days - 1, EPISODE_FACTOR, 1.0)
        truth["deterred_at_end"] = (deter_until >= n_days - 1).astype(int)
        true_risk = truth["base_rate_per_year"] * season.mean() * state + excite_year
    else:
        true_risk = comp["base_rate_per_year"] * season.mean() + excite_year
    truth.insert(0, "retailer_id", ids)
    truth.insert(1, "true_risk", np.round(true_risk, 5))
    truth["base_rate_per_year"] = truth["base_rate_per_year"].round(5)
    truth["excitation_per_year"] = np.round(excite_year, 5)
    counts = pd.Series([o["retailer"] for o in offences], dtype=int).value_counts()
    found = pd.Series([o["retailer"] for o in offences if o["found"] >= 0], dtype=int).value_counts()
    truth["offences"] = counts.reindex(range(n), fill_value=0).to_numpy()
    truth["violations_found"] = found.reindex(range(n), fill_value=0).to_numpy()
    for c in ("log_type", "log_class", "log_school", "log_hot_area", "log_individual"):
        truth[c] = truth[c].round(4)
    if dynamic:  # the oracle of a backtest at each month start: offences expected in the next 90 days
        for start in pd.date_range(days[0], days[-1], freq="MS"):
            k = (start - days[0]).days
            if k + ORACLE_HORIZON_DAYS <= n_days:
                expected = cum_hazard[k + ORACLE_HORIZON_DAYS] - cum_hazard[k]
                truth[f"expected_90d_{start.date().isoformat()}"] = np.round(expected.astype(float), 5)
    log.info(
        "demo: %d offences, %d found (%.0f%%)",
        len(offences),
        int(truth["violations_found"].sum()),
        100 * truth["violations_found"].sum() / max(1, len(offences)),
    )
    return ev, orders, truth


def _diag(n: int, value: float) -> sparse.csr_matrix:
    return sparse.identity(n, format="csr") * value


def _false_reports(
    rng: np.random.Generator,
    lam: np.ndarray,
    lic_day: np.ndarray,
    weekday: np.ndarray,
    n_days: int,
    n_wrong: dict[str, int],
) -> list[tuple]:
    """Wrong tip-offs (~40% of all), complaints (~75%) and marketing reports (~50%), with follow-up inspections.

    Wrong reports lean mildly towards shops that look risky (probability ~ sqrt of the latent rate)."""
    out: list[tuple] = []
    p = np.sqrt(lam)
    p = p / p.sum()
    for kind, dept, count, note, p_follow in (
        ("tip_off", "public", n_wrong["tip_off"], "举报疑似违规售烟", 1.0),
        ("complaint", "public", n_wrong["complaint"], "投诉经营行为", 0.6),
        ("marketing_report", "marketing", n_wrong["marketing_report"], "订货/经营异常", 0.5),
    ):
        who = rng.choice(len(lam), size=count, p=p)
        for i in who:
            d = int(rng.integers(lic_day[i], n_days)) if lic_day[i] < n_days else n_days - 1
            out.append((d, int(rng.integers(420, 1320)), int(i), kind, dept, "", "", "", note, -1))
            if rng.random() < p_follow:
                di = d + int(rng.integers(0, 3))
                while di < n_days and weekday[di] >= 5:
                    di += 1
                if di < n_days:
                    out.append(
                        (di, int(rng.integers(540, 1020)), int(i), "inspection", "monopoly", "ok", "", "", "", -1)
                    )
    return out


def _marketing_visits(
    rng: np.random.Generator, cls: np.ndarray, lic_day: np.ndarray, weekday: np.ndarray, n_days: int
) -> list[tuple]:
    """Routine customer-manager visits on working days: AAA 4, AA 2, others 1 per month."""
    per_month = pd.Series(cls).map({"AAA": 4.0, "AA": 2.0}).fillna(1.0).to_numpy()
    workdays = np.flatnonzero(weekday < 5)
    out: list[tuple] = []
    for i in range(len(cls)):
        days_i = workdays[workdays >= lic_day[i]]
        if not len(days_i):
            continue
        m = rng.poisson(per_month[i] * len(days_i) / 21.75)
        for d in np.sort(rng.choice(days_i, size=m)):
            out.append((int(d), int(rng.integers(540, 1020)), i, "visit", "marketing", "", "", "", "", -1))
    return out


def _events_frame(
    events: list[tuple], ids: np.ndarray, days: pd.DatetimeIndex, rng: np.random.Generator
) -> pd.DataFrame:
    cols = [
        "day",
        "minute",
        "retailer",
        "type",
        "department",
        "outcome",
        "severity",
        "violation_kind",
        "note",
        "offence",
    ]
    ev = pd.DataFrame(events, columns=cols)
    type_order = {"tip_off": 0, "complaint": 1, "marketing_report": 2, "visit": 3, "inspection": 4, "violation": 5}
    ev["_t"] = ev["type"].map(type_order)
    ev = ev.sort_values(["day", "minute", "retailer", "_t"], kind="stable").reset_index(drop=True)
    ev["event_id"] = [f"E{k + 1:07d}" for k in range(len(ev))]
    stamp = days[ev["day"].to_numpy()] + pd.to_timedelta(ev["minute"].to_numpy(), unit="min")
    ev["time"] = stamp.strftime("%Y-%m-%dT%H:%M")
    ev["retailer_id"] = ids[ev["retailer"].to_numpy()]
    ev["corrects"] = ""
    ev = ev[
        [
            "event_id",
            "retailer_id",
            "time",
            "type",
            "department",
            "outcome",
            "severity",
            "violation_kind",
            "note",
            "corrects",
        ]
    ]
    # a few recorded violations are later corrected (append-only log: the correction is a new event)
    viol = np.flatnonzero(ev["type"].to_numpy() == "violation")
    if len(viol) >= 10:
        fixes = []
        last = pd.Timestamp(days[-1]) + pd.Timedelta(hours=17)
        for k in rng.choice(viol, size=max(1, len(viol) // 100), replace=False):
            row = ev.iloc[k].copy()
            t = pd.Timestamp(row["time"]) + pd.Timedelta(days=int(rng.integers(1, 5)))
            if t > last:
                continue
            row["time"] = t.strftime("%Y-%m-%dT%H:%M")
            row["severity"] = "serious" if row["severity"] == "minor" else "minor"
            row["note"] = f"更正：案件定性调整 ({row['severity']})"
            row["corrects"] = row["event_id"]
            fixes.append(row)
        if fixes:
            extra = pd.DataFrame(fixes)
            extra["event_id"] = [f"E{len(ev) + k + 1:07d}" for k in range(len(extra))]
            ev = pd.concat([ev, extra], ignore_index=True)
    return ev


def _orders(
    rng: np.random.Generator,
    r: pd.DataFrame,
    lic_day: np.ndarray,
    days: pd.DatetimeIndex,
    spikes: list[tuple[int, int]],
) -> pd.DataFrame:
    """Weekly cartons: a baseline by business type and class, noise, the Spring Festival, and spikes
    (before ~40% of offences, and a few harmless ones)."""
    n = len(r)
    mondays = pd.date_range(days[0] - pd.Timedelta(days=days[0].day_of_week), days[-1], freq="W-MON")
    mondays = mondays[mondays >= days[0]]
    n_weeks = len(mondays)
    base = (
        r["business_type"].map(BASE_CARTONS_PER_WEEK).to_numpy()
        * r["customer_class"].map(CLASS_ORDER_FACTOR).to_numpy()
        * rng.lognormal(0.0, 0.35, n)
    )
    fest = np.ones(n_weeks)
    for d in SPRING_FESTIVALS:
        dt = (mondays - pd.Timestamp(d)).days.to_numpy()
        fest += np.select(
            [(dt > -28) & (dt <= -21), (dt > -21) & (dt <= -14), (dt > -14) & (dt <= 0)], [0.15, 0.3, 0.5], 0.0
        )  # the festival ramp before 春节
    cartons = base[:, None] * fest[None, :] * rng.gamma(16.0, 1.0 / 16.0, (n, n_weeks))
    week_of = ((np.array([s[1] for s in spikes], dtype=int) - (mondays[0] - days[0]).days) // 7) if spikes else []
    harmless_r = rng.choice(n, size=n // 10)
    harmless_w = rng.integers(0, n_weeks, size=len(harmless_r))
    for i, wk in [*zip([s[0] for s in spikes], week_of, strict=True), *zip(harmless_r, harmless_w, strict=True)]:
        if 3 <= wk < n_weeks:
            prev = cartons[i, wk - 3 : wk].mean()
            cartons[i, wk] = max(prev * rng.uniform(2.2, 4.0), rng.uniform(21.0, 40.0))
    cartons = np.round(cartons * 2) / 2
    lic_week = np.searchsorted(mondays.to_numpy(), (days[0] + pd.to_timedelta(lic_day, unit="D")).to_numpy())
    ii, ww = np.nonzero(np.arange(n_weeks)[None, :] >= lic_week[:, None])
    return pd.DataFrame(
        {
            "retailer_id": r["retailer_id"].to_numpy()[ii],
            "week": mondays.strftime("%Y-%m-%d").to_numpy()[ww],
            "cartons": cartons[ii, ww].astype(float),
        }
    )


def _district_toml(history_end: str, paths: dict[str, Path]) -> str:
    files = "\n".join(f'{k} = "{paths[k].name}"' for k in FILE_KEYS)
    return f"""# Synthetic demo district generated by `gridmgmt demo-data` (see README.md).
# Only what differs from gridmgmt.config defaults is stated, plus the files.
name = "云岩区 Yunyan District (synthetic demo)"
history_end = "{history_end}"

[files]
{files}

[coords]
retailers = "wgs84"
depots = "wgs84"
schools = "wgs84"

[grids]
count = 12
"""
