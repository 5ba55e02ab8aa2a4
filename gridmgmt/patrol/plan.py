"""The daily patrol planner: a District and a date in, a PatrolPlan (stops, unplanned, routes) out.

Flow: visit candidates (:func:`gridmgmt.patrol.visits.visit_candidates`) -> squads
(:func:`gridmgmt.patrol.squads.build_squads`) -> one routing problem per travel mode ->
:func:`gridmgmt.patrol.solver.solve` -> stops with clock times, unplanned visits with reasons,
street geometry of each route.

Why one problem per travel mode: the solver takes one travel-time matrix for all its
vehicles, and a walking squad is three times slower than one on e-bikes. Modes are planned
in turn, slowest first (walk, ebike, car); visits a mode's squads leave out pass on to the
next mode, so the fastest squads sweep up what is left (and the far-away mandatory visits).
With grids, each candidate belongs to the squad of its grid: it is offered to that squad's
mode first, and other squads of the same mode pay a soft cost to take it (``own_grid_cost_s``).

Pre-selection keeps each problem small: every mandatory visit plus the best optional ones
(priority discounted by travel time from the squads' depots) up to ``preselect_factor`` times
the squads' estimated daily capacity.

Times inside the solver are seconds after midnight; the plan shows HH:MM and minutes.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmgmt._errors import InputError, Problem
from gridmgmt.patrol.solver import (
    Break,
    Result,
    RoutingProblem,
    SearchParams,
    StopCriterion,
    Vehicle,
    diagnose_visit,
    solve,
)
from gridmgmt.patrol.squads import MODE_ORDER, Squad, SquadRoster, build_squads
from gridmgmt.patrol.visits import visit_candidates
from gridmgmt.risk.district_risk import score_risk

log = logging.getLogger(__name__)

#: Solver cost units per priority point when a visit is left out (seconds of travel).
PENALTY_S_PER_POINT = 600
#: Cost of leaving out a mandatory visit (never worth it while it can be served).
MANDATORY_PENALTY = 10**9
#: Solver tuning for daily plans. The solver's defaults are tuned on Solomon (every visit
#: mandatory, no breaks); with optional visits and lunch breaks the first solution dominates:
#: on the demo's e-bike problem (8 squads, 337 candidates) parallel cheapest insertion takes
#: 2.5-4 s and plans 131 visits, while a portfolio of three strategies cut short by a 1.5-3 s
#: limit planned 15-20. So: one strong start, improved by the solver's default search (iterated
#: local search, two workers); each mode gets at least ``MIN_SOLVE_S``.
PATROL_PARAMS = SearchParams(first_solutions=("PARALLEL_CHEAPEST_INSERTION",), first_solution_share=0.8)
MIN_SOLVE_S = 2.0
STOP_COLUMNS = [
    "squad_id",
    "seq",
    "retailer_id",
    "name",
    "address",
    "purpose",
    "mandatory",
    "deadline",
    "arrival",
    "start",
    "departure",
    "travel_min",
    "wait_min",
    "service_min",
    "lunch_before",
    "window_open",
    "window_close",
    "lon",
    "lat",
    "checklist_zh",
    "checklist_en",
]
UNPLANNED_COLUMNS = ["retailer_id", "name", "purpose", "mandatory", "deadline", "priority", "reason"]


class NoSquadsError(InputError):
    """No squad can go out on the planned day."""


@dataclass
class SolverRun:
    """One routing problem as solved (kept for checks and diagnostics)."""

    mode: str
    problem: RoutingProblem
    result: Result
    node_retailer: dict[int, str]  # visit node -> retailer_id
    vehicle_squad: list[str]  # vehicle index -> squad_id


@dataclass
class PatrolPlan:
    """The plan of one day.

    Attributes
    ----------
    date : str
        The planned day, ``YYYY-MM-DD``.
    stops : DataFrame
        One row per visit in route order (:data:`STOP_COLUMNS`); times ``HH:MM``, durations min.
    unplanned : DataFrame
        Candidates not planned, each with a reason (:data:`UNPLANNED_COLUMNS`).
    summary : DataFrame
        One row per squad: visits, leave/return times, day length, travel, service, wait and
        lunch, in minutes.
    routes : GeoDataFrame
        One line per squad that goes out, along the streets (WGS-84); empty without geometry.
    candidates : DataFrame
        Every candidate considered (from :func:`visit_candidates`).
    squads : SquadRoster
        The squads planned and the grids left without a squad.
    notes : list of str
        Plain-language remarks (absent squads, unreachable shops, capacity).
    runtime_s : float
        Wall-clock time of planning, seconds.
    runs : list of SolverRun
        The routing problems and raw results.
    """

    date: str
    stops: pd.DataFrame
    unplanned: pd.DataFrame
    summary: pd.DataFrame
    routes: gpd.GeoDataFrame
    candidates: pd.DataFrame
    squads: SquadRoster
    notes: list[str] = field(default_factory=list)
    runtime_s: float = 0.0
    runs: list[SolverRun] = field(default_factory=list)

    def mandatory_unplanned(self) -> pd.DataFrame:
        """Mandatory visits (deadline today or past) that are not planned."""
        return self.unplanned.loc[self.unplanned["mandatory"].astype(bool)]


def hhmm(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` (rounded down to the minute)."""
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def plan_day(
    district: Any,
    date: str | pd.Timestamp,
    *,
    risk: pd.DataFrame | None = None,
    grids: gpd.GeoDataFrame | pd.DataFrame | None = None,
    squads: Iterable[str | int] | None = None,
    absent: Iterable[str] = (),
    events: pd.DataFrame | None = None,
    time_limit_s: float | None = 20.0,
    solution_limit: int | None = None,
    seed: int = 0,
    preselect_factor: float = 2.0,
    own_grid_cost_s: int = 900,
    span_cost: int = 1,
    reach_min: float = 20.0,
    geometry: bool = True,
    params: SearchParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> PatrolPlan:
    """Plan the joint patrol of ``district`` on ``date``.

    Parameters
    ----------
    district : District
        Loaded district (retailers, events, staff, depots, settings, road network).
    date : str or Timestamp
        Day to plan; only events before it are known.
    risk : DataFrame, optional
        Risk table (``retailer_id``, ``level``, ``score``, reasons); default
        :func:`gridmgmt.risk.district_risk.score_risk` as of ``date``.
    grids : GeoDataFrame or DataFrame, optional
        Grids from :func:`gridmgmt.grids.plan.load_grids` (``attrs["assignment"]``) or an
        assignment table ``retailer_id, grid_id``; default: the retailers' ``grid_id`` column
        when filled, else no own-grid preference.
    squads : iterable of str or int, optional
        Plan only these squads (``"G03"`` or ``3``).
    absent : iterable of str
        Staff ids absent today; their squads stay at home (see :mod:`gridmgmt.patrol.squads`).
    events : DataFrame, optional
        Event log to use instead of ``district.events`` (the simulation passes its own copy).
    time_limit_s : float, optional
        Wall-clock budget of the whole plan, seconds: after candidates and matrices, what is
        left goes to the solver runs (shared by the modes in proportion to their squads; at
        least ``MIN_SOLVE_S`` each, so a short budget may be overrun by a few seconds).
        None: only ``solution_limit`` stops the search.
    solution_limit : int, optional
        Stop each solver run after this many solutions: deterministic plans (tests). Use 1:
        with 2 or more the search may find no further solution on an easy day and run until
        the time limit (measured with guided local search: 12 s on a 20-visit problem, minutes
        without a time limit).
    seed : int
        Seed passed to the solver.
    preselect_factor : float
        Optional candidates kept per problem, as a multiple of the squads' daily capacity.
    own_grid_cost_s : int
        Soft cost (seconds of travel) for a squad to visit another grid's retailer.
    span_cost : int
        Cost per second of the longest day (balances day lengths).
    reach_min : float
        Slower modes planned before the fastest are offered only candidates within this
        travel time of their depots (or in their own grids), minutes.
    geometry : bool
        Compute route lines along the streets (skip in simulations).
    params : SearchParams, optional
        Solver tuning.
    progress : callable, optional
        Called with a short text at each step (the CLI shows it).

    Returns
    -------
    PatrolPlan

    Raises
    ------
    NoSquadsError
        No squad is available (everyone absent, or the subset is empty).
    InputError
        The date is before the end of the event history, or a depot lies off the road network.

    Notes
    -----
    A day without any candidate gives an empty plan with a note (``write_plan`` then refuses to
    write it). A squad with one member absent is dropped; its grid's retailers are offered to
    every other squad (``notes`` says so).
    """
    started = time.perf_counter()
    say = progress or (lambda text: log.info("%s", text))
    settings = district.settings
    day = pd.Timestamp(date).normalize()
    events = district.events if events is None else events
    if len(events):
        last = pd.to_datetime(events["time"]).max().normalize()
        if day <= last:
            raise InputError(
                Problem(
                    "events",
                    f"the event history runs to {last.date()}, so {day.date()} is already past",
                    field="time",
                    value=str(day.date()),
                    hint=f"plan a day after {last.date()}",
                )
            )
    roster = build_squads(district.staff, settings, squads=squads, absent=absent)
    if not roster.squads:
        why = "; ".join(f"grid {g}: {r}" for g, r in roster.uncovered) or "no squads selected"
        raise NoSquadsError(Problem("staff", "no squad is available on this day", value=str(day.date()), hint=why))
    notes = [f"grid {g} has no squad today ({r}); other squads may visit its retailers" for g, r in roster.uncovered]

    if risk is None:
        say("scoring risk")
        risk = score_risk(district, str(day.date()))
    say("selecting visit candidates")
    cands = visit_candidates(district.retailers, events, date=day, settings=settings, risk=risk)
    info = district.retailers.drop(columns="geometry", errors="ignore").set_index("retailer_id")
    cands = cands.merge(
        info[["name", "address", "lon", "lat"]].reset_index(), on="retailer_id", how="left", validate="one_to_one"
    )
    cands["home_squad"] = _home_squads(cands, district.retailers, grids, roster)
    cands = cands.sort_values(["mandatory", "priority", "retailer_id"], ascending=[False, False, True])
    cands = cands.reset_index(drop=True)
    reasons: dict[str, str] = {}
    empty = cands["window_open_min"] > cands["window_close_min"]
    for row in cands.loc[empty].itertuples():
        reasons[row.retailer_id] = (
            f"not open long enough during the shift (open {_clock(row.open_min)}-{_clock(row.close_min)}, "
            f"a visit takes {row.service_min:.0f} min)"
        )
    if cands.empty:
        notes.append("no visit candidates on this day")

    _check_depots(district, roster)
    modes = [m for m in MODE_ORDER if any(s.travel_mode == m for s in roster.squads)]
    stops_frames: list[pd.DataFrame] = []
    summaries: list[dict] = []
    runs: list[SolverRun] = []
    done: set[str] = set(reasons)
    for k, mode in enumerate(modes):
        group = [s for s in roster.squads if s.travel_mode == mode]
        later = {s.squad_id for m in modes[k + 1 :] for s in roster.squads if s.travel_mode == m}
        pool = cands.loc[~cands["retailer_id"].isin(done) & ~cands["home_squad"].isin(later)]
        final = k == len(modes) - 1
        limit = None
        if time_limit_s is not None:
            # the whole plan keeps to time_limit_s: what is left (less ~2 s for the route lines)
            # is shared by the remaining modes in proportion to their squads
            left_s = float(time_limit_s) - (time.perf_counter() - started) - (2.0 if geometry else 0.0)
            remaining = sum(1 for s in roster.squads if s.travel_mode in modes[k:])
            limit = max(MIN_SOLVE_S, left_s * len(group) / remaining)
        say(f"planning {len(group)} {mode} squad(s) from {len(pool)} candidates")
        run = _plan_mode(
            district,
            mode,
            group,
            pool,
            preselect_factor=preselect_factor,
            own_grid_cost_s=own_grid_cost_s,
            span_cost=span_cost,
            stop=StopCriterion(time_limit_s=limit, solution_limit=solution_limit),
            seed=seed,
            params=params,
            final=final,
            reach_min=reach_min,
            reasons=reasons,
        )
        if run is None:
            continue
        runs.append(run)
        stops, summary = _stops_of(run, cands.set_index("retailer_id"), group)
        stops_frames.append(stops)
        summaries += summary
        # dropped or cut candidates pass on to the next mode, whose reasons overwrite these
        done |= set(stops["retailer_id"]) if len(stops) else set()
    stops = pd.concat(stops_frames, ignore_index=True) if stops_frames else pd.DataFrame(columns=STOP_COLUMNS)
    stops = stops.reindex(columns=STOP_COLUMNS)
    stops = stops.sort_values(["squad_id", "seq"]).reset_index(drop=True)
    planned = set(stops["retailer_id"])
    left = cands.loc[~cands["retailer_id"].isin(planned)].copy()
    left["reason"] = [
        reasons.get(rid, "no capacity left today: the squads' days are full with higher-priority visits")
        for rid in left["retailer_id"]
    ]
    unplanned = left.reindex(columns=UNPLANNED_COLUMNS)
    summary = pd.DataFrame(summaries)
    for s in roster.squads:  # squads without any stop still get a summary row
        if summary.empty or s.squad_id not in set(summary["squad_id"]):
            summary = pd.concat([summary, pd.DataFrame([_idle_summary(s)])], ignore_index=True)
    summary = summary.sort_values("squad_id").reset_index(drop=True)
    n_mand = int(unplanned["mandatory"].astype(bool).sum())
    if n_mand:
        notes.append(f"{n_mand} mandatory visit(s) could not be planned; see unplanned.csv for why")
    routes = _route_lines(district, stops, roster) if geometry else _empty_routes()
    runtime = time.perf_counter() - started
    say(f"planned {len(stops)} visits, {len(unplanned)} unplanned, in {runtime:.1f} s")
    return PatrolPlan(
        date=str(day.date()),
        stops=stops,
        unplanned=unplanned.reset_index(drop=True),
        summary=summary,
        routes=routes,
        candidates=cands,
        squads=roster,
        notes=notes,
        runtime_s=runtime,
        runs=runs,
    )


# ----------------------------------------------------------------------------- helpers


def _clock(minutes: float) -> str:
    return hhmm(float(minutes) * 60)


def _home_squads(
    cands: pd.DataFrame,
    retailers: pd.DataFrame,
    grids: gpd.GeoDataFrame | pd.DataFrame | None,
    roster: SquadRoster,
) -> pd.Series:
    """Squad id owning each candidate's grid ('' when none: no grids, or the grid's squad is absent)."""
    if grids is not None:
        table = grids.attrs.get("assignment") if "assignment" in getattr(grids, "attrs", {}) else grids
        assignment = pd.DataFrame(table)[["retailer_id", "grid_id"]]
        grid_of = assignment.assign(retailer_id=assignment["retailer_id"].astype(str)).set_index("retailer_id")
        grid_of = grid_of["grid_id"]
    elif "grid_id" in retailers and retailers["grid_id"].notna().any():
        grid_of = retailers.set_index("retailer_id")["grid_id"]
    else:
        return pd.Series("", index=cands.index)
    squad_of = {s.grid_id: s.squad_id for s in roster.squads}
    grid = pd.to_numeric(cands["retailer_id"].map(grid_of), errors="coerce")
    return grid.map(lambda g: squad_of.get(int(g), "") if pd.notna(g) else "").astype(str)


def _check_depots(district: Any, roster: SquadRoster) -> None:
    """Every squad's depot must exist and lie near a street its mode may use."""
    from gridmgmt.network import snap_points

    depots = district.depots.set_index("depot_id")
    far = float(district.settings.speeds.far_snap_m)
    problems = []
    for mode in {s.travel_mode for s in roster.squads}:
        ids = sorted({s.depot for s in roster.squads if s.travel_mode == mode})
        missing = [d for d in ids if d not in depots.index]
        for d in missing:
            problems.append(Problem("depots", "depot of a squad is not in the depots table", field="depot_id", value=d))
        ids = [d for d in ids if d in depots.index]
        if not ids:
            continue
        snapped = snap_points(district.graph, depots.loc[ids, "lon"], depots.loc[ids, "lat"], mode=mode, far_snap_m=far)
        for d, dist in zip(ids, snapped["snap_dist_m"], strict=True):
            if dist > far:
                problems.append(
                    Problem(
                        "depots",
                        f"depot lies {dist:.0f} m from the nearest street a {mode} squad may use",
                        field="lon",
                        value=d,
                        hint="check the depot's coordinates (WGS-84) or the road network extent",
                    )
                )
    if problems:
        raise InputError(problems)


def _capacity_visits(squad: Squad, mean_service_min: float, travel_min: float) -> float:
    day = squad.shift_end_min - squad.shift_start_min - squad.lunch_min
    return max(1.0, day / (mean_service_min + travel_min))


_TRAVEL_GUESS_MIN = {"walk": 12.0, "ebike": 6.0, "car": 6.0}


def _plan_mode(
    district: Any,
    mode: str,
    group: list[Squad],
    pool: pd.DataFrame,
    *,
    preselect_factor: float,
    own_grid_cost_s: int,
    span_cost: int,
    stop: StopCriterion,
    seed: int,
    params: SearchParams | None,
    final: bool,
    reach_min: float,
    reasons: dict[str, str],
) -> SolverRun | None:
    """Build and solve one mode's problem; record reasons for what it leaves out."""
    from gridmgmt.network import travel_time_matrix

    graph = district.graph
    depots = district.depots.set_index("depot_id")
    depot_ids = sorted({s.depot for s in group})
    pool = pool.loc[pool["window_open_min"] <= pool["window_close_min"]]
    if pool.empty:
        return None
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
    if chosen.empty:
        return None

    # Nodes: depots first, then visits.
    lon = np.concatenate([depots.loc[depot_ids, "lon"].to_numpy(float), chosen["lon"].to_numpy(float)])
    lat = np.concatenate([depots.loc[depot_ids, "lat"].to_numpy(float), chosen["lat"].to_numpy(float)])
    matrix = travel_time_matrix(graph, (lon, lat), mode=mode, dtype=np.float64)
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
    names = depot_ids + chosen["retailer_id"].tolist()
    problem = RoutingProblem(
        duration_matrix=matrix,
        vehicles=vehicles,
        service_durations=service,
        time_windows=windows,
        optional_penalties=penalties,
        span_cost_coefficient=span_cost,
        names=names,
    )
    result = solve(problem, stop=stop, seed=seed, params=params or PATROL_PARAMS)
    if not result.found:
        log.warning("no %s route plan found (%s)", mode, result.status)
    node_retailer = {i: names[i] for i in range(nd, n)}
    mandatory = set(chosen.loc[chosen["mandatory"].astype(bool), "retailer_id"])
    for d in result.dropped:
        rid = node_retailer.get(d.node)
        if rid is None:
            continue
        if rid in mandatory:
            why = _readable(diagnose_visit(problem, d.node))
            reasons[rid] = f"mandatory, not served by the {mode} squads: {why}"
        else:
            reasons[rid] = "no capacity left today: the squads' days are full with higher-priority visits"
    run = SolverRun(mode, problem, result, node_retailer, [s.squad_id for s in group])
    return run


_SECONDS_RE = re.compile(r"\b(\d{4,6})\b")


def _readable(reason: str) -> str:
    """Solver reasons use seconds after midnight; show them as HH:MM."""
    return _SECONDS_RE.sub(lambda m: hhmm(int(m.group(1))) if int(m.group(1)) < 86400 else m.group(1), reason)


def _stops_of(run: SolverRun, cands: pd.DataFrame, group: list[Squad]) -> tuple[pd.DataFrame, list[dict]]:
    """Stops (with clock times) and per-squad summaries from one solver run."""
    dur = run.problem.duration_matrix
    rows: list[dict] = []
    summaries: list[dict] = []
    by_id = {s.squad_id: s for s in group}
    for route in run.result.routes:
        squad = by_id[run.vehicle_squad[route.vehicle]]
        if not route.is_used():
            summaries.append(_idle_summary(squad))
            continue
        lunch = [b for b in route.breaks if b.name == "lunch"]
        lunch_start = lunch[0].start if lunch else None
        prev_node, prev_departure = route.start_depot, route.start_time
        travel_total = service_total = wait_total = 0
        for seq, st in enumerate(route.stops, start=1):
            c = cands.loc[run.node_retailer[st.node]]
            travel = int(dur[prev_node, st.node])
            lunch_here = lunch_start is not None and prev_departure <= lunch_start < st.start
            gap = st.start - prev_departure - travel - (lunch[0].end - lunch[0].start if lunch_here else 0)
            rows.append(
                {
                    "squad_id": squad.squad_id,
                    "seq": seq,
                    "retailer_id": run.node_retailer[st.node],
                    "name": c["name"],
                    "address": c["address"],
                    "purpose": c["purpose"],
                    "mandatory": bool(c["mandatory"]),
                    "deadline": pd.Timestamp(c["deadline"]).date().isoformat() if pd.notna(c["deadline"]) else "",
                    "arrival": hhmm(st.arrival),
                    "start": hhmm(st.start),
                    "departure": hhmm(st.departure),
                    "travel_min": round(travel / 60, 1),
                    "wait_min": round(max(gap, 0) / 60, 1),
                    "service_min": round((st.departure - st.start) / 60, 1),
                    "lunch_before": bool(lunch_here),
                    "window_open": _clock(c["window_open_min"]),
                    "window_close": _clock(c["window_close_min"]),
                    "lon": float(c["lon"]),
                    "lat": float(c["lat"]),
                    "checklist_zh": c["checklist_zh"],
                    "checklist_en": c["checklist_en"],
                    "arrival_s": st.arrival,
                    "start_s": st.start,
                    "departure_s": st.departure,
                }
            )
            travel_total += travel
            service_total += st.departure - st.start
            wait_total += max(gap, 0)
            prev_node, prev_departure = st.node, st.departure
        travel_total += int(dur[prev_node, route.end_depot])
        summaries.append(
            {
                "squad_id": squad.squad_id,
                "grid_id": squad.grid_id,
                "members": "、".join(squad.member_names),
                "travel_mode": squad.travel_mode,
                "depot": squad.depot,
                "visits": len(route.stops),
                "leave": hhmm(route.start_time),
                "back": hhmm(route.end_time),
                "day_min": round(route.duration / 60, 1),
                "travel_min": round(travel_total / 60, 1),
                "service_min": round(service_total / 60, 1),
                "wait_min": round(wait_total / 60, 1),
                "lunch": f"{hhmm(lunch[0].start)}-{hhmm(lunch[0].end)}" if lunch else "",
                "lunch_min": round((lunch[0].end - lunch[0].start) / 60, 1) if lunch else 0.0,
            }
        )
    return pd.DataFrame(rows), summaries


def _idle_summary(squad: Squad) -> dict:
    return {
        "squad_id": squad.squad_id,
        "grid_id": squad.grid_id,
        "members": "、".join(squad.member_names),
        "travel_mode": squad.travel_mode,
        "depot": squad.depot,
        "visits": 0,
        "leave": "",
        "back": "",
        "day_min": 0.0,
        "travel_min": 0.0,
        "service_min": 0.0,
        "wait_min": 0.0,
        "lunch": "",
        "lunch_min": 0.0,
    }


def _empty_routes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"squad_id": [], "travel_mode": [], "visits": []}, geometry=[], crs="EPSG:4326")


def _route_lines(district: Any, stops: pd.DataFrame, roster: SquadRoster) -> gpd.GeoDataFrame:
    """Each squad's day as one line along the streets: depot -> stops -> depot.

    Each point joins the street network at the nearer end of its snapped street edge; legs
    follow the fastest path for the squad's mode (one Dijkstra run per stop, on the cached
    array form of the network) and each street's own geometry.
    """
    from scipy.sparse.csgraph import dijkstra

    from gridmgmt.network import network_arrays, snap_points

    if stops.empty:
        return _empty_routes()
    graph = district.graph
    depots = district.depots.set_index("depot_id")
    rows = []
    for mode in MODE_ORDER:
        group = [s for s in roster.squads if s.travel_mode == mode and s.squad_id in set(stops["squad_id"])]
        if not group:
            continue
        arrays = network_arrays(graph, mode, "time")
        for s in group:
            mine = stops.loc[stops["squad_id"] == s.squad_id].sort_values("seq")
            home = (float(depots.loc[s.depot, "lon"]), float(depots.loc[s.depot, "lat"]))
            points = [home, *zip(mine["lon"].astype(float), mine["lat"].astype(float), strict=True), home]
            snapped = snap_points(graph, [p[0] for p in points], [p[1] for p in points], mode=mode)
            nodes = np.where(snapped["frac"] < 0.5, snapped["u"], snapped["v"])
            index = arrays.index_of(nodes)
            _, pred = dijkstra(arrays.csr, indices=index[:-1], return_predecessors=True)
            coords: list[tuple[float, float]] = []
            for leg in range(len(points) - 1):
                coords.append(points[leg])
                coords.append((float(snapped["snap_lon"].iloc[leg]), float(snapped["snap_lat"].iloc[leg])))
                path = [int(index[leg + 1])]
                while path[-1] != index[leg] and path[-1] >= 0:
                    path.append(int(pred[leg, path[-1]]))
                if path[-1] < 0:  # unreachable: straight line
                    continue
                path_nodes = [arrays.nodes[k] for k in reversed(path)]
                for a, b in itertools.pairwise(path_nodes):
                    coords += _street(graph, a, b)
                coords.append((float(snapped["snap_lon"].iloc[leg + 1]), float(snapped["snap_lat"].iloc[leg + 1])))
            coords.append(points[-1])
            clean = [coords[0]] + [c for prev, c in itertools.pairwise(coords) if c != prev]
            if len(clean) < 2:
                clean.append(clean[0])
            rows.append(
                {
                    "squad_id": s.squad_id,
                    "travel_mode": mode,
                    "visits": len(mine),
                    "geometry": shapely.LineString(clean),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").sort_values("squad_id").reset_index(drop=True)


def _street(graph: Any, a: Any, b: Any) -> list[tuple[float, float]]:
    """Coordinates of the street from node a to node b (either direction: walkers use both)."""
    data = graph.get_edge_data(a, b) or {}
    backwards = False
    if not data:
        data, backwards = graph.get_edge_data(b, a) or {}, True
    if not data:
        return [(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])]
    edge = min(data.values(), key=lambda d: float(d.get("length", 0.0)))
    if "geometry" in edge:
        coords = [tuple(c) for c in edge["geometry"].coords]
        return coords[::-1] if backwards else coords
    ends = [(graph.nodes[a]["x"], graph.nodes[a]["y"]), (graph.nodes[b]["x"], graph.nodes[b]["y"])]
    return ends


def check_plan(plan: PatrolPlan) -> list[str]:
    """Recompute every planned time from the solver's matrices; return the violations found (empty = valid).

    Checks per route: service starts within the visit's window, arrival = previous departure +
    travel (+ lunch) + waiting, the squad leaves and returns within its shift, lunch lies in
    its window with its full length, no retailer is visited twice in the day.
    """
    errors: list[str] = []
    seen: set[str] = set()
    for run in plan.runs:
        p = run.problem
        for route in run.result.routes:
            if not route.is_used():
                continue
            v = p.vehicles[route.vehicle]
            name = route.vehicle_name
            if route.start_time < v.shift_start or route.end_time > p.shift_end_of(v):
                errors.append(f"{name}: day {route.start_time}-{route.end_time} outside shift")
            for b, spec in zip(route.breaks, v.breaks, strict=False):
                if not spec.earliest_start <= b.start <= spec.latest_start or b.end - b.start < spec.duration:
                    errors.append(f"{name}: {b.name} {b.start}-{b.end} outside its window")
                for st in route.stops:
                    if st.start < b.end and b.start < st.departure:
                        errors.append(f"{name}: {b.name} overlaps the visit to {st.name}")
            t, prev = route.start_time, route.start_depot
            for st in route.stops:
                rid = run.node_retailer[st.node]
                if rid in seen:
                    errors.append(f"{rid} visited twice")
                seen.add(rid)
                earliest = t + int(p.duration_matrix[prev, st.node])
                if st.arrival < earliest:
                    errors.append(f"{name}: arrives at {rid} at {st.arrival}, before {earliest}")
                a, b = (int(x) for x in p.time_windows[st.node])
                if not a <= st.start <= b:
                    errors.append(f"{name}: starts {rid} at {st.start}, outside [{a}, {b}]")
                if st.departure - st.start != int(p.service_durations[st.node]):
                    errors.append(f"{name}: service at {rid} is not its service time")
                t, prev = st.departure, st.node
            if route.end_time < t + int(p.duration_matrix[prev, route.end_depot]):
                errors.append(f"{name}: back at the depot too early")
    return errors


def retailers_of(plan: PatrolPlan) -> set[str]:
    """Retailer ids visited in the plan."""
    return set(plan.stops["retailer_id"].astype(str))
