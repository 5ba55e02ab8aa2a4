"""Verification of the planning workload: route every day of a month for every grid and compare.

For each grid and each department, one month of visits is split into working days and every day
is routed from the grid's pair's depot, in the pair's travel mode (OR-Tools on the network
travel-time matrix); the routed travel is compared with the planning estimate of
:mod:`gridmgmt.grids.workload`. :func:`check_plan` does this for every ``grids build`` and says
what looks wrong: routes that disagree with the model, unreachable shops, a calibration that fell
back, grids whose pair would be far from fully busy or overloaded.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmgmt.grids.calibration import UNREACHABLE_COLUMNS, lonlat, routed_month_min, unreachable_table
from gridmgmt.grids.metrics import balance_ratio, coefficient_of_variation
from gridmgmt.grids.pairs import MODE_ORDER
from gridmgmt.grids.plan import GridPlan
from gridmgmt.grids.workload import DEFAULT_ACCESS_MIN, DEFAULT_MODE, retailer_workload

if TYPE_CHECKING:
    from gridmgmt.inputs.district import District

logger = logging.getLogger(__name__)

#: Stops a month the check of a build routes every day of: a district with more routes every n-th working
#: day and scales (the demo's 10,500 stops a month take about 3 s, the 50,000-retailer city's 105,000
#: about 110 s; sampled days would carry their noise, about 2% of max/min there, into the priced grids).
CHECK_STOPS_PER_MONTH = 150_000
#: Utilisation (planning workload / the pair's available minutes) outside this range is warned about.
UTILISATION_RANGE = (0.5, 1.5)


def verify_workload(
    district: District,
    plan: GridPlan,
    *,
    mode: str | None = None,
    day_stride: int = 1,
    day_offset: int = 0,
) -> pd.DataFrame:
    """Route actual tours for every grid and compare with the planning estimate.

    For each grid and each department, one month of visits is split into working days
    (:func:`~gridmgmt.grids.calibration.month_schedule`) and every day is routed depot -> stops ->
    depot as a TSP with OR-Tools on the network travel-time matrix, from the grid's pair's depot in
    the pair's travel mode (the grids' ``depot`` and ``travel_mode`` columns; without them the
    nearest depot by network time, in ``mode``). Routed travel = access time + routed minutes; the
    planning travel is the model's. Shops the grid's mode cannot reach from its depot (or not
    return from) are left out of the tours, never priced, and listed in ``attrs["unreachable"]``;
    their service and access minutes still count.

    Parameters
    ----------
    district : District
    plan : GridPlan
        A plan from :func:`~gridmgmt.grids.build.build_grids` (for an assignment table,
        :func:`~gridmgmt.grids.build.plan_from_assignment` makes one).
    mode : str, optional
        Travel mode of grids without a pair's mode (default the plan's calibration mode).
    day_stride : int, default 1
        Route every n-th day only and scale (1 = every day).
    day_offset : int, default 0
        First routed day of a stride (other offsets route the month's other days).

    Returns
    -------
    pandas.DataFrame
        One row per grid: grid_id, travel_mode, depot, retailers, unreachable, stops_per_month, service_min,
        planning_travel_min, routed_travel_min, travel_error_pct, planning_workload_min, routed_workload_min.
        ``attrs``: planning_ratio, routed_ratio, routed_cv, mean_abs_error_pct, day_stride and unreachable
        (retailer_id, mode, reason, grid_id).
    """
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
    depot_ids = district.depots["depot_id"].astype(str).to_numpy()
    depot_row = {d: i for i, d in enumerate(depot_ids)}
    ids = work["retailer_id"].to_numpy()
    rows, lost = [], []
    for _, g in plan.grids.iterrows():
        members = np.flatnonzero(gid == g["grid_id"])
        tm, dep = g.get("travel_mode"), g.get("depot")
        grid_mode = tm if isinstance(tm, str) and tm in MODE_ORDER else mode
        own = depot_row.get(dep) if isinstance(dep, str) else None
        deps = (dlon, dlat) if own is None else (dlon[[own]], dlat[[own]])  # one depot: the pair's
        month = routed_month_min(district.graph, deps, (lon[members], lat[members]), rxy[members],
                                 work.iloc[members], mode=grid_mode, days=days, day_stride=day_stride,
                                 day_offset=day_offset)  # fmt: skip
        if month.unreachable.size:
            start = depot_ids[own if own is not None else month.depot]
            out = members[month.unreachable]
            stops = pd.DataFrame({"retailer_id": ids[out], "lon": lon[out], "lat": lat[out]})
            lost.append(unreachable_table(district.graph, stops, grid_mode, depot=start).assign(grid_id=g["grid_id"]))
        access = float(work["access_min"].to_numpy()[members].sum())
        service = float(work["service_min"].to_numpy()[members].sum())
        planning_travel = float(g["travel_min"])
        routed_travel = access + month.minutes
        rows.append({
            "grid_id": int(g["grid_id"]), "travel_mode": grid_mode, "depot": "" if own is None else str(g["depot"]),
            "retailers": int(members.size), "unreachable": int(month.unreachable.size),
            "stops_per_month": float(work["stops_per_month"].to_numpy()[members].sum()),
            "service_min": service, "planning_travel_min": planning_travel, "routed_travel_min": routed_travel,
            "travel_error_pct": 100.0 * (planning_travel - routed_travel) / max(routed_travel, 1e-9),
            "planning_workload_min": service + planning_travel, "routed_workload_min": service + routed_travel,
        })  # fmt: skip
    out = pd.DataFrame(rows)
    lost_cols = [*UNREACHABLE_COLUMNS, "grid_id"]
    out.attrs.update(
        planning_ratio=balance_ratio(out["planning_workload_min"]),
        routed_ratio=balance_ratio(out["routed_workload_min"]),
        routed_cv=coefficient_of_variation(out["routed_workload_min"]),
        mean_abs_error_pct=float(out["travel_error_pct"].abs().mean()),
        day_stride=int(day_stride),
        unreachable=pd.concat(lost, ignore_index=True) if lost else pd.DataFrame(columns=lost_cols),
    )
    logger.info("verify: planning max/min %.3f, routed max/min %.3f, mean |travel error| %.1f%%",
                out.attrs["planning_ratio"], out.attrs["routed_ratio"], out.attrs["mean_abs_error_pct"])  # fmt: skip
    return out


#: Routed over modelled travel of one grid beyond which the district's model is said to miss it (a third)
ROUTED_FACTOR_RANGE = (2.0 / 3.0, 1.5)
#: Factors are clipped to this range: a grid's routes correct its price, never multiply it without bound
ROUTED_FACTOR_CLIP = (0.5, 2.0)


def routed_factors(routed: pd.DataFrame, access_min_per_stop: float, k: int) -> np.ndarray:
    """Each grid's routed over modelled travel minutes, the access minutes (priced exactly) left out.

    ``routed`` is a :func:`verify_workload` table of grids 1..``k``. A grid with unreachable shops,
    no modelled travel or no row keeps factor 1: its routes do not measure its travel. Factors are
    clipped to :data:`ROUTED_FACTOR_CLIP`.
    """
    r = routed.set_index("grid_id").reindex(np.arange(1, k + 1))
    access = r["stops_per_month"].to_numpy(dtype=float) * access_min_per_stop
    model = r["planning_travel_min"].to_numpy(dtype=float) - access
    real = r["routed_travel_min"].to_numpy(dtype=float) - access
    usable = np.isfinite(model) & np.isfinite(real) & (model > 0) & (real > 0) & (r["unreachable"].fillna(1) == 0)
    f = np.where(usable, real / np.where(usable, model, 1.0), 1.0)
    return np.clip(f, *ROUTED_FACTOR_CLIP)


def check_plan(
    district: District, plan: GridPlan, *, day_stride: int | None = None, day_offset: int = 0
) -> pd.DataFrame:
    """Check a plan's workload estimate against routed tours and say what looks wrong (``grids build`` runs it).

    Routes the plan's month (:func:`verify_workload`; every ``day_stride``-th working day, by default
    every day up to :data:`CHECK_STOPS_PER_MONTH` stops) and records in ``plan.metrics``:
    ``max_min_routed``, ``routed_cv``, ``travel_error_pct`` (mean absolute, planning against routed
    travel), ``check_day_stride``, ``check_elapsed_s``, ``unreachable`` (shops left out of the tours),
    ``unreachable_by_mode`` and ``warnings`` (one line each: a calibration that fell back,
    unreachable shops, routes that disagree with the model beyond ``grids.routed_tolerance``,
    utilisation outside :data:`UTILISATION_RANGE`, each with its likely cause). ``plan.grids`` gets
    ``routed_workload_min`` and ``unreachable``; ``plan.unreachable`` the shops (retailer_id, mode,
    reason, grid_id).

    Returns
    -------
    pandas.DataFrame
        The table of :func:`verify_workload`.
    """
    t0 = time.perf_counter()
    if day_stride is None:
        stops = float(retailer_workload(district, risk_level=plan.risk_level)["stops_per_month"].sum())
        day_stride = max(1, math.ceil(stops / CHECK_STOPS_PER_MONTH))
    v = verify_workload(district, plan, day_stride=day_stride, day_offset=day_offset)
    lost = v.attrs["unreachable"]
    by_grid = v.set_index("grid_id")
    gid = plan.grids["grid_id"].astype(int)
    plan.grids["routed_workload_min"] = by_grid["routed_workload_min"].reindex(gid).round(1).to_numpy()
    plan.grids["unreachable"] = by_grid["unreachable"].reindex(gid).to_numpy()
    plan.unreachable = lost
    plan.metrics.update(
        max_min_routed=v.attrs["routed_ratio"], routed_cv=v.attrs["routed_cv"],
        travel_error_pct=v.attrs["mean_abs_error_pct"], check_day_stride=int(day_stride),
        check_day_offset=int(day_offset) % int(day_stride),
        unreachable=len(lost), unreachable_by_mode=lost.groupby("mode").size().astype(int).to_dict(),
        check_elapsed_s=time.perf_counter() - t0,
    )  # fmt: skip
    plan.metrics["warnings"] = plan_warnings(district, plan, v)  # the caller says them (CLI prints, pipeline logs)
    return v


def plan_warnings(district: District, plan: GridPlan, routed: pd.DataFrame) -> list[str]:
    """One line per thing a checked plan gets wrong, each with its likely cause.

    ``routed`` is the plan's :func:`verify_workload` table. Lines: a calibration that fell back;
    shops the pairs cannot reach; a routed max/min above ``grids.routed_tolerance``; utilisation
    outside :data:`UTILISATION_RANGE`.
    """
    m = plan.metrics
    out = [f"calibration ({mode}): {c['fallback']}" for mode, c in m.get("pair_modes", {}).items() if c.get("fallback")]
    lost = routed.attrs["unreachable"]
    if len(lost):
        modes = ", ".join(f"{n} by {mode}" for mode, n in lost.groupby("mode").size().items())
        out.append(f"{len(lost)} shop{'s' * (len(lost) != 1)} cannot be reached by their grid's pair ({modes}): "
                   "left out of the routed tours and listed in unreachable.csv")  # fmt: skip
    tol = float(district.settings.grids.routed_tolerance)
    days = float(district.settings.grids.working_days_per_month)
    if routed.attrs["routed_ratio"] > tol:
        worst = routed.loc[routed["travel_error_pct"].abs().idxmax()]
        causes = _model_causes(m, routed, routed.index, days)
        causes.append(f"the model's error on single grids: travel off by {abs(worst['travel_error_pct']):.0f}% in "
                      f"grid {int(worst['grid_id'])} ({worst['travel_mode']})")  # fmt: skip
        out.append(f"routed max/min {routed.attrs['routed_ratio']:.3f} is above grids.routed_tolerance {tol:.3f} "
                   f"(planning {m.get('balance', float('nan')):.3f}): the workload model and the routes disagree "
                   f"(travel off by {routed.attrs['mean_abs_error_pct']:.0f}% on average); likely cause: "
                   f"{'; '.join(causes)}")  # fmt: skip
    out += _utilisation_warnings(plan, routed, days)
    return out


#: Share of a set of grids' shops unreachable from which they are named as a likely cause.
_LOST_SHARE = 0.02
#: Stops a person makes a day below which the tour model (many stops a day) fits loosely.
_FEW_STOPS_A_DAY = 8.0


def _model_causes(m: dict, routed: pd.DataFrame, rows: pd.Index, days: float) -> list[str]:
    """Likely causes of model trouble in some grids (rows of ``routed``): a poor fit, unreachable shops, short tours."""
    from gridmgmt.grids.calibration import MAX_FIT_ERROR

    modes = m.get("pair_modes", {})
    poor = [mode for mode, c in modes.items() if c.get("fallback") or (c.get("fit_error") or 0) > MAX_FIT_ERROR]
    causes = [f"poor calibration fit ({', '.join(poor)})"] if poor else []
    sel = routed.loc[rows]
    if sel["unreachable"].sum() > _LOST_SHARE * max(sel["retailers"].sum(), 1):
        causes.append(f"{int(sel['unreachable'].sum())} unreachable shops (no travel routed to them)")
    per_day = float(sel["stops_per_month"].mean()) / days / 2.0  # two people, one department each
    if per_day < _FEW_STOPS_A_DAY:
        causes.append(f"few stops a day ({per_day:.1f} a person): the trip from the depot dominates and the tour "
                      "model fits it loosely")  # fmt: skip
    return causes


def _utilisation_warnings(plan: GridPlan, routed: pd.DataFrame, days: float) -> list[str]:
    """A line for the grids below and one for those above :data:`UTILISATION_RANGE`, with the likely cause."""
    g = plan.grids
    u = g["utilisation"].to_numpy(dtype=float)
    w, avail = g["workload_min"].to_numpy(dtype=float), g["available_min"].to_numpy(dtype=float)
    ok = np.isfinite(u)
    if not ok.any():
        return []
    pairs_needed = w[ok].sum() / np.mean(avail[ok])
    lo, hi = UTILISATION_RANGE
    out = []
    for below, side in ((True, f"below {lo}"), (False, f"above {hi}")):
        bad = ok & ((u < lo) if below else (u > hi))
        if not bad.any():
            continue
        ids = ", ".join(str(int(i)) for i in g.loc[bad, "grid_id"])
        text = f"utilisation {u[bad].min():.2f}-{u[bad].max():.2f} {side} in grids {ids} (workload / pair's minutes)"
        causes = []
        if below and pairs_needed < ok.sum():
            causes.append(f"too many pairs for {int(g['retailers'].sum())} retailers: their workload keeps about "
                          f"{pairs_needed:.1f} pairs busy, not {int(ok.sum())}")  # fmt: skip
        elif not below and pairs_needed > ok.sum():
            causes.append(f"too few pairs: the workload needs about {pairs_needed:.1f} pairs, not {int(ok.sum())}")
        else:
            causes.append("the grids' workloads or the pairs' shifts differ")
        if not below:
            travel = (g["travel_min"].to_numpy(dtype=float) / np.maximum(w, 1e-9))[bad]
            if travel.max() >= 0.5:
                modes = ", ".join(sorted(set(g.loc[bad, "travel_mode"].astype(str)))) if "travel_mode" in g else ""
                causes.append(f"slow travel: up to {travel.max():.0%} of the workload is travel ({modes})")
        rows = routed.index[routed["grid_id"].isin(g.loc[bad, "grid_id"]).to_numpy()]
        causes += [c for c in _model_causes(plan.metrics, routed, rows, days) if not c.startswith("few stops")]
        out.append(f"{text}; likely cause: {'; '.join(causes)}")
    return out
