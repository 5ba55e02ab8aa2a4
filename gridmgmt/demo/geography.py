"""Geography of the demo district: projections, the 黔灵山 park, the old town and the 18 subdistricts.

Geometry is built in UTM zone 48N (EPSG:32648, metres) and written in WGS-84. Only the
boundary is real (data/demo/boundary.geojson).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import shapely.ops
from pyproj import Transformer
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmgmt.coords import WGS84

UTM_CRS = "EPSG:32648"
#: WGS-84 (lon, lat) -> UTM 48N metres, and back.
TO_UTM = Transformer.from_crs(WGS84, UTM_CRS, always_xy=True)
TO_WGS = Transformer.from_crs(UTM_CRS, WGS84, always_xy=True)

#: 喷水池, the old town centre (lon, lat), and the centre of 黔灵山 park.
CENTRE_LONLAT = (106.7100, 26.5848)
PARK_LONLAT = (106.6950, 26.6000)
#: The committed district boundary (WGS-84 GeoJSON), found relative to the repository.
REPO_BOUNDARY = Path(__file__).resolve().parents[2] / "data" / "demo" / "boundary.geojson"

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


def offset(centre: Point, east_km: float, north_km: float) -> Point:
    """The UTM point ``east_km`` east and ``north_km`` north of ``centre`` (km; negative: west/south)."""
    return Point(centre.x + east_km * 1000.0, centre.y + north_km * 1000.0)


def make_zones(
    area: Polygon,
    centre: Point,
    *,
    park_centre: Point | None = None,
    old_town_share: float = 0.2,
    scale: float = 1.0,
) -> tuple[BaseGeometry, Polygon]:
    """黔灵山 park (~3 km2) and the old town (~a fifth of the district around 喷水池, without the park).

    ``park_centre`` (UTM; default 黔灵山) places the park, ``old_town_share`` is the old town's
    share of the district's area and ``scale`` multiplies the park's size and the old town's
    radius search range (a district other than Yunyan, e.g. in a synthetic province).
    """
    pc = park_centre if park_centre is not None else Point(TO_UTM.transform(*PARK_LONLAT))
    theta = np.linspace(0, 2 * np.pi, 73)[:-1]
    r = 1.0 + 0.10 * np.sin(3 * theta + 0.4) + 0.05 * np.cos(5 * theta)
    blob = Polygon(np.column_stack([pc.x + 1150 * scale * r * np.cos(theta), pc.y + 850 * scale * r * np.sin(theta)]))
    park = shapely.intersection(blob, area)
    rr = 1.0 + 0.12 * np.sin(2 * theta + 0.8) + 0.06 * np.sin(3 * theta + 2.0)

    def old_town(radius: float) -> BaseGeometry:
        blob = Polygon(
            np.column_stack([centre.x + radius * rr * np.cos(theta), centre.y + radius * rr * np.sin(theta)])
        )
        return shapely.difference(shapely.intersection(blob, area), park)

    lo, hi = 1000.0 * scale, 6000.0 * scale
    for _ in range(30):  # bisection: old town = old_town_share (20%) of the district
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if old_town(mid).area < old_town_share * area.area else (lo, mid)
    old = _largest(old_town((lo + hi) / 2))
    return park, old


def _largest(geom: BaseGeometry) -> Polygon:
    parts = list(getattr(geom, "geoms", [geom]))
    return max(parts, key=lambda g: g.area)


def make_subdistricts(area: Polygon, centre: Point, old: Polygon, *, scale: float = 1.0) -> gpd.GeoDataFrame:
    """Voronoi cells of the 18 seed points, clipped to the district; stray fragments merged into neighbours.

    ``scale`` multiplies the seed points' offsets from the centre (1 = Yunyan).
    """
    inner = area.buffer(-300)
    seeds = []
    for _, _, east, north in SUBDISTRICTS:
        p = offset(centre, east * scale, north * scale)
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


def to_wgs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` in WGS-84 with coordinates rounded to 1e-7 degrees (about 1 cm), for stable files."""
    out = frame.to_crs(WGS84)
    out.geometry = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    return out


def subdistrict_of(points: gpd.GeoSeries, subs: gpd.GeoDataFrame) -> np.ndarray:
    """Name of the subdistrict holding each point (nearest one for points on an edge)."""
    idx = np.full(len(points), -1)
    tree = shapely.STRtree(subs.geometry.to_numpy())
    pi, si = tree.query(points.to_numpy(), predicate="within")
    idx[pi] = si
    missing = np.flatnonzero(idx < 0)
    if len(missing):
        idx[missing] = tree.nearest(points.to_numpy()[missing])
    return subs["name_zh"].to_numpy()[idx]
