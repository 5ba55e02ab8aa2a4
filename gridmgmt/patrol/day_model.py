"""One travel mode's routing model for the day: pre-selected visits, travel-time matrix, squads as vehicles.

Pre-selection keeps each problem small: every mandatory visit plus the best optional ones
(priority discounted by travel time from the squads' depots) up to ``preselect_factor`` times
the squads' estimated daily capacity. Times in the model are seconds after midnight; costs are
seconds of travel (a left-out visit costs :data:`PENALTY_S_PER_POINT` per priority point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridmgmt.network import travel_time_matrix
from gridmgmt.patrol.model import Break, Result, RoutingProblem, Vehicle
from gridmgmt.patrol.search import SearchParams
from gridmgmt.patrol.squads import Squad

__all__ = [
    "MANDATORY_PENALTY",
    "PATROL_PARAMS",
    "PENALTY_S_PER_POINT",
    "SolverRun",
    "build_problem",
    "preselect",
]

#: Solver cost units per priority point when a visit is left out (seconds of travel).
PENALTY_S_PER_POINT = 600
#: Cost of leaving out a mandatory visit (never worth it while it can be served).
MANDATORY_PENALTY = 10**9
#: Solver tuning for daily plans. The solver's defaults are tuned on Solomon (every visit
#: mandatory, no breaks); with optional visits and lunch breaks the first solution dominates:
#: on the demo's e-bike problem (8 squads, 337 candidates) parallel cheapest insertion takes
#: 2.5-4 s and plans 131 visits, while a portfolio of three strategies cut short by a 1.5-3 s
#: limit planned 15-20. So: one strong start, improved by the solver's default search (iterated
#: local search, two workers); the day planner gives each mode at least a few seconds.
PATROL_PARAMS = SearchParams(first_solutions=("PARALLEL_CHEAPEST_INSERTION",), first_solution_share=0.8)

#: Guessed travel minutes between two visits, by mode (for the capacity estimate only).
_TRAVEL_GUESS_MIN = {"walk": 12.0, "ebike": 6.0, "car": 6.0}


@dataclass
class SolverRun:
    """One routing problem as solved (kept for checks and diagnostics)."""

    mode: str
    problem: RoutingProblem
    result: Result
    node_retailer: dict[int, str]  # visit node -> retailer_id
    vehicle_squad: list[str]  # vehicle index -> squad_id


def preselect(
    district: Any,
    mode: str,
    group: list[Squad],
    pool: pd.DataFrame,
    *,
    preselect_factor: float,
    reach_min: float,
    final: bool,
    reasons: dict[str, str],
) -> pd.DataFrame:
    """The candidates one mode's squads are offered: every mandatory one plus the best optional ones.

    Parameters
    ----------
    district : District
        Road network (``graph``) and ``depots``.
    mode : str
        Travel mode of ``group``.
    group : list of Squad
        The squads of this mode.
    pool : DataFrame
        Candidates still open (with ``home_squad``, ``lon``, ``lat``, windows in minutes).
    preselect_factor : float
        Optional candidates kept, as a multiple of the squads' daily capacity.
    reach_min : float
        When not ``final``: only candidates within this travel time of a depot (or in the
        squads' own grids), minutes.
    final : bool
        The last (fastest) mode: it takes whatever is left, and unreachable candidates get
        their reason here.
    reasons : dict
        ``retailer_id -> reason``, updated for the candidates cut here.

    Returns
    -------
    DataFrame
        The chosen candidates (mandatory first), with ``depot_s``, the travel time from the
        nearest depot in seconds; empty when nothing is left.
    """
    graph = district.graph
    depots = district.depots.set_index("depot_id")
    depot_ids = sorted({s.depot for s in group})
    pool = pool.loc[pool["window_open_min"] <= pool["window_close_min"]]
    if pool.empty:
        return pool
    # Pre-selection: all mandatory, then optional by priority discounted by depot distance.
    to_pool = travel_time_matrix(
        graph, (depots.loc[depot_ids, "lon"], depots.loc[depot_ids, "lat"]), pool[["lon", "lat"]], mode=mode
    )
    from_pool = travel_time_matrix(
        graph, pool[["lon", "lat"]], (depots.loc[depot_ids, "lon"], depots.loc[depot_ids, "lat"]), mode=mode
    )
    nearest_s = np.min(to_pool, axis=0)
    back_s = np.min(from_pool, axis=1)
    reachable = np.isfinite(nearest_s) & np.isfinite(back_s)
    for rid in pool["retailer_id"].to_numpy()[~reachable]:
        if final:
            reasons[rid] = f"unreachable on the road network for the {mode} squads from their depots"
    pool = pool.loc[reachable].assign(depot_s=nearest_s[reachable])
    if not final:
        # slower modes go first: offer them what lies near their depots (and their own grids'
        # visits); the rest, mandatory or not, passes on to the faster squads
        near = (pool["depot_s"] <= reach_min * 60) | pool["home_squad"].isin({s.squad_id for s in group})
        pool = pool.loc[near]
    own = pool["home_squad"].isin({s.squad_id for s in group})
    mean_service = float(pool["service_min"].mean()) if len(pool) else 20.0
    capacity = sum(_capacity_visits(s, mean_service, _TRAVEL_GUESS_MIN[mode]) for s in group)
    keep_n = math.ceil(preselect_factor * capacity)
    score = pool["priority"] / (1.0 + pool["depot_s"] / 900.0) * np.where(own, 1.5, 1.0)
    optional = pool.loc[~pool["mandatory"].astype(bool)].assign(_score=score)
    optional = optional.sort_values(["_score", "retailer_id"], ascending=[False, True])
    chosen = pd.concat([pool.loc[pool["mandatory"].astype(bool)], optional.head(keep_n).drop(columns="_score")])
    cut = set(optional["retailer_id"].iloc[keep_n:])
    for rid in cut:
        reasons[rid] = "lower priority than today's planned visits (not among the best candidates for today)"
    return chosen


def build_problem(
    district: Any,
    mode: str,
    group: list[Squad],
    chosen: pd.DataFrame,
    *,
    own_grid_cost_s: int,
    span_cost: int,
) -> RoutingProblem:
    """The routing problem of one mode: depots first, then the chosen visits; one vehicle per squad.

    Parameters
    ----------
    district : District
        Road network (``graph``) and ``depots``.
    mode : str
        Travel mode of the squads (the matrix is for this mode).
    group : list of Squad
        The squads, in vehicle order.
    chosen : DataFrame
        Visits from :func:`preselect` (node ``i`` is row ``i - number of depots``).
    own_grid_cost_s : int
        Soft cost (seconds of travel) for a squad to visit another grid's retailer.
    span_cost : int
        Cost per second of the longest day (balances day lengths).

    Returns
    -------
    RoutingProblem
        Seconds after midnight; node names are depot ids, then retailer ids.
    """
    depots = district.depots.set_index("depot_id")
    depot_ids = sorted({s.depot for s in group})
    lon = np.concatenate([depots.loc[depot_ids, "lon"].to_numpy(float), chosen["lon"].to_numpy(float)])
    lat = np.concatenate([depots.loc[depot_ids, "lat"].to_numpy(float), chosen["lat"].to_numpy(float)])
    matrix = travel_time_matrix(district.graph, (lon, lat), mode=mode, dtype=np.float64)
    big = 10 * 24 * 3600
    matrix = np.where(np.isfinite(matrix), np.ceil(matrix), big).astype(np.int64)
    np.fill_diagonal(matrix, 0)
    nd = len(depot_ids)
    n = len(lon)
    service = np.zeros(n, dtype=np.int64)
    service[nd:] = np.round(chosen["service_min"].to_numpy(float) * 60).astype(np.int64)
    windows = np.zeros((n, 2), dtype=np.int64)
    windows[:nd] = [min(s.shift_start_min for s in group) * 60, max(s.shift_end_min for s in group) * 60]
    windows[nd:, 0] = np.round(chosen["window_open_min"].to_numpy(float) * 60)
    windows[nd:, 1] = np.round(chosen["window_close_min"].to_numpy(float) * 60)
    penalties = {}
    for i, row in enumerate(chosen.itertuples(), start=nd):
        penalties[i] = MANDATORY_PENALTY if row.mandatory else round(row.priority * PENALTY_S_PER_POINT)
    home = chosen["home_squad"].to_numpy()
    vehicles = []
    for s in group:
        d = depot_ids.index(s.depot)
        foreign = {i: own_grid_cost_s for i in range(nd, n) if home[i - nd] and home[i - nd] != s.squad_id}
        lunch = Break(s.lunch_earliest_min * 60, s.lunch_latest_start_min * 60, s.lunch_min * 60, name="lunch")
        vehicles.append(
            Vehicle(
                start=d,
                end=d,
                shift_start=s.shift_start_min * 60,
                shift_end=s.shift_end_min * 60,
                breaks=(lunch,),
                node_costs=foreign,
                name=s.squad_id,
            )
        )
    return RoutingProblem(
        duration_matrix=matrix,
        vehicles=vehicles,
        service_durations=service,
        time_windows=windows,
        optional_penalties=penalties,
        span_cost_coefficient=span_cost,
        names=depot_ids + chosen["retailer_id"].tolist(),
    )


def _capacity_visits(squad: Squad, mean_service_min: float, travel_min: float) -> float:
    """Visits a squad can make in a day, roughly (service plus a guessed travel time each)."""
    day = squad.shift_end_min - squad.shift_start_min - squad.lunch_min
    return max(1.0, day / (mean_service_min + travel_min))
