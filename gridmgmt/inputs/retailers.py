"""Retailer tables: load, validate and convert to WGS-84 points.

A retailer table is CSV (UTF-8, UTF-8 with BOM or GBK), GeoJSON, GeoPackage or Parquet
with the columns of the data contract (see ``docs``/DESIGN): ``retailer_id``, ``name``,
``address``, ``lon``, ``lat``, ``business_type``, ``customer_class``, ``open_time``,
``close_time``, ``subdistrict``, ``licence_date`` and optional ``grid_id``. Common Chinese
and English header names (经度, longitude, 许可证号, 业态, ...) are read as the canonical
names, and Chinese business-type labels (食杂店, 便利店, ...) as the English codes.
Extra columns are kept unchanged. Names and addresses are data: they are kept byte for
byte, including any HTML in them (maps escape them when they show them).
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import BUSINESS_TYPES, CUSTOMER_CLASSES
from gridmgmt.coords import COORD_SYSTEMS, WGS84
from gridmgmt.inputs.checks import TableCheck
from gridmgmt.inputs.coordinate_checks import check_coordinates

log = logging.getLogger(__name__)

REQUIRED = ("retailer_id", "name", "lon", "lat")
OPTIONAL = {"address": "", "subdistrict": "", "licence_date": "", "grid_id": ""}
# A bare licence list (id, name, position) is enough to start; these columns are assumed when absent.
ASSUMED = {"business_type": "other", "customer_class": "C", "open_time": "08:00", "close_time": "21:00"}

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "retailer_id": (
        "许可证号",
        "专卖许可证号",
        "许可证编号",
        "license_no",
        "licence_no",
        "license_number",
        "licence_number",
        "license_id",
        "licence_id",
        "id",
    ),
    "name": ("名称", "店名", "客户名称", "零售户名称", "店铺名称", "shop_name", "store_name"),
    "address": ("地址", "经营地址", "详细地址", "addr"),
    "lon": ("longitude", "lng", "long", "经度", "x"),
    "lat": ("latitude", "纬度", "y"),
    "business_type": ("业态", "经营业态", "type", "business"),
    "customer_class": ("档位", "客户档位", "class", "grade"),
    "open_time": ("营业开始", "开门时间", "open"),
    "close_time": ("营业结束", "关门时间", "close"),
    "subdistrict": ("街道", "所属街道", "street"),
    "licence_date": ("发证日期", "license_date", "issue_date"),
    "grid_id": ("网格", "网格编号", "grid"),
}

BUSINESS_TYPE_LABELS = {
    "食杂店": "grocery",
    "便利店": "convenience",
    "超市": "supermarket",
    "商场": "mall",
    "烟酒商店": "tobacco_liquor",
    "烟酒店": "tobacco_liquor",
    "娱乐服务类": "entertainment",
    "其他": "other",
    "tobacco liquor": "tobacco_liquor",
    "tobacco-liquor": "tobacco_liquor",
}

_TEXT_FIELDS = (
    "retailer_id",
    "business_type",
    "customer_class",
    "open_time",
    "close_time",
    "subdistrict",
    "licence_date",
    "grid_id",
)


def load_retailers(
    path: str | os.PathLike,
    *,
    coords: str = "wgs84",
    boundary: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate a retailer table; return WGS-84 points.

    Parameters
    ----------
    path
        CSV (.csv, .csv.gz), GeoJSON, GeoPackage or Parquet file.
    coords
        Coordinate system of ``lon``/``lat`` in the file: ``wgs84``, ``gcj02`` (Amap, Tencent)
        or ``bd09`` (Baidu); converted to WGS-84 on load.
    boundary
        District boundary (WGS-84); retailers more than 200 m outside it are errors.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per retailer in file order, ``EPSG:4326`` point geometry; ``lon``/``lat``
        floats (degrees, WGS-84), ``open_time``/``close_time`` ``HH:MM`` text, ``licence_date``
        ``YYYY-MM-DD`` or '', ``grid_id`` nullable ``Int64``; extra columns kept.

    Raises
    ------
    InputError
        Listing every error found (warnings are logged).
    """
    from gridmgmt.io import read_table

    frame = read_table(path)
    retailers, problems = check_retailers(frame, file=str(path), coords=coords, boundary=boundary)
    _raise_or_log(problems)
    return retailers


def check_retailers(
    frame: pd.DataFrame,
    *,
    file: str | os.PathLike = "retailers",
    coords: str = "wgs84",
    boundary: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Validate a raw retailer table (as read by :func:`gridmgmt.io.read_table`) and convert it.

    Collects every problem instead of stopping at the first: missing columns (with
    suggestions), empty or non-numeric coordinates, swapped lon/lat, points outside the
    boundary or far from all the others, duplicate ids, bad times and dates, unknown
    categories. Rows with errors are kept (bad cells become NaN or ''), so callers that only
    report can count them.

    Returns
    -------
    (GeoDataFrame, list of Problem)
        The converted table and every problem (errors, warnings and info notes).
    """
    coords = (coords or "wgs84").lower().replace("-", "")
    file = str(Path(file)) if not isinstance(file, str) else file
    check = TableCheck(frame, file)
    if coords not in COORD_SYSTEMS:
        check.add(
            "unknown coordinate system", field="coords", value=coords, hint=f"use one of {', '.join(COORD_SYSTEMS)}"
        )
        coords = "wgs84"
    check.rename_aliases(COLUMN_ALIASES)
    missing = check.require_columns(REQUIRED, aliases=COLUMN_ALIASES)
    _assume_absent_columns(check)
    if not check.not_empty() or missing:
        return _empty_geoframe(check.frame), check.problems
    check.add_missing(OPTIONAL)
    check.trim(*_TEXT_FIELDS)
    check.required_values("retailer_id", hint="every retailer needs its licence number")
    check.unique("retailer_id", what="retailer_id")
    check_coordinates(check, coords=coords, boundary=boundary)
    check.categories("business_type", BUSINESS_TYPES, aliases=BUSINESS_TYPE_LABELS)
    check.categories("customer_class", CUSTOMER_CLASSES, case="upper")
    check.to_time("open_time")
    check.to_time("close_time", allow_24=True)
    check.to_date("licence_date")
    check.to_int("grid_id", minimum=1)
    retailers = _to_geoframe(check.frame)
    n_err = sum(p.severity == "error" for p in check.problems)
    log.debug("%s: %d retailers, %d errors", file, len(retailers), n_err)
    return retailers, check.problems


def _assume_absent_columns(check: TableCheck) -> None:
    """Fill each absent ``ASSUMED`` column with its default and say so (a warning per column)."""
    for column, default in ASSUMED.items():
        if column in check.frame.columns:
            continue
        close = difflib.get_close_matches(column, [str(c) for c in check.frame.columns], n=1, cutoff=0.8)
        check.frame[column] = default
        check.add(
            f"column absent: every retailer taken as {default!r}",
            field=column,
            severity="warning",
            hint=f"rename column {close[0]!r} to {column!r}"
            if close
            else f"add a {column} column for better workload and risk estimates",
        )


def _to_geoframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    frame = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=WGS84)


def _empty_geoframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    columns = list(dict.fromkeys([*REQUIRED, *OPTIONAL, *frame.columns]))
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns if c != "geometry"})
    return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _raise_or_log(problems: list[Problem]) -> None:
    """Raise InputError if any problem is an error; log warnings and notes.

    Absent assumed columns are one warning line here (every command loads the retailers);
    ``gridmgmt validate`` and ``init`` list them one by one with their fix.
    """
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
    assumed = [p for p in problems if p.field in ASSUMED and p.message.startswith("column absent")]
    if assumed:
        log.warning(
            "%s: no %s column: defaults assumed (gridmgmt validate says more)",
            assumed[0].file,
            ", ".join(str(p.field) for p in assumed),
        )
    for p in problems:
        if p not in assumed:
            (log.warning if p.severity == "warning" else log.info)("%s", p)
