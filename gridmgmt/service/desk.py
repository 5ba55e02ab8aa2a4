"""The leader's desk: the tasks a user may read, each with its text, retailer, pair, tracking code and history.

What a role may read is :data:`gridmgmt.permissions.TASK_READ`, applied by
:meth:`LiveDistrict.tasks_for`; this module only adds what a person needs to act on each task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gridmgmt.permissions import MEDIATION_KINDS, allowed
from gridmgmt.service.accounts import User
from gridmgmt.service.live import LiveDistrict
from gridmgmt.store.public_reports import tracking_codes

#: task statuses as :func:`gridmgmt.loop.tasks.task_table` gives them, most urgent first
TASK_STATUSES: tuple[str, ...] = ("overdue", "open", "closed_late", "closed")
#: the page word of each status (``closed`` alone is a shop closed for good)
STATUS_WORDS: dict[str, str] = {
    "overdue": "overdue",
    "open": "open",
    "closed_late": "closed_late",
    "closed": "task_closed",
}
#: the most rows a page lists (the filters narrow the rest)
ROWS_SHOWN = 300


@dataclass(frozen=True)
class TaskFilter:
    """The Tasks page's filters ('' : any)."""

    status: str = ""
    type: str = ""
    grid: str = ""
    q: str = ""


def readable_tasks(live: LiveDistrict, user: User) -> pd.DataFrame:
    """Every task ``user`` may read, newest first, ready to show.

    Columns: task_id, type, department, tracking_code, retailer_id, name, address, note (the
    report's text), opened, deadline, status, grid_id, customer_manager and monopoly_officer
    (``id name``), closed_by, closed_at, closed_outcome, mediable (a mediation case may be opened from it).
    """
    tasks = live.tasks_for(user, open_only=False)
    events = live.events()
    linked = events.loc[events["event_id"].isin(set(tasks["task_id"]) | set(tasks["closed_by"]))]
    department = dict(zip(linked["event_id"], linked["department"], strict=True))
    outcome = dict(zip(linked["event_id"], linked["outcome"].fillna(""), strict=True))
    shops = live.retailers()
    names = live.staff_names()
    table = tasks.assign(
        department=_look_up(tasks["task_id"], department),
        name=_look_up(tasks["retailer_id"], dict(zip(shops["retailer_id"], shops["name"], strict=True))),
        address=_look_up(tasks["retailer_id"], dict(zip(shops["retailer_id"], shops["address"], strict=True))),
        closed_outcome=_look_up(tasks["closed_by"], outcome),
        note=tasks["note"].fillna(""),
        tracking_code=_look_up(tasks["task_id"], tracking_codes(live.store.engine, tasks["task_id"])),
    )
    for post in ("customer_manager", "monopoly_officer"):
        staff = table[post] if post in table else pd.Series("", index=table.index)
        table[post] = staff.fillna("").map(lambda s: f"{s} {names.get(s, '')}".strip())
    if "grid_id" not in table:
        table["grid_id"] = ""
    table["grid_id"] = table["grid_id"].fillna("").astype(str)
    kinds = pd.Series(list(zip(table["type"], table["department"], strict=True)), index=table.index, dtype=object)
    table["mediable"] = kinds.isin(MEDIATION_KINDS) & allowed(user.role, "mediation:edit")
    return table.sort_values("opened", ascending=False, kind="stable").reset_index(drop=True)


def filter_tasks(table: pd.DataFrame, wanted: TaskFilter) -> pd.DataFrame:
    """The rows of ``table`` (from :func:`readable_tasks`) that match every filter given."""
    keep = pd.Series(True, index=table.index)
    if wanted.status:
        keep &= table["status"] == wanted.status
    if wanted.type:
        keep &= table["type"] == wanted.type
    if wanted.grid:
        keep &= table["grid_id"] == wanted.grid
    text = wanted.q.strip().lower()
    if text:
        hit = pd.Series(False, index=table.index)
        for column in ("tracking_code", "retailer_id", "name", "note"):
            hit |= table[column].astype(str).str.lower().str.contains(text, regex=False)
        keep &= hit
    return table.loc[keep]


def task_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for a page: times as text (``YYYY-MM-DD HH:MM``; deadlines as days), missing values as ''."""
    rows = []
    for row in table.to_dict("records"):
        rows.append(
            {
                **row,
                "opened": _when(row["opened"]),
                "deadline": _when(row["deadline"])[:10],
                "closed_at": _when(row.get("closed_at")),
                "status_word": STATUS_WORDS.get(str(row["status"]), str(row["status"])),
            }
        )
    return rows


def task_of(live: LiveDistrict, user: User, task_id: str) -> dict[str, Any] | None:
    """One task ``user`` may read, as a page row; None when there is none (or it is not theirs to read)."""
    table = readable_tasks(live, user)
    found = table.loc[table["task_id"] == task_id]
    return task_rows(found)[0] if len(found) else None


def _look_up(keys: pd.Series, values: dict[str, str]) -> pd.Series:
    """``values`` of each key as text ('' for a key without one)."""
    return pd.Series([str(values.get(k, "")) for k in keys], index=keys.index, dtype=object)


def _when(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
