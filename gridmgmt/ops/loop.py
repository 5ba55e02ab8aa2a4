"""The joint-work loop's operations: the task list, the responsibility report and the managers' overview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gridmgmt import io
from gridmgmt.config import load_settings
from gridmgmt.inputs.district import District
from gridmgmt.loop.district_loop import TASK_WINDOW_DAYS, overview_page, responsibility, retailer_owners
from gridmgmt.loop.responsibility import ResponsibilityReport
from gridmgmt.loop.tasks import task_table
from gridmgmt.ops.district import load_district
from gridmgmt.ops.grids import stored_grids
from gridmgmt.store import open_store


def district_tasks(
    district_path: str | Path, store_path: str | Path | None, *, as_of: str, days: int = TASK_WINDOW_DAYS
) -> pd.DataFrame:
    """Every task of the last ``days`` days as of a date, with its grid and pair.

    With a store that holds the district (``store init``), everything comes from the store
    (its indexed event log, the grid assignment and pairs valid on that day) and only
    district.toml's settings are read, never the whole history. Otherwise the district is loaded.
    """
    if store_path:
        with open_store(store_path) as shared:
            if shared.is_initialised():
                end = pd.Timestamp(as_of).normalize()
                events = shared.events_between(end - pd.Timedelta(days=days), end)
                owners = shared.assignment_on(end.date()).merge(shared.pairs_on(end.date()), on="grid_id", how="left")
                settings = load_settings(district_path)
                return task_table(events, as_of=as_of, settings=settings, owners=owners.fillna(""))
    district = load_district(district_path, store=store_path)
    grids = stored_grids(store_path)
    return task_table(district.events, as_of=as_of, settings=district.settings, owners=retailer_owners(district, grids))


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
