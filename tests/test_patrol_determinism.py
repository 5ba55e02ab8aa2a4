"""Deterministic day plans: `gridmgmt patrol plan --solution-limit N` writes the same files in separate processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gridmgmt.store import open_store

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "district.toml"
#: Small enough for a test (about 20-30 s a run on 2 cores), large enough that the default search
#: (PyVRP's fixed iterations, then OR-Tools' descent) runs to its end on every mode.
SOLUTIONS = 120


def _plan(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "patrol"
    command = [
        sys.executable,
        "-m",
        "gridmgmt",
        "patrol",
        "plan",
        "--date",
        "2026-12-01",
        "--district",
        str(DEMO),
        "--solution-limit",
        str(SOLUTIONS),
        "--out",
        str(out),
        "--store",
        str(folder / "store.sqlite"),  # each run its own store, never the repository's data/demo/out
    ]
    open_store(folder / "store.sqlite", create=True).close()  # as `store init` would
    subprocess.run(command, cwd=folder, check=True, capture_output=True, timeout=600)
    return out


@pytest.mark.slow
def test_two_processes_with_a_solution_limit_write_identical_plans(tmp_path):
    """Two fresh processes, each from its own folder, plan the demo day byte for byte the same."""
    first, second = _plan(tmp_path / "a"), _plan(tmp_path / "b")
    for name in ("stops.csv", "unplanned.csv", "summary.csv", "route_sheets.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
