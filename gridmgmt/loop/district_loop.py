"""The joint-work loop of a loaded District: owners, tasks, the responsibility report, the overview page."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridmgmt.grids.pairs import staff_in_grids
from gridmgmt.grids.plan import grid_assignment
from gridmgmt.inputs.district import District
from gridmgmt.loop.overview import overview_html
from gridmgmt.loop.responsibility import ResponsibilityReport, responsibility_report
from gridmgmt.loop.tasks import owners_table, task_table
from gridmgmt.risk.district_risk import risk_trend, score_risk


def retailer_owners(district: District, grids: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """retailer_id -> grid_id and the grid's staff pair, from grids (if given) or retailers.grid_id."""
    assignment = grid_assignment(district.retailers, grids)
    if assignment is None or assignment["grid_id"].isna().all():
        return pd.DataFrame(columns=["retailer_id", "grid_id", "customer_manager", "monopoly_officer"])
    staff = staff_in_grids(district.staff, None if grids is None else pd.DataFrame(grids))
    return owners_table(assignment, staff)


def responsibility(
    district: District, *, as_of: str, grids: gpd.GeoDataFrame | None = None, risk: pd.DataFrame | None = None
) -> ResponsibilityReport:
    """The responsibility report (see :mod:`gridmgmt.loop.responsibility`) of a loaded district."""
    owners = retailer_owners(district, grids)
    tasks = task_table(district.events, as_of=as_of, settings=district.settings, owners=owners)
    risk = risk if risk is not None else score_risk(district, as_of)
    grid_ids = [int(g) for g in grids["grid_id"]] if grids is not None else None
    return responsibility_report(
        district.retailers,
        district.events,
        district.staff,
        owners,
        tasks,
        as_of=as_of,
        settings=district.settings,
        risk_level=risk.set_index("retailer_id")["level"],
        grid_ids=grid_ids,
    )


def overview_page(
    district: District,
    *,
    as_of: str,
    lang: str = "zh",
    grids: gpd.GeoDataFrame | None = None,
    risk: pd.DataFrame | None = None,
    hotspot_cells: gpd.GeoDataFrame | None = None,
    links: dict[str, str] | None = None,
    report: ResponsibilityReport | None = None,
) -> str:
    """The managers' overview page as HTML (see :mod:`gridmgmt.loop.overview`); ``report`` is reused when given."""
    risk = risk if risk is not None else score_risk(district, as_of)
    report = report or responsibility(district, as_of=as_of, grids=grids, risk=risk)
    n = max(len(district.retailers), 1)
    coverage = {
        "inspected_in_cycle": 1 - len(report.overdue_inspections) / n,
        "visited_in_cycle": 1 - len(report.overdue_visits) / n,
    }
    owners = retailer_owners(district, grids)
    tasks = task_table(district.events, as_of=as_of, settings=district.settings, owners=owners)
    return overview_html(
        as_of=as_of,
        lang=lang,
        district_name=district.settings.name,
        grids=None if grids is None else pd.DataFrame(grids.drop(columns="geometry")),
        coverage=coverage,
        tasks=tasks,
        events=district.events,
        risk=risk,
        hotspot_cells=hotspot_cells,
        responsibility_totals=report.totals,
        links=links,
        risk_trend=risk_trend(district, as_of),
    )
