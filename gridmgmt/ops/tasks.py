"""The task list as plain rows: ``tasks list`` loads no pandas when the store holds the district.

The rules are :mod:`gridmgmt.loop.task_rules`' (the same the task table of the overview, the
assessment and the service is built from); this module reads what they need and adds each
task's owners.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from gridmgmt.atomic import atomic_path
from gridmgmt.config import load_settings
from gridmgmt.loop.task_rules import (
    CLOSING_TYPE,
    OWNER_COLUMNS,
    TASK_COLUMNS,
    TASK_WINDOW_DAYS,
    Task,
    derive_tasks,
    midnight,
)
from gridmgmt.store.handle import StoreHandle
from gridmgmt.vocab import TASK_TYPES

_IDS_PER_READ = 10_000  # retailers per read of their inspections, within SQLite's and PostgreSQL's parameter limits


def task_rows(
    district_path: str | Path, store_path: str | Path | None, *, as_of: date, days: int = TASK_WINDOW_DAYS
) -> list[dict]:
    """Every task of the last ``days`` days as of a date, with its grid and pair, oldest first.

    With a store that holds the district (``store init``), everything comes from the store (its
    indexed event log, the grid assignment and pairs valid on that day) and only district.toml's
    settings are read: no pandas. Otherwise the district is loaded (its whole history counts).
    Each row has :data:`TASK_COLUMNS` and :data:`OWNER_COLUMNS` ('' for a retailer in no grid).
    """
    if store_path:
        with StoreHandle.open(store_path) as shared:
            if shared.is_initialised():
                end = midnight(as_of)
                start = end - timedelta(days=days)
                events = _window_events(shared, start, end)
                settings = load_settings(district_path)
                found = derive_tasks(
                    events, as_of=as_of, settings=settings, corrected=shared.corrected_between(start, end)
                )
                return with_owners(found, shared.owners_on(as_of))
    return _district_task_rows(district_path, store_path, as_of=as_of)


def _window_events(shared: StoreHandle, start: datetime, end: datetime) -> list[dict]:
    """The window's events that open a task and the inspections of their retailers: all that can close one."""
    opening = shared.event_rows(start, end, types=TASK_TYPES)
    ids = sorted({e["retailer_id"] for e in opening})
    chunks = [ids[k : k + _IDS_PER_READ] for k in range(0, len(ids), _IDS_PER_READ)]
    return opening + [e for c in chunks for e in shared.event_rows(start, end, types=[CLOSING_TYPE], retailer_ids=c)]


def _district_task_rows(district_path: str | Path, store_path: str | Path | None, *, as_of: date) -> list[dict]:
    """:func:`task_rows` of a district the store does not hold: loaded with pandas, its grids from the store."""
    import pandas as pd

    from gridmgmt.loop.district_loop import retailer_owners
    from gridmgmt.loop.tasks import task_events
    from gridmgmt.ops.district import load_district
    from gridmgmt.ops.grids import stored_grids

    district = load_district(district_path, store=store_path)
    owners = retailer_owners(district, stored_grids(store_path)).to_dict("records")
    events, corrected = task_events(district.events, as_of=pd.Timestamp(as_of))
    return with_owners(derive_tasks(events, as_of=as_of, settings=district.settings, corrected=corrected), owners)


def with_owners(tasks: Sequence[Task], owners: Sequence[Mapping]) -> list[dict]:
    """Each task as a dict with its retailer's grid and pair from ``owners`` (rows with ``retailer_id``)."""
    by_retailer = {o["retailer_id"]: o for o in owners}
    none = dict.fromkeys(OWNER_COLUMNS, "")
    return [{**vars(t), **{c: by_retailer.get(t.retailer_id, none)[c] for c in OWNER_COLUMNS}} for t in tasks]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def write_tasks_csv(rows: Sequence[Mapping], path: str | Path) -> Path:
    """Write task rows as UTF-8 CSV (with BOM, for Excel) atomically, in :data:`TASK_COLUMNS` then owner order."""
    columns = [*TASK_COLUMNS, *OWNER_COLUMNS]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([_cell(row[c]) for c in columns] for row in rows)
    return Path(path)
