"""Verification of the planning workload: route every day of a month for every grid and compare.

For each grid and each department, one month of visits is split into working days and every day
is routed from the grid's pair's depot, in the pair's travel mode (OR-Tools on the network
travel-time matrix); the routed travel is compared with the planning estimate of
:mod:`gridmgmt.grids.workload`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmgmt.grids.build import plan_from_assignment
from gridmgmt.grids.calibration import lonlat, routed_month_min
from gridmgmt.grids.metrics import balance_ratio, coefficient_of_variation
from gridmgmt.grids.pairs import MODE_ORDER
from gridmgmt.grids.plan import GridPlan
from gridmgmt.grids.workload import DEFAULT_ACCESS_MIN, DEFAULT_MODE, retailer_workload

if TYPE_CHECKING:
    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)


def verify_workload(
    district: District,
    plan: GridPlan | pd.DataFrame,
    *,
    mode: str | None = None,
    day_stride: int = 1,
) -> pd.DataFrame:
    """Route actual tours for every grid and compare with the planning estimate.

    For each grid and each department, one month of visits is split into working days
    (:func:`~gridmgmt.grids.calibration.month_schedule`) and every day is routed depot -> stops ->
    depot as a TSP with OR-Tools on the network travel-time matrix, from the grid's pair's depot in
    the pair's travel mode (the grids' ``depot`` and ``travel_mode`` columns; without them the
    nearest depot by network time, in ``mode``). Routed travel = access time + routed minutes; the
    planning travel is the model's.

    Parameters
    ----------
    district : District
    plan : GridPlan or pandas.DataFrame
        A plan from :func:`~gridmgmt.grids.build.build_grids`, or an assignment
        (retailer_id, grid_id): then the grids are rebuilt from blocks to get their areas.
    mode : str, optional
        Travel mode of grids without a pair's mode (default the plan's calibration mode).
    day_stride : int, default 1
        Route every n-th day only and scale (1 = every day).

    Returns
    -------
    pandas.DataFrame
        One row per grid: grid_id, travel_mode, depot, retailers, stops_per_month, service_min, planning_travel_min,
        routed_travel_min, travel_error_pct, planning_workload_min, routed_workload_min.
        ``attrs``: planning_ratio, routed_ratio, routed_cv, mean_abs_error_pct.
    """
    if not isinstance(plan, GridPlan):
        plan = plan_from_assignment(district, plan)
    mode = mode or plan.metrics.get("mode", DEFAULT_MODE)
    days = float(district.settings.grids.working_days_per_month)
    work = retailer_workload(district, risk_level=plan.risk_level)
    access_per_stop = float(plan.metrics.get("access_min_per_stop", DEFAULT_ACCESS_MIN))
    work["access_min"] = work["stops_per_month"] * access_per_stop
    gid = plan.assignment.set_index("retailer_id")["grid_id"].reindex(work["retailer_id"]).to_numpy()
    lon, lat = lonlat(district.retailers)
    pts = district.retailers.to_crs(district.crs).geometry
    rxy = np.stack([pts.x.to_numpy(), pts.y.to_numpy()], axis=1)
    dlon, dlat = lonlat(district.depots)
    depot_row = {str(d): i for i, d in enumerate(district.depots["depot_id"])}
    rows = []
    for _, g in plan.grids.iterrows():
        members = np.flatnonzero(gid == g["grid_id"])
        tm, dep = g.get("travel_mode"), g.get("depot")
        grid_mode = tm if isinstance(tm, str) and tm in MODE_ORDER else mode
        own = depot_row.get(dep) if isinstance(dep, str) else None
        deps = (dlon, dlat) if own is None else (dlon[[own]], dlat[[own]])  # one depot: the pair's
        routed = routed_month_min(district.graph, deps, (lon[members], lat[members]), rxy[members],
                                   work.iloc[members], mode=grid_mode, days=days, day_stride=day_stride)  # fmt: skip
        access = float(work["access_min"].to_numpy()[members].sum())
        service = float(work["service_min"].to_numpy()[members].sum())
        planning_travel = float(g["travel_min"])
        routed_travel = access + routed
        rows.append({
            "grid_id": int(g["grid_id"]), "travel_mode": grid_mode, "depot": "" if own is None else str(g["depot"]),
            "retailers": int(members.size),
            "stops_per_month": float(work["stops_per_month"].to_numpy()[members].sum()),
            "service_min": service, "planning_travel_min": planning_travel, "routed_travel_min": routed_travel,
            "travel_error_pct": 100.0 * (planning_travel - routed_travel) / max(routed_travel, 1e-9),
            "planning_workload_min": service + planning_travel, "routed_workload_min": service + routed_travel,
        })  # fmt: skip
    out = pd.DataFrame(rows)
    out.attrs.update(
        planning_ratio=balance_ratio(out["planning_workload_min"]),
        routed_ratio=balance_ratio(out["routed_workload_min"]),
        routed_cv=coefficient_of_variation(out["routed_workload_min"]),
        mean_abs_error_pct=float(out["travel_error_pct"].abs().mean()),
    )
    logger.info("verify: planning max/min %.3f, routed max/min %.3f, mean |travel error| %.1f%%",
                out.attrs["planning_ratio"], out.attrs["routed_ratio"], out.attrs["mean_abs_error_pct"])  # fmt: skip
    return out
