"""The monthly assessment (考核) per pair and per person: cycle coverage, tasks on time, tip-off response, violations.

Definitions (one month, ``[first day, first day of the next month)``; the current month up to
today, :func:`read_until`):

- *cycle coverage*: share of the grid's retailers whose routine inspection (officer) or visit
  (customer manager) is not overdue at the end of the month's last day, or of today in the current
  month, counting that day's work (:func:`gridmgmt.loop.cycles.due_dates`);
- *tasks on time*: share of the grid's tasks due in the month (in the current month: due before
  today, the ones whose time is up) that were closed by their deadline;
- *tip-off response*: mean working days from a tip-off to the inspection that closed it;
- *violations found*: violation events of the grid's retailers in the month, as corrected (a
  violation corrected by another counts once, with the correction's values);
- *corrections*: events of the month that correct an earlier one; *violations withdrawn*: the
  month's violations whose correction is no violation. A correction is counted as such, never
  silently as a missing violation (who may correct what: :mod:`gridmgmt.permissions`).
"""

from __future__ import annotations

import pandas as pd

from gridmgmt.config import Settings
from gridmgmt.ops.service_views import due_dates, effective_events

PAIR_COLUMNS = [
    "grid_id",
    "customer_manager",
    "monopoly_officer",
    "retailers",
    "inspection_coverage",
    "visit_coverage",
    "tasks_due",
    "tasks_on_time",
    "tip_off_response_days",
    "violations_found",
    "corrections",
    "violations_withdrawn",
    "inspections",
    "visits",
]


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day of ``YYYY-MM`` and of the month after."""
    start = pd.Period(month, freq="M").to_timestamp()
    return start, start + pd.offsets.MonthBegin(1)


def read_until(month: str, today: str | pd.Timestamp | None) -> pd.Timestamp:
    """The end of the days ``month``'s figures count: the month's end, or the end of ``today`` when earlier
    (the current month: a cycle due later this month is not overdue yet), never before the month's start."""
    start, end = month_bounds(month)
    if today is None:
        return end
    return max(start, min(end, pd.Timestamp(today).normalize() + pd.Timedelta(days=1)))


def assessment(
    month: str,
    *,
    retailers: pd.DataFrame,
    events: pd.DataFrame,
    tasks: pd.DataFrame,
    owners: pd.DataFrame,
    settings: Settings,
    risk_level: pd.Series | None = None,
    today: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per grid pair for ``month`` (see the module docstring); shares 0-1, response in working days.

    ``today``: the day the table is read (default: after the month); the current month counts up to it.
    """
    start, end = month_bounds(month)
    until = read_until(month, today)
    due = due_dates(retailers, events, as_of=until, settings=settings, risk_level=risk_level)
    due = due.merge(owners[["retailer_id", "grid_id"]], on="retailer_id", how="inner")
    known = effective_events(events)
    withdrawn = withdrawn_violations(events)
    times = pd.to_datetime(known["time"])
    in_month = known.loc[(times >= start) & (times < end)].merge(
        owners[["retailer_id", "grid_id"]], on="retailer_id", how="inner"
    )
    all_times = pd.to_datetime(events["time"])
    month_log = events.loc[(all_times >= start) & (all_times < end)].merge(
        owners[["retailer_id", "grid_id"]], on="retailer_id", how="inner"
    )
    due_before = end if today is None else min(end, pd.Timestamp(today).normalize())  # a task due today may close
    task_due = tasks.loc[(tasks["deadline"] >= start) & (tasks["deadline"] < due_before)]
    tips = tasks.loc[(tasks["type"] == "tip_off") & (tasks["opened"] >= start) & (tasks["opened"] < end)]
    pairs = owners.drop_duplicates("grid_id").set_index("grid_id")
    rows = []
    for grid in sorted(owners["grid_id"].unique(), key=lambda g: (len(str(g)), str(g))):
        mine = due.loc[due["grid_id"] == grid]
        grid_tasks = task_due.loc[task_due["grid_id"] == grid]
        grid_tips = tips.loc[tips["grid_id"] == grid]
        grid_events = in_month.loc[in_month["grid_id"] == grid]
        grid_log = month_log.loc[month_log["grid_id"] == grid]
        rows.append(
            {
                "grid_id": grid,
                "customer_manager": pairs.at[grid, "customer_manager"] if grid in pairs.index else "",
                "monopoly_officer": pairs.at[grid, "monopoly_officer"] if grid in pairs.index else "",
                "retailers": len(mine),
                "inspection_coverage": float((mine["inspection_days_overdue"] == 0).mean()) if len(mine) else None,
                "visit_coverage": float((mine["visit_days_overdue"] == 0).mean()) if len(mine) else None,
                "tasks_due": len(grid_tasks),
                "tasks_on_time": float((grid_tasks["status"] == "closed").mean()) if len(grid_tasks) else None,
                "tip_off_response_days": (
                    float(grid_tips["response_working_days"].mean())
                    if grid_tips["response_working_days"].notna().any()
                    else None
                ),
                "violations_found": int((grid_events["type"] == "violation").sum()),
                "corrections": int((grid_log["corrects"].fillna("") != "").sum()),
                "violations_withdrawn": int(grid_log["event_id"].isin(withdrawn).sum()),
                "inspections": int((grid_events["type"] == "inspection").sum()),
                "visits": int((grid_events["type"] == "visit").sum()),
            }
        )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def withdrawn_violations(events: pd.DataFrame) -> set[str]:
    """Ids of violation events whose newest correction is no violation (the finding was withdrawn)."""
    if "corrects" not in events or events.empty:
        return set()
    fixes = events.loc[events["corrects"].fillna("") != ""].drop_duplicates("corrects", keep="last")
    newest = dict(zip(fixes["corrects"], fixes["type"], strict=True))
    violations = events.loc[events["type"] == "violation", "event_id"]
    return {v for v in violations if v in newest and newest[v] != "violation"}


def per_person(pairs: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The pair table turned into one row per person: their grid's figures for their department's work."""
    rows = []
    for row in pairs.to_dict("records"):
        for column, department, coverage, work in (
            ("customer_manager", "marketing", "visit_coverage", "visits"),
            ("monopoly_officer", "monopoly", "inspection_coverage", "inspections"),
        ):
            staff_id = row[column]
            if not staff_id:
                continue
            rows.append(
                {
                    "staff_id": staff_id,
                    "name": names.get(staff_id, ""),
                    "department": department,
                    "grid_id": row["grid_id"],
                    "cycle_coverage": row[coverage],
                    "tasks_on_time": row["tasks_on_time"],
                    "tip_off_response_days": row["tip_off_response_days"],
                    "violations_found": row["violations_found"] if department == "monopoly" else None,
                    "work_done": row[work],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "staff_id",
            "name",
            "department",
            "grid_id",
            "cycle_coverage",
            "tasks_on_time",
            "tip_off_response_days",
            "violations_found",
            "work_done",
        ],
    )
