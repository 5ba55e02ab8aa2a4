"""`grids build` on a real clipped extract checks its model against routed tours (issue 20, items 2 and 3).

The district is made as a bureau would (tests/test_own_district.py): `gridmgmt init` on the clipped
Monaco extract and its 130 real shops (tests/data/osm/README.md), here with 2 staff pairs.
Measured (2 pairs): planning max/min 1.016, routed 1.049, calibration fit error 10%, no shop
unreachable, utilisation 0.11 (130 shops keep 0.2 pairs busy). With 4 pairs a grid gets about
1.5 stops a person a day and the routed max/min is 1.08 (1.12 with five sample areas).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridmgmt.cli import app

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data" / "osm"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["-q", *args])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, f"gridmgmt {' '.join(args)}:\n{result.output}"
    return " ".join(result.output.split())  # rich wraps long lines


def test_build_on_a_real_extract_checks_the_model_against_routes(tmp_path: Path) -> None:
    """metrics.json has finite routed max/min and fit error within the issue's targets; the odd utilisation is said."""
    folder = tmp_path / "monaco"
    run("init", str(folder), "--retailers", str(DATA / "monaco_district_shops.csv"), "--network",
        str(DATA / "monaco_district_clipped.osm.pbf"), "--pairs", "2")  # fmt: skip
    output = run("grids", "build", "--district", str(folder / "district.toml"))
    grids = folder / "out" / "grids"
    text = (grids / "metrics.json").read_text(encoding="utf-8")
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert math.isfinite(metrics["max_min_routed"]) and metrics["max_min_routed"] <= 1.10
    assert math.isfinite(metrics["calibration_fit_error"]) and metrics["calibration_fit_error"] <= 0.25
    assert metrics["max_min_plan"] <= 1.05 and metrics["unreachable"] == 0
    assert pd.read_csv(grids / "unreachable.csv").empty
    table = pd.read_csv(grids / "grids.csv")
    assert (table["utilisation"] == (table["workload_min"] / table["available_min"]).round(3)).all()
    assert metrics["utilisation_max"] < 0.5  # 130 shops for 2 pairs
    assert "warning: utilisation" in output and "too many pairs for 130 retailers" in output


def test_whole_monaco_grids_are_compact_on_its_land_boundary(tmp_path: Path) -> None:
    """The whole Monaco extract (508 shops, 4 pairs, a coastal strip with an eastern arm): compact grids on
    the derived land boundary for seeds 0-2, within the other targets. Measured: PP min 0.254 / 0.253 /
    0.253 (0.117 before re-splitting and the smoothed outline); the least compact grid is the eastern
    arm's, whose land allows about 0.25 at max/min 1.02 (0.241-0.266 over seeds 0-5), so 0.24 is held."""
    folder = tmp_path / "mc"
    run("init", str(folder), "--retailers", str(DATA / "monaco_shops.csv"), "--network", str(DATA / "monaco.osm.pbf"),
        "--pairs", "4", "--depot", "7.4200,43.7380")  # fmt: skip
    for seed in (0, 1, 2):
        out = folder / f"seed{seed}"
        run("grids", "build", "--district", str(folder / "district.toml"), "--seed", str(seed), "--out", str(out))
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["polsby_popper_min"] >= 0.24, seed
        assert metrics["max_min_plan"] <= 1.05 and metrics["max_min_routed"] <= 1.10, seed
        assert metrics["boundary_on_street"] >= 0.85 and metrics["contiguous"], seed
