"""One travel mode's routing model for the day: pre-selected visits, travel-time matrix, squads as vehicles.

Pre-selection keeps each problem small: every mandatory visit plus the best optional ones
(priority discounted by travel time from the squads' depots) up to ``preselect_factor`` times
each squad's estimated daily capacity from its own grid (and as much again from grids without a
squad today). Times in the model are seconds after midnight; costs are seconds of travel (a
left-out visit costs :data:`PENALTY_S_PER_POINT` per priority point).

Routes stay home (a rule, not a preference): each squad may serve only its own grid's visits
and those of grids without a squad today (OR-Tools allowed vehicles). The one exception is a
mandatory visit its own squad cannot fit: any squad of the mode may take it, at a cover cost
larger than everything the own squad could give up to fit it (every optional visit's penalty and
the whole span cost), so the solver hands it over only when the own squad is full.
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
    "cover_cost",
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
#: local search, two workers); the day planner gives each mode at least a few seconds. The ILS
#: re-inserts ruined visits highest penalty first: a mandatory visit takes its place in its own
#: squad's day before optional visits fill it (otherwise another squad covers it needlessly).
#: On the clock, PyVRP's seed takes half of each mode's time: OR-Tools' descent from its routes
#: (lunch, own grid, deadlines) takes 2.5-3.5 s on the demo's e-bike day, and with 90% the 10 s
#: plan took 11.7-12.3 s for the same travel (813.8-820.8 min at half, three runs each).
PATROL_PARAMS = SearchParams(
    first_solutions=("PARALLEL_CHEAPEST_INSERTION",),
    first_solution_share=0.8,
    insertion_sorting=("SORTING_PROPERTY_PENALTY", "SORTING_PROPERTY_ALLOWED_VEHICLES"),
    seed_share=0.5,
)

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
    mine = {s.squad_id for s in group}
    mean_service = float(pool["service_min"].mean()) if len(pool) else 20.0
    capacity = {s.squad_id: _capacity_visits(s, mean_service, _TRAVEL_GUESS_MIN[mode]) for s in group}
    score = pool["priority"] / (1.0 + pool["depot_s"] / 900.0)
    optional = pool.loc[~pool["mandatory"].astype(bool)].assign(_score=score)
    optional = optional.sort_values(["_score", "retailer_id"], ascending=[False, True])
    # each squad is offered the best of its own grid; grids without a squad today share the mode's capacity
    home = optional["home_squad"].where(optional["home_squad"].isin(mine), "")
    quota = {sid: math.ceil(preselect_factor * c) for sid, c in capacity.items()}
    quota[""] = math.ceil(preselect_factor * sum(capacity.values()))
    rank = home.groupby(home).cumcount()
    keep = rank < home.map(quota)
    chosen = pd.concat([pool.loc[pool["mandatory"].astype(bool)], optional.loc[keep].drop(columns="_score")])
    for rid in optional.loc[~keep, "retailer_id"]:
        reasons[rid] = "lower priority than today's planned visits (not among the best candidates for today)"
    return chosen


def build_problem(
    district: Any, mode: str, group: list[Squad], chosen: pd.DataFrame, *, span_cost: int
) -> RoutingProblem:
    """The routing problem of one mode: depots first, then the chosen visits; one vehicle per squad.

    Each squad may serve its own grid's visits and those without a squad today (``home_squad``
    empty or not of this mode); another squad's mandatory visits only at :func:`cover_cost`.

    Parameters
    ----------
    district : District
        Road network (``graph``) and ``depots``.
    mode : str
        Travel mode of the squads (the matrix is for this mode).
    group : list of Squad
        The squads, in vehicle order.
    chosen : DataFrame
        Visits from :func:`preselect` (node ``i`` is row ``i - number of depots``), with
        ``home_squad`` and ``mandatory``.
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
    horizon = int(windows[:, 1].max())
    cover = cover_cost(penalties, span_cost=span_cost, horizon_s=horizon)
    squad_ids = {s.squad_id for s in group}
    home = [h if h in squad_ids else "" for h in chosen["home_squad"].astype(str)]
    mandatory = chosen["mandatory"].astype(bool).to_numpy()
    vehicles = []
    for s in group:
        d = depot_ids.index(s.depot)
        allowed, costs = set(), {}
        for i in range(nd, n):
            owner = home[i - nd]
            if owner in ("", s.squad_id):
                allowed.add(i)
            elif mandatory[i - nd]:  # another squad's mandatory visit: only when that squad is full
                allowed.add(i)
                costs[i] = cover
        lunch = Break(s.lunch_earliest_min * 60, s.lunch_latest_start_min * 60, s.lunch_min * 60, name="lunch")
        vehicles.append(
            Vehicle(
                start=d,
                end=d,
                shift_start=s.shift_start_min * 60,
                shift_end=s.shift_end_min * 60,
                breaks=(lunch,),
                allowed_nodes=frozenset(allowed),
                node_costs=costs,
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


def cover_cost(penalties: dict[int, int], *, span_cost: int, horizon_s: int) -> int:
    """Cost for a squad to take another grid's mandatory visit, in the solver's cost units.

    Larger than all the own squad could give up to fit the visit itself (every optional visit's
    penalty plus the largest possible span cost), so covering wins only when the own squad
    cannot fit it; smaller than :data:`MANDATORY_PENALTY`, so covering beats leaving it out.

    Parameters
    ----------
    penalties : dict
        ``node -> penalty`` of every visit (mandatory ones at :data:`MANDATORY_PENALTY`).
    span_cost : int
        Cost per second of the longest day.
    horizon_s : int
        Latest time of the day, seconds after midnight.

    Returns
    -------
    int
    """
    optional = sum(p for p in penalties.values() if p < MANDATORY_PENALTY)
    return min(optional + span_cost * horizon_s + 1, MANDATORY_PENALTY // 10)


def _capacity_visits(squad: Squad, mean_service_min: float, travel_min: float) -> float:
    """Visits a squad can make in a day, roughly (service plus a guessed travel time each)."""
    day = squad.shift_end_min - squad.shift_start_min - squad.lunch_min
    return max(1.0, day / (mean_service_min + travel_min))
