"""Responsibility and blind spots: who answers for each retailer, and what nobody has done.

Every retailer must map to exactly one grid and so to one pair (a customer manager and a
monopoly officer). The report lists what breaks that promise: grids without a full pair,
retailers outside any grid, retailers not inspected or visited within their cycle, and tasks
past their deadline, per grid and per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from gridmgmt.config import Settings
from gridmgmt.loop.cycles import due_dates


@dataclass
class ResponsibilityReport:
    """The tables of the responsibility report (see the module docstring)."""

    as_of: str
    grids_without_pair: pd.DataFrame
    retailers_outside_grids: pd.DataFrame
    overdue_inspections: pd.DataFrame
    overdue_visits: pd.DataFrame
    overdue_tasks: pd.DataFrame
    per_grid: pd.DataFrame
    per_person: pd.DataFrame
    totals: dict[str, int] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by a file-friendly name."""
        return {
            name: getattr(self, name)
            for name in (
                "grids_without_pair",
                "retailers_outside_grids",
                "overdue_inspections",
                "overdue_visits",
                "overdue_tasks",
                "per_grid",
                "per_person",
            )
        }

    def summary(self) -> str:
        """A few lines for the terminal."""
        t = self.totals
        return (
            f"responsibility as of {self.as_of}: {t['grids']} grids, {t['grids_without_pair']} without a full pair; "
            f"{t['retailers_outside_grids']} retailers outside any grid; {t['overdue_inspections']} past their "
            f"inspection cycle, {t['overdue_visits']} past their visit cycle; {t['overdue_tasks']} tasks past "
            "deadline"
        )


def responsibility_report(
    retailers: pd.DataFrame,
    events: pd.DataFrame,
    staff: pd.DataFrame,
    assignment: pd.DataFrame,
    tasks: pd.DataFrame,
    *,
    as_of: str,
    settings: Settings,
    risk_level: pd.Series | None = None,
    grid_ids: list[int] | None = None,
) -> ResponsibilityReport:
    """Build the report.

    Parameters
    ----------
    retailers, events, staff
        As loaded for the district.
    assignment
        retailer_id -> grid_id (from grids.gpkg, or the retailers' own grid_id column).
    tasks
        From :func:`gridmgmt.loop.tasks.task_table`.
    as_of
        The day of the report (YYYY-MM-DD).
    risk_level
        Optional retailer_id -> high|medium|low for the inspection cycles.
    grid_ids
        Every grid that exists (default: those in ``assignment``).
    """
    ids = retailers["retailer_id"].astype(str)
    grid_of = assignment.dropna(subset=["grid_id"]).drop_duplicates("retailer_id").set_index("retailer_id")["grid_id"]
    grid_of = grid_of.astype(int).reindex(ids)
    staffed = staff.dropna(subset=["grid_id"]).astype({"grid_id": int})
    grids = sorted(set(grid_ids or []) | set(grid_of.dropna().astype(int)) | set(staffed["grid_id"]))

    marketing = staffed.loc[staffed["department"] == "marketing"].groupby("grid_id")["name"].first()
    monopoly = staffed.loc[staffed["department"] == "monopoly"].groupby("grid_id")["name"].first()
    pair = pd.DataFrame({"grid_id": grids})
    pair["customer_manager"] = pair["grid_id"].map(marketing).fillna("")
    pair["monopoly_officer"] = pair["grid_id"].map(monopoly).fillna("")
    missing = pair.loc[(pair["customer_manager"] == "") | (pair["monopoly_officer"] == "")].copy()
    missing["missing"] = missing.apply(
        lambda r: ", ".join(k for k in ("customer_manager", "monopoly_officer") if r[k] == ""), axis=1
    )

    info = retailers.set_index("retailer_id").reindex(ids)[["name", "address", "subdistrict"]].reset_index()
    info["grid_id"] = grid_of.to_numpy()
    outside = info.loc[info["grid_id"].isna(), ["retailer_id", "name", "address", "subdistrict"]]

    due = due_dates(retailers, events, as_of=as_of, settings=settings, risk_level=risk_level)
    due = due.merge(info[["retailer_id", "name", "grid_id"]], on="retailer_id").merge(pair, on="grid_id", how="left")
    overdue_insp = due.loc[due["inspection_days_overdue"] > 0].sort_values("inspection_days_overdue", ascending=False)
    overdue_visit = due.loc[due["visit_days_overdue"] > 0].sort_values("visit_days_overdue", ascending=False)
    late_tasks = tasks.loc[tasks["status"] == "overdue"].copy()

    per_grid = pair.copy()
    per_grid["retailers"] = per_grid["grid_id"].map(grid_of.value_counts()).fillna(0).astype(int)
    per_grid["overdue_inspections"] = per_grid["grid_id"].map(overdue_insp["grid_id"].value_counts()).fillna(0)
    per_grid["overdue_visits"] = per_grid["grid_id"].map(overdue_visit["grid_id"].value_counts()).fillna(0)
    task_grid = tasks["retailer_id"].map(grid_of)
    open_tasks = tasks.loc[tasks["status"].isin(("open", "overdue"))]
    per_grid["open_tasks"] = per_grid["grid_id"].map(task_grid.loc[open_tasks.index].value_counts()).fillna(0)
    per_grid["overdue_tasks"] = per_grid["grid_id"].map(task_grid.loc[late_tasks.index].value_counts()).fillna(0)
    per_grid = per_grid.astype(
        {c: int for c in ("overdue_inspections", "overdue_visits", "open_tasks", "overdue_tasks")}
    )

    people = staff[["staff_id", "name", "department", "grid_id"]].copy()
    people = people.merge(per_grid.drop(columns=["customer_manager", "monopoly_officer"]), on="grid_id", how="left")
    # each department answers for its own cycle: officers for inspections, managers for visits
    people["overdue_own_cycle"] = people["overdue_inspections"].where(
        people["department"] == "monopoly", people["overdue_visits"]
    )
    people = people.fillna(
        {
            c: 0
            for c in (
                "retailers",
                "overdue_inspections",
                "overdue_visits",
                "open_tasks",
                "overdue_tasks",
                "overdue_own_cycle",
            )
        }
    )
    totals = {
        "grids": len(grids),
        "grids_without_pair": len(missing),
        "retailers_outside_grids": len(outside),
        "overdue_inspections": len(overdue_insp),
        "overdue_visits": len(overdue_visit),
        "overdue_tasks": len(late_tasks),
    }
    keep = ["retailer_id", "name", "grid_id", "customer_manager", "monopoly_officer"]
    return ResponsibilityReport(
        as_of=str(as_of),
        grids_without_pair=missing,
        retailers_outside_grids=outside,
        overdue_inspections=overdue_insp[
            [*keep, "last_inspection", "inspection_cycle_days", "inspection_days_overdue"]
        ],
        overdue_visits=overdue_visit[[*keep, "last_visit", "visit_cycle_days", "visit_days_overdue"]],
        overdue_tasks=late_tasks,
        per_grid=per_grid,
        per_person=people,
        totals=totals,
    )
