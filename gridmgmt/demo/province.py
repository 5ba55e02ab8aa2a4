"""The synthetic province: N demo districts tiling a province-like area around Guiyang.

The province is a lattice of quadrilateral tiles whose sides grow away from the capital, with
shared, jittered corners (so the districts tile it exactly); the N tiles nearest the capital
are kept. The nearest quarter are dense city districts, the next two fifths ordinary
districts, the rest sparse rural counties (small county town, large area): retailers per km2
differ by 20x or more between a city district and a county. Each tile becomes a complete
district folder written by :func:`gridmgmt.demo.generate_demo` (its boundary, a centre, a
layout scale and an old-town share), with its own seed drawn from the province seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, Polygon

from gridmgmt import io
from gridmgmt.demo import generate_demo
from gridmgmt.demo.geography import CENTRE_LONLAT, TO_UTM, UTM_CRS, to_wgs

__all__ = ["KINDS", "DistrictKind", "generate_province", "province_layout"]

log = logging.getLogger(__name__)

#: Half the spread of the Yunyan subdistrict seeds around 喷水池 (east, north km) and its middle:
#: a tile's layout scale fits this box inside the tile.
_SEED_HALF_KM = (7.2, 4.8)
_SEED_MID_KM = (-1.6, 4.4)


@dataclass(frozen=True)
class DistrictKind:
    """A kind of district: its share of the tiles, retailers relative to the mean, old-town share."""

    name: str
    label_zh: str
    share: float
    retailer_factor: float
    old_town_share: float


#: City districts nearest the capital, then ordinary districts, then rural counties.
KINDS: tuple[DistrictKind, ...] = (
    DistrictKind("city", "城区", 0.25, 2.0, 0.20),
    DistrictKind("ordinary", "区", 0.40, 0.95, 0.12),
    DistrictKind("rural", "县", 0.35, 0.34, 0.05),
)
_STEMS = "云岩 南明 观山 白云 乌当 花溪 清镇 修文 息烽 开阳 龙里 贵定 惠水 长顺 平坝 西秀 普定 镇宁 关岭 紫云 黔西 织金 纳雍 金沙 大方 瓮安 福泉 麻江 都匀 独山 平塘 罗甸 三都 荔波 丹寨 雷山 凯里 黄平 施秉 余庆"  # noqa: E501
_STEMS_EN = (
    "Yunyan Nanming Guanshan Baiyun Wudang Huaxi Qingzhen Xiuwen Xifeng Kaiyang Longli Guiding Huishui Changshun "
    "Pingba Xixiu Puding Zhenning Guanling Ziyun Qianxi Zhijin Nayong Jinsha Dafang Weng'an Fuquan Majiang Duyun "
    "Dushan Pingtang Luodian Sandu Libo Danzhai Leishan Kaili Huangping Shibing Yuqing"
)


def _sizes(n: int, base_km: float, growth: float, cap: float) -> np.ndarray:
    """Side lengths (km) of ``n`` lattice columns (or rows): ``base_km`` in the middle, growing outwards."""
    d = np.abs(np.arange(n) - (n - 1) / 2)
    return base_km * np.minimum(growth**d, cap)


def province_layout(
    n_districts: int,
    *,
    retailers_per_district: int = 7500,
    seed: int = 7,
    base_km: float = 7.0,
    growth: float = 1.4,
    jitter: float = 0.15,
) -> gpd.GeoDataFrame:
    """The province's districts: tiles, kinds, retailer counts and generator settings (no files).

    Parameters
    ----------
    n_districts
        Number of districts N (at least 1).
    retailers_per_district
        Mean retailers per district; the province holds about N times this many.
    seed
        Seed of the tile corners' jitter and of every district's generator.
    base_km
        Side of the tiles at the capital, km; tiles grow by ``growth`` per step outwards (at most 4x).
    jitter
        Random shift of each inner tile corner, as a share of the neighbouring tile sides.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per district, nearest the capital first, in UTM 48N (m): ``district`` (folder
        name), ``name``, ``kind``, ``n_retailers``, ``area_km2``, ``retailers_per_km2``,
        ``old_town_share``, ``scale``, ``centre_lon``, ``centre_lat``, ``seed``, geometry.
    """
    if n_districts < 1:
        raise ValueError(f"a province needs at least one district, not {n_districts}")
    cols = math.ceil(math.sqrt(1.6 * n_districts))
    rows = math.ceil(n_districts / cols)
    widths, heights = _sizes(cols, base_km, growth, 4.0), _sizes(rows, base_km, growth, 4.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 15]))
    xs = np.concatenate([[0.0], np.cumsum(widths)]) - widths.sum() / 2
    ys = np.concatenate([[0.0], np.cumsum(heights)]) - heights.sum() / 2
    gx, gy = np.meshgrid(xs, ys)  # corners, rows follow y (km from the capital)
    for j in range(1, rows):
        for i in range(1, cols):
            gx[j, i] += rng.uniform(-jitter, jitter) * min(widths[i - 1], widths[i])
            gy[j, i] += rng.uniform(-jitter, jitter) * min(heights[j - 1], heights[j])
    capital = Point(TO_UTM.transform(*CENTRE_LONLAT))
    tiles = []
    for j in range(rows):
        for i in range(cols):
            ring = [(gx[j, i], gy[j, i]), (gx[j, i + 1], gy[j, i + 1]), (gx[j + 1, i + 1], gy[j + 1, i + 1])]
            ring.append((gx[j + 1, i], gy[j + 1, i]))
            poly = Polygon([(capital.x + 1000 * x, capital.y + 1000 * y) for x, y in ring])
            mid = ((i + 0.5 - cols / 2) / cols, (j + 0.5 - rows / 2) / rows)
            tiles.append((math.hypot(*mid), j * cols + i, poly, widths[i], heights[j]))
    tiles.sort(key=lambda t: (round(t[0], 9), t[1]))
    tiles = tiles[:n_districts]

    kinds: list[DistrictKind] = []
    for k in KINDS[:-1]:
        kinds += [k] * round(k.share * n_districts)
    kinds = (kinds + [KINDS[-1]] * n_districts)[:n_districts]
    factors = np.array([k.retailer_factor for k in kinds])
    counts = np.maximum(np.round(retailers_per_district * factors * n_districts / factors.sum()), 50).astype(int)
    stems, stems_en = _STEMS.split(), _STEMS_EN.split()
    seeds = np.random.SeedSequence([seed, 16]).generate_state(n_districts)
    records = []
    for idx, ((_, _, poly, w, h), kind, count) in enumerate(zip(tiles, kinds, counts, strict=True)):
        scale = min(0.85 * w / 2 / _SEED_HALF_KM[0], 0.85 * h / 2 / _SEED_HALF_KM[1])
        c = poly.centroid
        centre_lon, centre_lat = (
            to_wgs(
                gpd.GeoDataFrame(
                    geometry=[Point(c.x - _SEED_MID_KM[0] * 1000 * scale, c.y - _SEED_MID_KM[1] * 1000 * scale)],
                    crs=UTM_CRS,
                )
            )
            .geometry.iloc[0]
            .coords[0]
        )
        stem = stems[idx % len(stems)] + ("" if idx < len(stems) else str(idx // len(stems) + 1))
        stem_en = stems_en[idx % len(stems)] + ("" if idx < len(stems) else str(idx // len(stems) + 1))
        suffix = "县" if kind.name == "rural" else "区"
        records.append(
            {
                "district": f"d{idx + 1:02d}_{kind.name}",
                "name": f"{stem}{suffix} {stem_en} {'County' if kind.name == 'rural' else 'District'} (synthetic)",
                "kind": kind.name,
                "n_retailers": int(count),
                "area_km2": round(poly.area / 1e6, 2),
                "retailers_per_km2": round(count / (poly.area / 1e6), 2),
                "old_town_share": kind.old_town_share,
                "scale": round(scale, 4),
                "centre_lon": round(centre_lon, 6),
                "centre_lat": round(centre_lat, 6),
                "seed": int(seeds[idx]),
                "geometry": poly,
            }
        )
    return gpd.GeoDataFrame(records, geometry="geometry", crs=UTM_CRS)


def generate_province(
    out_dir: str | Path,
    n_districts: int,
    *,
    retailers_per_district: int = 7500,
    seed: int = 7,
    history_end: str = "2026-11-30",
    history_days: int = 730,
    base_km: float = 7.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Path]:
    """Write a synthetic province: one district folder per tile plus ``province.csv`` and ``province.geojson``.

    Parameters
    ----------
    out_dir
        Folder to write into; district ``dNN_<kind>`` goes to ``out_dir/dNN_<kind>/``.
    n_districts
        Number of districts N; the defaults give about 7,500 x N retailers (300,000 for N = 40).
    retailers_per_district
        Mean retailers per district (see :func:`province_layout`).
    seed
        Province seed: the same seed gives byte-identical folders.
    history_end, history_days
        The event and order history of every district (see :func:`gridmgmt.demo.generate_demo`).
    base_km
        Side of the tiles at the capital, km (smaller gives smaller road networks, e.g. in tests).
    progress
        Called with (districts done, N, district folder) after each district.

    Returns
    -------
    dict of str to Path
        Each district's ``district.toml`` by folder name, plus ``province`` (the CSV) and
        ``outline`` (the GeoJSON of the district tiles).
    """
    out = Path(out_dir)
    layout = province_layout(n_districts, retailers_per_district=retailers_per_district, seed=seed, base_km=base_km)
    paths: dict[str, Path] = {}
    tiles = to_wgs(layout[["district", "name", "kind", "n_retailers", "geometry"]])
    paths["outline"] = io.write_vector(tiles, out / "province.geojson")
    paths["province"] = io.write_csv(pd.DataFrame(layout.drop(columns="geometry")), out / "province.csv")
    for k, row in enumerate(layout.itertuples(index=False)):
        folder = out / row.district
        folder.mkdir(parents=True, exist_ok=True)
        io.write_vector(tiles.iloc[[k]][["name", "geometry"]].reset_index(drop=True), folder / "boundary.geojson")
        files = generate_demo(
            folder,
            seed=row.seed,
            n_retailers=row.n_retailers,
            history_end=history_end,
            history_days=history_days,
            centre=(row.centre_lon, row.centre_lat),
            scale=row.scale,
            old_town_share=row.old_town_share,
            name=row.name,
        )
        paths[row.district] = files["district"]
        log.info("province: %s (%s), %d retailers, %.0f km2", row.district, row.kind, row.n_retailers, row.area_km2)
        if progress is not None:
            progress(k + 1, len(layout), row.district)
    return paths
