"""The demo's population: schools, licensed retailers, depots and staff, placed beside its streets."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.prepared
from scipy.spatial import cKDTree
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmgmt.demo.geography import TO_WGS, UTM_CRS, offset, subdistrict_of
from gridmgmt.demo.roads import PLACE_WORDS, Roads

BUSINESS_SHARES = {"grocery": 0.45, "convenience": 0.25, "supermarket": 0.10, "mall": 0.02,
                   "tobacco_liquor": 0.10, "entertainment": 0.05, "other": 0.03}  # fmt: skip
CLASS_SHARES = {"AAA": 0.01, "AA": 0.07, "A": 0.89, "B": 0.02, "C": 0.007, "D": 0.003}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林郑梁谢唐韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶程魏苏吕丁任卢姚"
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


def points_beside(
    rng: np.random.Generator,
    geoms: np.ndarray,
    names: np.ndarray,
    weights: np.ndarray,
    n: int,
    allowed: BaseGeometry,
    offset_m: tuple[float, float] = (5.0, 15.0),
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points beside streets (street drawn with probability ~ ``weights``), inside ``allowed``.

    Parameters
    ----------
    rng
        Random stream (advanced).
    geoms, names, weights
        Street lines (UTM, m), their names and their drawing weights.
    n
        Number of points.
    allowed
        Area the points must lie in (UTM).
    offset_m
        Range of the distance from the street, m.

    Returns
    -------
    tuple of numpy.ndarray
        ``(n, 2)`` UTM coordinates (m) and the name of each point's street.
    """
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


def place_schools(
    rng: np.random.Generator, roads: Roads, old: Polygon, area: Polygon, park: BaseGeometry
) -> gpd.GeoDataFrame:
    """~40 schools beside streets, about 60% in the old town."""
    ways = roads.ways
    allowed = shapely.difference(area, park)
    w = ways.length.to_numpy() * np.where(ways["zone"] == "old", 4.0, 1.0)
    w = w * (ways["highway"] != "trunk")
    xy, _ = points_beside(rng, ways.geometry.to_numpy(), ways["name"].to_numpy(), w, 40, allowed, (20.0, 40.0))
    kinds = ["小学"] * 22 + ["中学"] * 12 + ["幼儿园"] * 6
    kinds = list(rng.permutation(kinds))
    words = list(rng.permutation(PLACE_WORDS))
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


def retailer_attributes(rng: np.random.Generator, n: int, used_ids: set[str]) -> pd.DataFrame:
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


def place_retailers(
    rng: np.random.Generator,
    roads: Roads,
    n: int,
    old: Polygon,
    area: Polygon,
    park: BaseGeometry,
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
    xy, street = points_beside(rng, ways.geometry.to_numpy(), ways["name"].to_numpy(), weight, n - n_school, allowed)
    # a few shops right next to schools (the street nearest each chosen school)
    tree = shapely.STRtree(ways.geometry.to_numpy())
    sch_xy, sch_street = [], []
    for k in range(n_school):
        s = schools.geometry.iloc[k % len(schools)]
        near = tree.query(s, predicate="dwithin", distance=80.0)
        if len(near) == 0:
            near = np.array([tree.nearest(s)])
        p, st = points_beside(
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
    attrs = retailer_attributes(rng, n, set())
    attrs["retailer_id"] = sorted(attrs["retailer_id"])  # licence numbers ascend from south to north
    hostile = rng.choice(n, size=min(3, n), replace=False)
    for h, text in zip(hostile, _HOSTILE_NAMES, strict=False):
        attrs.loc[h, "name"] = text
    lon, lat = TO_WGS.transform(xy[:, 0], xy[:, 1])
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
            "subdistrict": subdistrict_of(pts, subs),
            "licence_date": lic,
            "grid_id": "",
        }
    )
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    frame["zone"] = np.where(shapely.contains_xy(old, xy[:, 0], xy[:, 1]), "old", "new")
    return frame


def place_depots(roads: Roads, centre: Point, *, scale: float = 1.0) -> pd.DataFrame:
    """The bureau office near 喷水池 and the east and west stations, each on a street node.

    ``scale`` multiplies the stations' offsets from the centre (1 = Yunyan).
    """
    want = [
        ("D1", "云岩区烟草专卖局 (Yunyan Tobacco Monopoly Bureau)", offset(centre, 0.35 * scale, 0.45 * scale)),
        ("D2", "渔安管理站 (East station, Yu'an)", offset(centre, 5.4 * scale, 2.5 * scale)),
        ("D3", "三桥管理站 (West station, Sanqiao)", offset(centre, -5.0 * scale, 0.2 * scale)),
    ]
    tree = cKDTree(roads.nodes)
    rows = []
    for did, name, p in want:
        _, k = tree.query([p.x, p.y])
        lon, lat = TO_WGS.transform(*roads.nodes[k])
        rows.append({"depot_id": did, "name": name, "lon": round(lon, 6), "lat": round(lat, 6)})
    return pd.DataFrame(rows)


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    names: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        nm = rng.choice(list(_SURNAMES)) + "".join(rng.choice(list(_GIVEN), size=rng.integers(1, 3)))
        if nm not in names:
            names.add(nm)
            out.append(nm)
    return out


def make_staff(rng: np.random.Generator) -> pd.DataFrame:
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
