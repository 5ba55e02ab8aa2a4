"""The smaller input tables: district boundary, depots, staff, weekly orders and point layers (schools).

Each ``load_*`` reads one file with :mod:`gridmgmt.io`, validates it with
:mod:`gridmgmt.inputs.checks` (every problem collected, each naming file, row and field) and
raises :class:`~gridmgmt._errors.InputError` when any is an error; each ``check_*`` does the
same on a frame already read and returns the problems instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import geopandas as gpd
import pandas as pd
import shapely

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES, minutes_of_day
from gridmgmt.coords import WGS84
from gridmgmt.inputs.checks import TableCheck
from gridmgmt.inputs.coordinate_checks import check_coordinates
from gridmgmt.vocab import DEPARTMENT_ALIASES, STAFF_DEPARTMENTS

log = logging.getLogger(__name__)

_TRAVEL_LABELS = {"步行": "walk", "电动车": "ebike", "e-bike": "ebike", "汽车": "car", "驾车": "car"}
_POINT_ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("longitude", "lng", "经度"),
    "lat": ("latitude", "纬度"),
    "name": ("名称",),
}


def _finish(problems: list[Problem]) -> None:
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
    for p in problems:
        (log.warning if p.severity == "warning" else log.info)("%s", p)


# -- boundary ---------------------------------------------------------------------------------


def load_boundary(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Read the district boundary as one (multi)polygon in WGS-84.

    Several features are merged (their union); invalid rings are repaired with
    :func:`shapely.make_valid`. A file without a CRS is taken as WGS-84 when its
    coordinates look like degrees.

    Returns
    -------
    geopandas.GeoDataFrame
        One row, ``EPSG:4326``, Polygon or MultiPolygon geometry.

    Raises
    ------
    InputError
        When the file is missing, empty, not polygonal, or has no usable CRS.
    """
    from gridmgmt.io import read_vector

    file = str(path)
    frame = read_vector(path)
    return check_boundary(frame, file=file)


def check_boundary(frame: gpd.GeoDataFrame, *, file: str = "boundary") -> gpd.GeoDataFrame:
    """Turn a polygon layer into the one-row WGS-84 boundary (see :func:`load_boundary`)."""
    geoms = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if len(geoms) == 0:
        raise InputError(
            Problem(file=file, message="the boundary has no geometry", hint="export the district polygon again")
        )
    kinds = sorted(set(geoms.geom_type))
    if any(k not in ("Polygon", "MultiPolygon") for k in kinds):
        raise InputError(
            Problem(
                file=file,
                field="geometry",
                value=", ".join(kinds),
                message="the boundary must be a polygon",
                hint="use the district's area (Polygon or MultiPolygon), not its outline or points",
            )
        )
    if frame.crs is None:
        minx, miny, maxx, maxy = geoms.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise InputError(
                Problem(
                    file=file,
                    message="the boundary has no coordinate reference system",
                    hint="save it with its CRS (WGS-84, EPSG:4326)",
                )
            )
        geoms = geoms.set_crs(WGS84)
    else:
        geoms = geoms.to_crs(WGS84)
    merged = shapely.make_valid(shapely.union_all(shapely.make_valid(geoms.to_numpy())))
    if isinstance(merged, shapely.GeometryCollection):
        merged = shapely.union_all([g for g in merged.geoms if g.geom_type in ("Polygon", "MultiPolygon")])
    if merged.is_empty or merged.area == 0:
        raise InputError(
            Problem(file=file, message="the boundary polygon is empty", hint="export the district polygon again")
        )
    return gpd.GeoDataFrame({"name": [_first_name(frame)]}, geometry=[merged], crs=WGS84)


def _first_name(frame: pd.DataFrame) -> str:
    for column in ("name", "name_zh", "NAME"):
        if column in frame.columns and len(frame):
            return str(frame[column].iloc[0])
    return ""


# -- depots and other point layers -----------------------------------------------------------


def load_depots(path: str | os.PathLike, *, coords: str = "wgs84") -> gpd.GeoDataFrame:
    """Read depots (``depot_id``, ``name``, ``lon``, ``lat``) as WGS-84 points.

    Raises
    ------
    InputError
        Listing every error (missing columns, bad coordinates, duplicate ``depot_id``).
    """
    from gridmgmt.io import read_table

    depots, problems = check_depots(read_table(path), file=str(path), coords=coords)
    _finish(problems)
    return depots


def check_depots(
    frame: pd.DataFrame, *, file: str = "depots", coords: str = "wgs84"
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Validate a raw depot table; return it as points and every problem."""
    check = TableCheck(frame, file)
    check.rename_aliases({**_POINT_ALIASES, "depot_id": ("id", "编号")})
    missing = check.require_columns(("depot_id", "name", "lon", "lat"), aliases=_POINT_ALIASES)
    if not check.not_empty() or missing:
        return _points(check.frame, empty=True), check.problems
    check.trim("depot_id")
    check.required_values("depot_id")
    check.unique("depot_id")
    check_coordinates(check, coords=coords, outliers=False)
    return _points(check.frame), check.problems


def load_points(path: str | os.PathLike, *, coords: str = "wgs84") -> gpd.GeoDataFrame:
    """Read any point layer (schools, ...): CSV with ``lon``/``lat`` or a vector file of points.

    Returns
    -------
    geopandas.GeoDataFrame
        WGS-84 points with every column of the file.
    """
    from gridmgmt.io import read_table

    points, problems = check_points(read_table(path), file=str(path), coords=coords)
    _finish(problems)
    return points


def check_points(
    frame: pd.DataFrame, *, file: str = "points", coords: str = "wgs84"
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Validate a raw point table; return it as points and every problem."""
    if len(frame) == 0:
        return _points(frame, empty=True), []  # an empty layer (e.g. an empty FeatureCollection): no points
    check = TableCheck(frame, file)
    check.rename_aliases(_POINT_ALIASES)
    missing = check.require_columns(("lon", "lat"), aliases=_POINT_ALIASES)
    if missing:
        check.problems[-1] = Problem(
            file=check.file,
            field="lon, lat",
            message=f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
            hint="a point layer needs Point geometry or lon and lat columns",
        )
        return _points(check.frame, empty=True), check.problems
    for column in ("id", "school_id"):
        if column in check.frame.columns:
            check.trim(column)
            check.unique(column)
    check_coordinates(check, coords=coords, outliers=False)
    return _points(check.frame), check.problems


def _points(frame: pd.DataFrame, *, empty: bool = False) -> gpd.GeoDataFrame:
    frame = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
    if empty or "lon" not in frame.columns:
        frame = frame.iloc[0:0]
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


# -- staff ------------------------------------------------------------------------------------


def load_staff(path: str | os.PathLike, *, depot_ids: set[str]) -> pd.DataFrame:
    """Read staff: ``staff_id``, ``name``, ``department``, ``grid_id``, ``depot``, ``travel_mode``,
    optional ``shift_start``/``shift_end``.

    Returns
    -------
    pandas.DataFrame
        ``grid_id`` nullable ``Int64``; ``shift_start``/``shift_end`` ``HH:MM`` or '' (then the
        district.toml shift applies).

    Raises
    ------
    InputError
        Listing every error (unknown department, travel mode or depot, bad times,
        duplicate ``staff_id``, shift ending before it starts).
    """
    from gridmgmt.io import read_table

    staff, problems = check_staff(read_table(path), file=str(path), depot_ids=depot_ids)
    _finish(problems)
    return staff


def check_staff(
    frame: pd.DataFrame, *, file: str = "staff", depot_ids: set[str] | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate a raw staff table; return it converted and every problem."""
    check = TableCheck(frame, file)
    aliases = {
        "staff_id": ("工号", "员工编号"),
        "name": ("姓名",),
        "department": ("部门",),
        "grid_id": ("网格",),
        "depot": ("depot_id", "站点"),
        "travel_mode": ("交通方式", "mode"),
    }
    check.rename_aliases(aliases)
    required = ("staff_id", "name", "department", "depot", "travel_mode")
    missing = check.require_columns(required, aliases=aliases)
    if not check.not_empty() or missing:
        return check.frame, check.problems
    check.add_missing({"grid_id": "", "shift_start": "", "shift_end": ""})
    check.trim("staff_id", "department", "depot", "travel_mode", "grid_id")
    check.required_values("staff_id")
    check.unique("staff_id")
    check.categories(
        "department",
        STAFF_DEPARTMENTS,
        aliases={zh: d for zh, d in DEPARTMENT_ALIASES.items() if d in STAFF_DEPARTMENTS},
    )
    check.categories("travel_mode", TRAVEL_MODES, aliases=_TRAVEL_LABELS)
    check.to_int("grid_id", minimum=1)
    check.to_time("shift_start", required=False)
    check.to_time("shift_end", required=False, allow_24=True)
    check.required_values("depot", hint="name the depot_id the staff member starts from")
    if depot_ids is not None:
        check.known_ids("depot", {str(d) for d in depot_ids}, what="depot_id", table="depots")
    staff = check.frame
    ends_first = pd.Series(
        [
            bool(s) and bool(e) and minutes_of_day(e) <= minutes_of_day(s)
            for s, e in zip(staff["shift_start"], staff["shift_end"], strict=True)
        ],
        index=staff.index,
        dtype=bool,
    )
    check.add_rows(ends_first, "shift_end", "shift ends before it starts", hint="shift_end must be after shift_start")
    return staff, check.problems


# -- orders -----------------------------------------------------------------------------------


def load_orders(path: str | os.PathLike, *, retailer_ids: set[str] | None = None) -> pd.DataFrame:
    """Read weekly orders: ``retailer_id``, ``week`` (the Monday, YYYY-MM-DD), ``cartons`` (>= 0).

    Orders of retailers not in ``retailer_ids`` are kept with a warning (closed shops still
    have order history).

    Returns
    -------
    pandas.DataFrame
        ``week`` ``datetime64``, ``cartons`` float.

    Raises
    ------
    InputError
        Listing every error (bad dates or numbers, a retailer twice in one week).
    """
    from gridmgmt.io import read_table

    orders, problems = check_orders(read_table(path), file=str(path), retailer_ids=retailer_ids)
    _finish(problems)
    return orders


def check_orders(
    frame: pd.DataFrame, *, file: str = "orders", retailer_ids: set[str] | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate a raw order table; return it converted and every problem."""
    check = TableCheck(frame, file)
    aliases = {
        "retailer_id": ("许可证号", "license_no", "licence_no"),
        "week": ("周", "week_start"),
        "cartons": ("条数", "订购量", "quantity"),
    }
    check.rename_aliases(aliases)
    missing = check.require_columns(("retailer_id", "week", "cartons"), aliases=aliases)
    if missing:
        return check.frame, check.problems
    check.trim("retailer_id")
    if "week" in check.frame.columns and pd.api.types.is_datetime64_any_dtype(check.frame["week"]):
        check.frame["week"] = check.frame["week"].dt.strftime("%Y-%m-%d")  # Parquet dates: check them as text
    check.required_values("retailer_id")
    check.to_date("week", required=True, as_text=False)
    check.to_float("cartons", minimum=0, what="a number of cartons")
    orders = check.frame
    not_monday = orders["week"].notna() & (orders["week"].dt.day_of_week != 0)
    check.add_rows(
        not_monday,
        "week",
        "week is not a Monday",
        severity="warning",
        hint="write the Monday that starts the order week",
    )
    key = orders["retailer_id"] + "|" + orders["week"].dt.strftime("%Y-%m-%d").fillna("")
    check.frame["_key"] = key.where(orders["week"].notna() & (orders["retailer_id"] != ""), "")
    check.unique("_key", what="retailer_id and week")
    check.problems = [replace(p, field="retailer_id, week") if p.field == "_key" else p for p in check.problems]
    orders = check.frame.drop(columns="_key")
    check.frame = orders
    if retailer_ids is not None:
        check.known_ids(
            "retailer_id", {str(r) for r in retailer_ids}, what="retailer_id", table="retailer", severity="warning"
        )
    return orders, check.problems
