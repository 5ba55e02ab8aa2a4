"""The joint-work loop's operations: the task list, the responsibility report and the managers' overview."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from gridmgmt import io
from gridmgmt.inputs.district import District
from gridmgmt.loop.district_loop import overview_page, responsibility
from gridmgmt.loop.responsibility import ResponsibilityReport
from gridmgmt.loop.task_rules import TASK_WINDOW_DAYS
from gridmgmt.ops.tasks import task_rows


def district_tasks(
    district_path: str | Path, store_path: str | Path | None, *, as_of: str, days: int = TASK_WINDOW_DAYS
) -> pd.DataFrame:
    """:func:`gridmgmt.ops.tasks.task_rows` as a data frame (one row per task, its grid and pair).

    Times and dates are timestamps, as in :func:`gridmgmt.loop.tasks.task_table`.
    """
    frame = pd.DataFrame(task_rows(district_path, store_path, as_of=date.fromisoformat(as_of), days=days))
    for column in ("opened", "deadline", "closed_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def report_responsibility(
    district: District, out_dir: str | Path, *, as_of: str, grids: Any = None, risk: pd.DataFrame | None = None
) -> tuple[ResponsibilityReport, list[Path]]:
    """The responsibility report as of a day, each of its tables written as CSV into ``out_dir``."""
    report = responsibility(district, as_of=as_of, grids=grids, risk=risk)
    return report, write_responsibility(report, out_dir)


def write_responsibility(report: ResponsibilityReport, out_dir: str | Path) -> list[Path]:
    """Write every table of a responsibility report as CSV into ``out_dir``."""
    out = Path(out_dir)
    return [io.write_csv(table, out / f"{name}.csv") for name, table in report.tables().items()]


def write_overview(district: District, out_path: str | Path, **options: Any) -> Path:
    """Write the managers' overview page (options: :func:`gridmgmt.loop.district_loop.overview_page`)."""
    return io.write_text(overview_page(district, **options), out_path)
