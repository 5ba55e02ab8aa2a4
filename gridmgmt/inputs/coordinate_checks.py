"""Checks of lon/lat columns: ranges, swapped columns, boundary, outliers; conversion to WGS-84."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from gridmgmt.coords import WGS84, to_wgs84, utm_epsg
from gridmgmt.inputs.checks import TableCheck

FIELD = "lon/lat"
# Rough box around China (degrees): without a boundary, a point is "plausible" inside it.
_CHINA_BOX = (73.0, 18.0, 135.5, 53.6)
OUTLIER_BEYOND_M = 5000.0
ISOLATED_NN_M = 3000.0
BOUNDARY_BUFFER_M = 200.0


def _plausible(lon: np.ndarray, lat: np.ndarray, coords: str, boundary_m, crs, buffer_m: float) -> np.ndarray:
    """Mask of (lon, lat) pairs that are valid degrees and inside the boundary (+buffer) or China."""
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    result = np.zeros(len(lon), dtype=bool)
    if not valid.any():
        return result
    wlon, wlat = to_wgs84(lon[valid], lat[valid], coords)
    if boundary_m is None:
        x0, y0, x1, y1 = _CHINA_BOX
        inside = (wlon >= x0) & (wlon <= x1) & (wlat >= y0) & (wlat <= y1)
    else:
        points = gpd.GeoSeries(gpd.points_from_xy(wlon, wlat), crs=WGS84).to_crs(crs)
        inside = points.distance(boundary_m).to_numpy() <= buffer_m
    result[valid] = inside
    return result


def check_coordinates(
    check: TableCheck,
    *,
    coords: str = "wgs84",
    boundary=None,
    buffer_m: float = BOUNDARY_BUFFER_M,
    outliers: bool = True,
) -> None:
    """Validate ``lon``/``lat`` of ``check.frame`` in place and convert them to WGS-84.

    Checks, each an error naming the row unless said otherwise:

    * empty or non-numeric values; longitude outside [-180, 180] or latitude outside [-90, 90];
    * swapped columns: (lat, lon) read as (lon, lat) is plausible (inside the boundary plus
      ``buffer_m``, or inside China without a boundary) while (lon, lat) is not;
    * outside the boundary by more than ``buffer_m`` metres (within it: a warning);
    * with ``outliers``, far from all the others: more than 5 km beyond the district's radius
      around the median centre of the points (the radius is the farthest boundary point from
      that centre, or without a boundary three times the median distance of the points to it);
      and, a warning only, isolated: nearest other point farther than 3 km (with 5+ points).

    Declared ``gcj02``/``bd09`` coordinates are converted with :func:`gridmgmt.coords.to_wgs84`;
    afterwards ``lon``/``lat`` are WGS-84 floats (NaN where bad).

    Parameters
    ----------
    boundary
        A GeoDataFrame or GeoSeries of the district (WGS-84), or None.
    buffer_m
        Tolerance outside the boundary, metres.
    """
    frame = check.frame
    if "lon" not in frame.columns or "lat" not in frame.columns:
        return
    check.to_float("lon", what="a longitude in degrees", hint="write decimal degrees, e.g. 106.712345")
    check.to_float("lat", what="a latitude in degrees", hint="write decimal degrees, e.g. 26.578901")
    lon = check.frame["lon"].to_numpy(dtype=float)
    lat = check.frame["lat"].to_numpy(dtype=float)
    region = _Region.of(boundary, buffer_m)
    good = _check_values(check, lon, lat, coords, region)
    if not good.any():
        check.frame.loc[~good, ["lon", "lat"]] = np.nan
        return
    wlon, wlat = _to_wgs84_where(lon, lat, good, coords)
    check.frame["lon"] = wlon
    check.frame["lat"] = wlat
    crs = region.crs or utm_epsg(float(np.median(wlon[good])), float(np.median(wlat[good])))
    x, y = _projected(wlon, wlat, good, crs)
    values = pd.Series([f"{a:.6f}, {b:.6f}" for a, b in zip(wlon, wlat, strict=True)])
    checked = good & ~_check_boundary(check, x, y, good, region, values)
    if outliers and checked.sum() >= 3:
        checked &= ~_check_far(check, x, y, checked, region, values)
        if checked.sum() >= 5:
            _check_isolated(check, x, y, checked, values)


@dataclass(frozen=True)
class _Region:
    """The district boundary in its UTM CRS (metres), or nothing when no boundary is given."""

    shape_m: BaseGeometry | None
    crs: str | None
    buffer_m: float

    @classmethod
    def of(cls, boundary, buffer_m: float) -> _Region:
        if boundary is None or not len(boundary):
            return cls(None, None, buffer_m)
        geoms = gpd.GeoSeries(boundary.geometry if hasattr(boundary, "geometry") else boundary)
        minx, miny, maxx, maxy = geoms.to_crs(WGS84).total_bounds
        crs = utm_epsg((minx + maxx) / 2, (miny + maxy) / 2)
        return cls(geoms.to_crs(crs).union_all(), crs, buffer_m)


def _check_values(check: TableCheck, lon: np.ndarray, lat: np.ndarray, coords: str, region: _Region) -> np.ndarray:
    """Swapped columns, out-of-range degrees and (0, 0); returns the mask of usable rows."""
    frame = check.frame
    present = np.isfinite(lon) & np.isfinite(lat)
    # swapped lon/lat: only where the pair as given is not plausible but reversed it is
    plausible = _plausible(lon, lat, coords, region.shape_m, region.crs, region.buffer_m)
    reversed_ok = _plausible(lat, lon, coords, region.shape_m, region.crs, region.buffer_m)
    swapped = present & ~plausible & reversed_ok
    where = "inside the district boundary" if region.shape_m is not None else "inside China"
    check.add_rows(
        swapped,
        "lon",
        f"lon and lat look swapped: read the other way round the point lies {where}",
        values=pd.Series([f"lon={a:g}, lat={b:g}" for a, b in zip(lon, lat, strict=True)]),
        hint="swap the columns (lon is the east-west value, about 73-135 in China; lat about 18-54)",
    )
    check.bad["lat"] = check.bad.get("lat", pd.Series(False, index=frame.index)) | pd.Series(swapped)
    bad_lon = present & ~swapped & (np.abs(lon) > 180)
    bad_lat = present & ~swapped & (np.abs(lat) > 90)
    check.add_rows(
        bad_lon,
        "lon",
        "longitude out of range [-180, 180]",
        hint="write the east-west coordinate in decimal degrees, e.g. 106.712345",
    )
    check.add_rows(
        bad_lat,
        "lat",
        "latitude out of range [-90, 90]",
        hint="write the north-south coordinate in decimal degrees, e.g. 26.578901",
    )
    zero = present & (lon == 0) & (lat == 0)
    check.add_rows(zero, "lon", "coordinates are 0, 0 (probably missing)", hint="geocode the address")
    return present & ~swapped & ~bad_lon & ~bad_lat & ~zero


def _to_wgs84_where(lon: np.ndarray, lat: np.ndarray, good: np.ndarray, coords: str) -> tuple[np.ndarray, np.ndarray]:
    wlon = np.full(len(lon), np.nan)
    wlat = np.full(len(lat), np.nan)
    wlon[good], wlat[good] = to_wgs84(lon[good], lat[good], coords)
    return wlon, wlat


def _projected(wlon: np.ndarray, wlat: np.ndarray, good: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """x, y in metres in ``crs`` (NaN where not ``good``)."""
    projected = gpd.GeoSeries(gpd.points_from_xy(wlon[good], wlat[good]), crs=WGS84).to_crs(crs)
    x = np.full(len(wlon), np.nan)
    y = np.full(len(wlon), np.nan)
    x[good], y[good] = projected.x.to_numpy(), projected.y.to_numpy()
    return x, y


def _check_boundary(
    check: TableCheck, x: np.ndarray, y: np.ndarray, good: np.ndarray, region: _Region, values: pd.Series
) -> np.ndarray:
    """Errors beyond the boundary's buffer, warnings within it; returns the mask of points outside."""
    if region.shape_m is None:
        return np.zeros(len(x), dtype=bool)
    dist = np.full(len(x), np.nan)
    dist[good] = gpd.GeoSeries(gpd.points_from_xy(x[good], y[good])).distance(region.shape_m).to_numpy()
    outside = good & (dist > region.buffer_m)
    near = good & (dist > 0) & (dist <= region.buffer_m)
    check.add_rows(
        outside,
        FIELD,
        "outside the district boundary",
        values=values,
        messages=pd.Series([f"outside the district boundary by {d:,.0f} m" for d in dist]),
        hint=f"check the coordinates (and --coords: wgs84, gcj02 or bd09); up to {region.buffer_m:g} m "
        "outside is tolerated",
    )
    check.add_rows(
        near,
        FIELD,
        "near the boundary edge",
        values=values,
        messages=pd.Series([f"just outside the district boundary by {d:,.0f} m (tolerated)" for d in dist]),
        severity="warning",
        hint="check that the shop belongs to this district",
    )
    return outside


def _check_far(
    check: TableCheck, x: np.ndarray, y: np.ndarray, checked: np.ndarray, region: _Region, values: pd.Series
) -> np.ndarray:
    """Points far beyond the district's radius around the median centre; returns their mask."""
    cx, cy = np.median(x[checked]), np.median(y[checked])
    d = np.hypot(x - cx, y - cy)
    shape = region.shape_m
    if shape is not None:
        ring = shapely.get_coordinates(shape.convex_hull) if shape.geom_type != "Point" else None
        radius = float(np.max(np.hypot(ring[:, 0] - cx, ring[:, 1] - cy))) if ring is not None else 0.0
    else:
        radius = 3.0 * float(np.median(d[checked]))
    far = checked & (d > radius + OUTLIER_BEYOND_M)
    check.add_rows(
        far,
        FIELD,
        "far from all the other points",
        values=values,
        messages=pd.Series([f"far from all the other points: {v / 1000:,.1f} km from their median centre" for v in d]),
        hint="check the coordinates: a typo in a digit or a wrong coordinate system",
    )
    return far


def _check_isolated(check: TableCheck, x: np.ndarray, y: np.ndarray, checked: np.ndarray, values: pd.Series) -> None:
    """A warning for each point whose nearest other point is farther than ISOLATED_NN_M."""
    xy = np.column_stack([x[checked], y[checked]])
    nn, _ = cKDTree(xy).query(xy, k=2)
    nn_all = np.full(len(x), np.nan)
    nn_all[checked] = np.asarray(nn)[:, 1]
    check.add_rows(
        checked & (nn_all > ISOLATED_NN_M),
        FIELD,
        "isolated point",
        values=values,
        messages=pd.Series([f"isolated: the nearest other point is {v / 1000:,.1f} km away" for v in nn_all]),
        severity="warning",
        hint="check the coordinates if the shop is not really that remote",
    )
