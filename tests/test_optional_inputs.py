"""Optional inputs are optional: every command runs without each one, and with header-only files.

A small generated district is changed one input at a time (left out of district.toml, or a file
with a header and no rows, or an empty FeatureCollection); each command must end with exit code
0 or 1, one line per problem, and never a Python traceback.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridmgmt.cli import app
from gridmgmt.demo import generate_demo
from gridmgmt.store import open_store

pytestmark = pytest.mark.slow

DAY = "2026-12-01"
EMPTY_COLLECTION = '{"type": "FeatureCollection", "features": []}\n'

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 300-retailer demo district with 60 days of history."""
    folder = tmp_path_factory.mktemp("small")
    generate_demo(folder, seed=3, n_retailers=300, history_end="2026-11-30", history_days=60)
    return folder


def _variant(small: Path, tmp_path: Path, change: str) -> Path:
    """A copy of the small district with one input changed; returns its district.toml."""
    folder = tmp_path / "district"
    shutil.copytree(small, folder)
    toml = folder / "district.toml"
    text = toml.read_text(encoding="utf-8")
    key, how = change.split(":")
    if how == "absent":
        text = re.sub(rf"^{key} = .*\n", "", text, flags=re.MULTILINE)
    else:  # header-only (tables) or an empty FeatureCollection (layers)
        name = {"events": "events.csv", "orders": "orders.csv"}.get(key, f"{key}.geojson")
        if key == "events":
            with gzip.open(small / "events.csv.gz", "rt", encoding="utf-8-sig") as f:
                (folder / name).write_text(f.readline(), encoding="utf-8")
        elif key == "orders":
            (folder / name).write_text("retailer_id,week,cartons\n", encoding="utf-8")
        else:
            (folder / name).write_text(EMPTY_COLLECTION, encoding="utf-8")
        text = re.sub(rf"^{key} = .*\n", f'{key} = "{name}"\n', text, flags=re.MULTILINE)
    toml.write_text(text, encoding="utf-8")
    return toml


def _commands(toml: Path, out: Path) -> dict[str, list[str]]:
    d, store = str(toml), str(out / "store.sqlite")
    return {
        "validate": ["validate", "--district", d],
        "grids build": ["grids", "build", "--district", d, "--grids", "3", "--out", str(out / "grids")],
        "risk score": ["risk", "score", "--district", d, "--date", DAY, "--out", str(out / "risk"), "--store", store],
        "risk map": [
            "risk",
            "map",
            "--district",
            d,
            "--date",
            DAY,
            "--out",
            str(out / "risk_map.html"),
            "--store",
            store,
        ],
        "patrol plan": [
            "patrol",
            "plan",
            "--district",
            d,
            "--date",
            DAY,
            "--out",
            str(out / "patrol"),
            "--store",
            store,
            "--squads",
            "G01,G02",
            "--solution-limit",
            "20",
        ],
        "tasks list": ["tasks", "list", "--district", d, "--date", DAY, "--store", store],
        "report responsibility": [
            "report",
            "responsibility",
            "--district",
            d,
            "--date",
            DAY,
            "--store",
            store,
            "--out",
            str(out / "responsibility"),
        ],
    }


# which commands read which input
CASES = {
    "events:absent": ["validate", "risk score", "risk map", "patrol plan", "tasks list", "report responsibility"],
    "events:header": ["validate", "risk map", "patrol plan", "tasks list"],
    "orders:absent": ["validate", "risk score"],
    "orders:header": ["validate", "risk score"],
    "schools:absent": ["validate", "risk score"],
    "schools:empty": ["validate", "risk map"],
    "subdistricts:absent": ["validate", "grids build"],
    "subdistricts:empty": ["grids build"],
}


@pytest.mark.parametrize("change", CASES)
def test_every_command_works_without_an_optional_input(small: Path, tmp_path: Path, change: str) -> None:
    """Exit code 0 (or 1 with one line per problem), never a traceback."""
    toml = _variant(small, tmp_path, change)
    commands = _commands(toml, tmp_path / "out")
    open_store(tmp_path / "out" / "store.sqlite", create=True).close()  # as `store init` would
    for name in CASES[change]:
        result = runner.invoke(app, ["-q", *commands[name]])
        assert "Traceback" not in result.output, f"{name} with {change}:\n{result.output}"
        assert result.exit_code == 0, f"{name} with {change}: exit {result.exit_code}\n{result.output}"
