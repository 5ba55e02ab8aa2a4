"""The command line: every command explains itself, and errors are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gridmgmt.cli import app

runner = CliRunner()


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a sub-group
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "gridmgmt")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """`--help` works for every command and describes it in words."""
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.split()) >= 4, f"{' '.join(path)} needs a real help text"


def test_missing_district_is_one_line_without_traceback(tmp_path) -> None:
    """A missing district.toml gives a clear error naming the file and exit code 1."""
    missing = tmp_path / "nowhere" / "district.toml"
    result = runner.invoke(app, ["demo", "--district", str(missing), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "district file not found" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "store.gpkg").exists()


def test_risk_hotspots_on_any_point_file(tmp_path) -> None:
    """`risk hotspots --points` reads a plain CSV with custom lon/lat columns and writes classed cells."""
    import json

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    background = np.column_stack([rng.uniform(106.65, 106.75, 400), rng.uniform(26.55, 26.65, 400)])
    cluster = np.column_stack([rng.normal(106.70, 0.002, 150), rng.normal(26.60, 0.002, 150)])
    xy = np.vstack([background, cluster])
    pd.DataFrame({"经度x": xy[:, 0], "纬度y": xy[:, 1], "n": 1}).to_csv(tmp_path / "complaints.csv", index=False)
    out = tmp_path / "cells.geojson"
    result = runner.invoke(
        app,
        [
            "risk",
            "hotspots",
            "--points",
            str(tmp_path / "complaints.csv"),
            "--lon",
            "经度x",
            "--lat",
            "纬度y",
            "--weight",
            "n",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    cells = json.loads(out.read_text(encoding="utf-8"))["features"]
    classes = [c["properties"]["hotspot_class"] for c in cells]
    assert any(c.startswith("hot_") for c in classes)
    assert {"gi_z", "p_value", "p_fdr"} <= set(cells[0]["properties"])
    peak = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["kde_peak"]
    assert abs(peak["lon"] - 106.70) < 0.005 and abs(peak["lat"] - 26.60) < 0.005


def test_validate_names_row_and_field_of_a_gbk_file(tmp_path) -> None:
    """`validate` reads a GBK CSV with Chinese headers, reports every bad row and field, and exits 1."""
    text = (
        "许可证号,名称,经度,纬度,业态,档位,open_time,close_time\n"
        "R1,一号店,106.71,26.58,食杂店,A,08:00,22:00\n"
        "R2,二号店,abc,26.58,便利店,A,08:00,22:00\n"
        "R1,三号店,106.71,26.58,超级市场,A,25:00,22:00\n"
    )
    (tmp_path / "r.csv").write_bytes(text.encode("gbk"))
    result = runner.invoke(app, ["validate", "--retailers", str(tmp_path / "r.csv")])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "row 3, field 'lon'" in out
    assert "row 4, field 'retailer_id'" in out and "duplicate" in out
    assert "row 4, field 'business_type'" in out
    assert "row 4, field 'open_time'" in out
    assert "Traceback" not in result.output


def test_unexpected_failure_is_one_line_naming_command_and_log(monkeypatch, tmp_path) -> None:
    """An exception the library did not foresee ends as one line with the command and a log path, no traceback."""
    import gridmgmt.ops.demo

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a step")

    monkeypatch.setattr(gridmgmt.ops.demo, "run_demo", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) <= 3, result.output  # rich may wrap the single line
    assert "demo failed: ZeroDivisionError" in " ".join(lines)
    logs = list((tmp_path / "gridmgmt-logs").glob("demo-*.log"))
    assert len(logs) == 1 and "ZeroDivisionError" in logs[0].read_text()


def test_demo_writes_into_its_district_folder_by_default(monkeypatch, tmp_path) -> None:
    """Without --out the demo writes into the district folder's out/, where patrol plan, serve and
    grids map look for the store and the grids (it wrote into ./out/, and `patrol plan` then found no store)."""
    import gridmgmt.ops.demo
    from gridmgmt.cli.common import district_store

    seen = []
    monkeypatch.setattr(gridmgmt.ops.demo, "run_demo", lambda district, out, **kw: seen.append(out) or [])
    district = tmp_path / "mydemo" / "district.toml"
    assert runner.invoke(app, ["demo", "--district", str(district)]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    assert runner.invoke(app, ["demo", "--district", str(district), "--out", str(elsewhere)]).exit_code == 0
    assert seen == [(tmp_path / "mydemo" / "out").resolve(), elsewhere]
    assert Path(district_store(district, None)).parent == seen[0]
