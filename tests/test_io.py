"""Tests of gridmgmt.io: atomic writes, table reading in every format, decoding errors."""

from __future__ import annotations

import gzip

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from gridmgmt._errors import InputError
from gridmgmt.io import atomic_path, read_table, read_vector, write_csv, write_text


def test_atomic_path_keeps_old_file_when_writer_raises(tmp_path):
    """A writer that fails half-way leaves the previous file intact and no temp file behind."""
    target = tmp_path / "out.csv"
    target.write_text("old content", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("writer crashed")
    assert target.read_text(encoding="utf-8") == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_write_replaces_on_success(tmp_path):
    """A successful write replaces the file."""
    target = tmp_path / "sub" / "a.txt"
    write_text("一", target)
    write_text("二", target)
    assert target.read_text(encoding="utf-8") == "二"


def test_csv_round_trip_with_bom_and_strings(tmp_path):
    """write_csv writes UTF-8 with BOM; read_table gives every column as text, ids keep leading zeros."""
    frame = pd.DataFrame({"retailer_id": ["0520103"], "name": ["烟酒店"], "lon": ["106.710000"]})
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    back = read_table(path)
    assert back.to_dict("list") == {"retailer_id": ["0520103"], "name": ["烟酒店"], "lon": ["106.710000"]}


def test_read_gbk_and_gzip(tmp_path):
    """GBK text and gzip-compressed CSV are read."""
    (tmp_path / "g.csv").write_bytes("名称,经度\n烟酒店,106.7\n".encode("gbk"))
    assert read_table(tmp_path / "g.csv")["名称"].tolist() == ["烟酒店"]
    (tmp_path / "z.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert read_table(tmp_path / "z.csv.gz")["b"].tolist() == ["2"]


def test_read_errors_name_the_file(tmp_path):
    """Missing, empty, unsupported and undecodable files give InputErrors naming the file (and line)."""
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_table(tmp_path / "e.csv")
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported file type"):
        read_table(tmp_path / "x.xlsx")
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n3,\xff\xfe\n")
    with pytest.raises(InputError) as info:
        read_table(tmp_path / "bad.csv")
    assert "bad.csv, row 3" in str(info.value)


def test_points_become_lon_lat_and_vector_keeps_geometry(tmp_path):
    """read_table turns GeoJSON points into lon/lat; read_vector keeps the geometry."""
    frame = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(106.7, 26.6)], crs="EPSG:4326")
    frame.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    table = read_table(tmp_path / "p.geojson")
    assert table["lon"].iloc[0] == pytest.approx(106.7) and "geometry" not in table.columns
    assert read_vector(tmp_path / "p.geojson").geometry.iloc[0].x == pytest.approx(106.7)
