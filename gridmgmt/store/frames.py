"""Frames to rows and back: attributes as JSON-safe dicts, geometry as WKB in WGS-84.

Used for every table that keeps a layer whose columns the store does not fix (feature layers,
run results, retailers' extra attributes). Column order and dtypes travel in a small
description, so a layer reads back as it was written (datetimes included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmgmt.coords import WGS84


def json_safe(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/NaT as None, times as ISO text."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def describe(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns (without geometry), their dtypes and whether the frame has geometry."""
    geometry = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    columns = [c for c in frame.columns if not (geometry and c == frame.geometry.name)]
    return {
        "columns": [str(c) for c in columns],
        "dtypes": {str(c): str(frame[c].dtype) for c in columns},
        "geometry": bool(geometry),
    }


def to_rows(frame: pd.DataFrame, *, skip: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], list[bytes | None]]:
    """(attribute dicts, WKB geometries in WGS-84 or None) for each row of ``frame``."""
    geoms: list[bytes | None] = [None] * len(frame)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        geo = frame.to_crs(WGS84) if frame.crs is not None and not frame.crs.equals(WGS84) else frame
        wkb = shapely.to_wkb(geo.geometry.to_numpy(), include_srid=False)
        geoms = [None if g is None or shapely.is_empty(s) else bytes(g) for g, s in zip(wkb, geo.geometry, strict=True)]
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    keep = [c for c in frame.columns if c not in skip]
    attrs = [
        {str(k): json_safe(v) for k, v in zip(keep, values, strict=True)}
        for values in frame[keep].itertuples(index=False, name=None)
    ]
    return attrs, geoms


def from_rows(
    attrs: Sequence[dict[str, Any] | None],
    geoms: Sequence[bytes | None],
    description: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The frame :func:`to_rows` was given: GeoDataFrame (WGS-84) when it had geometry, else DataFrame."""
    description = description or {}
    frame = pd.DataFrame([a or {} for a in attrs])
    columns = description.get("columns")
    if columns is not None:
        frame = frame.reindex(columns=columns)
    for column, dtype in description.get("dtypes", {}).items():
        if column not in frame.columns:
            continue
        try:
            if dtype.startswith("datetime64"):
                frame[column] = pd.to_datetime(frame[column], format="ISO8601")
            elif dtype in ("bool", "int64", "int32", "float64", "float32", "Int64", "boolean"):
                frame[column] = frame[column].astype(dtype)
        except (ValueError, TypeError):  # e.g. NaN in an int column: keep what JSON gave
            pass
    has_geometry = description.get("geometry", any(g is not None for g in geoms))
    if not has_geometry:
        return frame
    geometry = shapely.from_wkb(np.array(geoms, dtype=object))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=WGS84)
