"""File formats and atomic writes: the only module that reads or writes files.

Every write goes to a temporary file in the target's folder and is renamed over the
target only when complete, so a failed run never leaves a half-written output and
earlier outputs stay intact.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.atomic import atomic_path
from gridmgmt.coords import WGS84

TABLE_SUFFIXES = (".csv", ".csv.gz", ".txt", ".geojson", ".json", ".gpkg", ".parquet")
_CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK and GB2312


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write bytes atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(obj: object, path: str | os.PathLike) -> Path:
    """Write JSON (UTF-8, Chinese kept readable) atomically."""
    return write_text(json.dumps(obj, ensure_ascii=False, indent=1), path)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as UTF-8 CSV (with BOM, so Excel shows Chinese correctly) atomically.

    A geometry column is dropped; point geometry should already be in lon/lat columns.
    """
    if isinstance(frame, gpd.GeoDataFrame):
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return Path(path)


def write_vector(frame: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write a GeoDataFrame (GeoJSON, GeoPackage or Parquet by suffix) atomically."""
    return write_layers({"": frame}, path, replace=True)


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame], path: str | os.PathLike, *, replace: bool = False
) -> Path:
    """Write several layers into one GeoPackage atomically.

    With ``replace=False`` an existing GeoPackage is copied first, so its other layers
    are kept and only the named layers are replaced. Plain DataFrames become
    attribute-only tables.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    with atomic_path(target) as tmp:
        if suffix == ".gpkg" and target.exists() and not replace:
            shutil.copyfile(target, tmp)
        for name, frame in layers.items():
            if suffix == ".parquet":
                frame.to_parquet(tmp)
            elif suffix in (".geojson", ".json"):
                frame.to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=target.stem)  # not the temp name
            elif suffix == ".gpkg":
                import pyogrio

                kwargs = {"layer": name or target.stem, "driver": "GPKG"}
                if not isinstance(frame, gpd.GeoDataFrame):
                    pyogrio.write_dataframe(pd.DataFrame(frame), tmp, **kwargs)
                else:
                    pyogrio.write_dataframe(frame, tmp, **kwargs)
            else:
                raise ValueError(f"{target}: unsupported vector format {suffix!r}; use .gpkg, .geojson or .parquet")
    return target


def list_layers(path: str | os.PathLike) -> list[str]:
    """Names of the layers in a GeoPackage."""
    import pyogrio

    return [str(name) for name in pyogrio.list_layers(path)[:, 0]]


def read_layer(path: str | os.PathLike, layer: str | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read one layer of a vector file (attribute-only layers come back as DataFrames)."""
    import pyogrio

    return pyogrio.read_dataframe(path, layer=layer)


def decode_text(raw: bytes, file: str) -> str:
    """Decode CSV bytes: UTF-8 (with or without BOM), else GBK/GB18030.

    Raises
    ------
    InputError
        Naming the line and byte position when neither encoding works.
    """
    for encoding in _CSV_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            Problem(
                file=file,
                row=line,
                message=f"undecodable text at byte {exc.start}",
                value=raw[exc.start : exc.start + 4].hex(" "),
                hint="save the file as UTF-8 (or GBK) text; it may be a spreadsheet saved in another format",
            )
        ) from None
    raise AssertionError("unreachable")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table from CSV, GeoJSON, GeoPackage or Parquet, every column as read.

    CSV is read with all columns as strings (validation converts them, so it can name
    the row of a bad value); point geometries become ``lon``/``lat`` columns.

    Raises
    ------
    InputError
        For a missing, empty, undecodable or unreadable file.
    """
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(
            Problem(
                file=file,
                message="file not found",
                hint="check the path (relative paths are read from the current folder or district.toml's folder)",
            )
        )
    suffix = "".join(p.suffixes[-2:]).lower() if p.name.lower().endswith(".csv.gz") else p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            Problem(
                file=file, message=f"unsupported file type {suffix!r}", hint=f"use one of {', '.join(TABLE_SUFFIXES)}"
            )
        )
    if p.stat().st_size == 0:
        raise InputError(
            Problem(file=file, message="the file is empty", hint="export the table again with a header row and data")
        )
    if suffix in (".csv", ".csv.gz", ".txt"):
        raw = p.read_bytes()
        if suffix == ".csv.gz":
            import gzip

            raw = gzip.decompress(raw)
        text = decode_text(raw, file)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise InputError(
                Problem(file=file, message="the file has no header row", hint="the first line must name the columns")
            ) from None
        except pd.errors.ParserError as exc:
            raise InputError(
                Problem(
                    file=file,
                    message=f"not a valid CSV table: {exc}",
                    hint="check quoting and that every row has as many fields as the header",
                )
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame
    try:
        if suffix == ".parquet":
            frame = gpd.read_parquet(p) if _is_geoparquet(p) else pd.read_parquet(p)
        else:
            frame = read_layer(p)
    except Exception as exc:  # GDAL/Arrow errors: report the file, not a traceback
        raise InputError(
            Problem(file=file, message=f"cannot read the file: {exc}", hint="check that it is a valid file of its type")
        ) from None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry is not None and len(frame):
        frame = _points_to_columns(frame, file)
    return pd.DataFrame(frame)


def _is_geoparquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    return b"geo" in (pq.read_schema(path).metadata or {})


def _points_to_columns(frame: gpd.GeoDataFrame, file: str) -> pd.DataFrame:
    geom = frame.geometry
    if frame.crs is not None and not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
        geom = frame.geometry
    out = pd.DataFrame(frame.drop(columns=geom.name))
    if not geom.is_empty.all() and (geom.geom_type.dropna() == "Point").all():
        out["lon"] = geom.x.to_numpy()
        out["lat"] = geom.y.to_numpy()
    return out


def read_vector(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Read a vector file with its geometry (GeoJSON, GeoPackage first layer, GeoParquet).

    Raises
    ------
    InputError
        For a missing, empty or unreadable file, or one without geometry.
    """
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(Problem(file=file, message="file not found", hint="check the path"))
    if p.stat().st_size == 0:
        raise InputError(Problem(file=file, message="the file is empty", hint="export the layer again"))
    try:
        frame = gpd.read_parquet(p) if p.suffix.lower() == ".parquet" else read_layer(p)
    except Exception as exc:  # GDAL/Arrow errors: report the file, not a traceback
        raise InputError(
            Problem(
                file=file,
                message=f"cannot read the file: {exc}",
                hint="use a GeoJSON, GeoPackage or GeoParquet file with polygon geometry",
            )
        ) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(Problem(file=file, message="the file has no geometry", hint="use a layer with geometry"))
    return frame
