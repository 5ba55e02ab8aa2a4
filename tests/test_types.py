"""The package type-checks: mypy with the project's config ([tool.mypy] in pyproject.toml) finds 0 errors.

mypy keeps its incremental cache in .mypy_cache at the repository root, so a run after a small
change checks only what changed (a cold run takes about a minute on 2 busy cores).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_errors() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "gridmgmt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"mypy found type errors:\n{report}"
    assert "Success: no issues found" in report, report
