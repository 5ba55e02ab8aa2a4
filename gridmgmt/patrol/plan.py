"""The daily patrol planner: a District and a date in, a PatrolPlan (stops, unplanned, routes) out.

Flow (:func:`plan_day`): check the date -> squads of the day
(:func:`gridmgmt.patrol.squads.build_squads`) -> visit candidates
(:func:`gridmgmt.patrol.visits.visit_candidates`) -> per travel mode: pre-select and build the
routing model (:mod:`gridmgmt.patrol.day_model`), :func:`gridmgmt.patrol.solver.solve`, read
the stops (:mod:`gridmgmt.patrol.stops`) -> assemble the plan: stops with clock times,
unplanned visits with reasons, street geometry of each route (:mod:`gridmgmt.patrol.route_lines`).

Why one problem per travel mode: the solver takes one travel-time matrix for all its
vehicles, and a walking squad is three times slower than one on e-bikes. Modes are planned
in turn, slowest first (walk, ebike, car).

Routes stay home: with grids, each candidate belongs to the squad of its grid, and only that
squad may visit it. Another squad takes it only when the grid has no squad today (absent, or
not in this plan when it allows cover: any squad may then) or when it is mandatory and its own
squad cannot fit it (passed on to the other squads of the mode and then to the faster modes, at a
cost above anything the own squad could give up). Every stop outside the squad's own grid says why
(``cross_grid_reason``); ``summary`` has each squad's share of stops in its own grid.

A plan of some squads only visits their own grids' retailers unless it allows cover of the
other grids (``cover_other_grids``): two leaders planning their squads apart never send two
squads to one grid. The other grids' candidates are then unplanned, saying whose grid they are.

Deterministic plans: with ``solution_limit`` and ``time_limit_s=None`` nothing depends on the
clock; the day's solution budget is shared by the modes in proportion to their squads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.coords import WGS84
from gridmgmt.grids.pairs import staff_in_grids
from gridmgmt.network import snap_points
from gridmgmt.patrol.day_model import PATROL_PARAMS, SolverRun, build_problem, preselect
from gridmgmt.patrol.model import SolverCrashError
from gridmgmt.patrol.route_lines import empty_routes, route_lines
from gridmgmt.patrol.search import SearchParams, StopCriterion
from gridmgmt.patrol.solver import solve
from gridmgmt.patrol.squads import MODE_ORDER, Squad, SquadRoster, build_squads
from gridmgmt.patrol.stops import (
    NO_CAPACITY,
    STOP_COLUMNS,
    clock,
    cover_reason,
    explain_dropped,
    idle_summary,
    own_grid_shares,
    stops_of,
)
from gridmgmt.patrol.visits import visit_candidates
from gridmgmt.risk.district_risk import score_risk

log = logging.getLogger(__name__)

__all__ = [
    "DETERMINISTIC_SOLUTIONS",
    "MIN_SOLVE_S",
    "OTHER_GRID_PREFIX",
    "UNPLANNED_COLUMNS",
    "NoSquadsError",
    "PatrolPlan",
    "PlanOptions",
    "check_plan",
    "plan_day",
]

#: Each travel mode's solver run gets at least this many seconds under a time limit.
MIN_SOLVE_S = 2.0
#: Solution budget of a deterministic day plan (``solution_limit``, no time limit): the demo day
#: (12 squads, 761 candidates) plans in 20-30 s on 2 shared cores, as many visits as in 12 s on the clock.
DETERMINISTIC_SOLUTIONS = 200
#: How the reason of a candidate left to its own grid's squad begins (followed by the grid id).
OTHER_GRID_PREFIX = "other squad's grid"
UNPLANNED_COLUMNS = ["retailer_id", "name", "purpose", "mandatory", "deadline", "priority", "reason"]


class NoSquadsError(InputError):
    """No squad can go out on the planned day."""


@dataclass(frozen=True)
class PlanOptions:
    """How to plan a day: which squads, how long to search, and the planner's trade-offs.

    Parameters
    ----------
    squads : tuple of str or int, optional
        Plan only these squads (``"G03"`` or ``3``); None: every squad.
    absent : tuple of str
        Staff ids absent today; their squads stay at home (see :mod:`gridmgmt.patrol.squads`).
    time_limit_s : float, optional
        Wall-clock budget of the whole plan, seconds: after candidates and matrices, what is
        left goes to the solver runs (shared by the modes in proportion to their squads; at
        least :data:`MIN_SOLVE_S` each, so a short budget may be overrun by a few seconds).
        None: only ``solution_limit`` stops the search.
    solution_limit : int, optional
        Solutions for the whole day, shared by the modes in proportion to their squads (each
        mode at least 1). With ``time_limit_s=None`` the plan is deterministic: the same inputs
        give the same plan, byte for byte (:data:`DETERMINISTIC_SOLUTIONS` is a good budget);
        with both, the first limit reached stops each search. Use 1 in tests.
    seed : int
        Seed passed to the solver.
    preselect_factor : float
        Optional candidates kept per problem, as a multiple of the squads' daily capacity.
    span_cost : int
        Cost per second of the longest day (balances day lengths).
    reach_min : float
        Slower modes planned before the fastest are offered only candidates within this
        travel time of their depots (or in their own grids), minutes.
    geometry : bool
        Compute route lines along the streets (skip in simulations).
    cover_other_grids : bool
        With ``squads``, also offer the planned squads the retailers of the grids not in this plan
        (and of grids without any squad); default: only their own grids' (and those of grids
        without grids at all).
    params : SearchParams, optional
        Solver tuning; default :data:`gridmgmt.patrol.day_model.PATROL_PARAMS`.
    """

    squads: tuple[str | int, ...] | None = None
    absent: tuple[str, ...] = ()
    time_limit_s: float | None = 20.0
    solution_limit: int | None = None
    seed: int = 0
    preselect_factor: float = 2.0
    span_cost: int = 1
    reach_min: float = 20.0
    geometry: bool = True
    cover_other_grids: bool = False
    params: SearchParams | None = None

    def __post_init__(self) -> None:
        # any iterable is accepted (lists from the CLI); kept as tuples so the options stay immutable
        if self.squads is not None:
            object.__setattr__(self, "squads", tuple(self.squads))
        object.__setattr__(self, "absent", tuple(self.absent))


@dataclass
class PatrolPlan:
    """The plan of one day.

    Attributes
    ----------
    date : str
        The planned day, ``YYYY-MM-DD``.
    stops : DataFrame
        One row per visit in route order (:data:`gridmgmt.patrol.stops.STOP_COLUMNS`); times ``HH:MM``,
        durations min.
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
        The routing problems and raw results, one per travel mode
        (:class:`gridmgmt.patrol.day_model.SolverRun`).
    grids : GeoDataFrame, optional
        The grid polygons the plan was made for (WGS-84, ``grid_id``), for the route map.
    failures : list of SolverCrashError
        One per travel mode whose route search died (a native abort of OR-Tools in its helper
        process), naming its squads; their candidates are in ``unplanned`` with that reason
        (unless a later mode took them), the other squads' routes are planned as usual.
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
    grids: gpd.GeoDataFrame | None = None
    failures: list[SolverCrashError] = field(default_factory=list)

    def mandatory_unplanned(self) -> pd.DataFrame:
        """Mandatory visits (deadline today or past) that are not planned."""
        return self.unplanned.loc[self.unplanned["mandatory"].astype(bool)]

    def failure(self) -> SolverCrashError | None:
        """One error for every route search that died (None when none did), its details as notes."""
        if not self.failures:
            return None
        error = SolverCrashError(
            "; ".join(str(exc) for exc in self.failures)
            + ": these squads have no routes today (see unplanned.csv); the other squads were planned",
            vehicles=tuple(name for exc in self.failures for name in exc.vehicles),
        )
        for exc in self.failures:
            error.add_note(f"{exc}\n{exc.details}")
        return error


def plan_day(
    district: Any,
    date: str | pd.Timestamp,
    *,
    risk: pd.DataFrame | None = None,
    grids: gpd.GeoDataFrame | pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    options: PlanOptions | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
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
        Grids from :func:`gridmgmt.grids.plan.load_grids` (``attrs["assignment"]``; the
        polygons go on the route map) or an assignment table ``retailer_id, grid_id``; default:
        the retailers' ``grid_id`` column when filled, else no grids (any squad visits anyone).
    events : DataFrame, optional
        Event log to use instead of ``district.events`` (the simulation passes its own copy).
    options : PlanOptions, optional
        Squads, search limits, seed and trade-offs (default ``PlanOptions()``).
    progress : callable, optional
        Called with a short text at each step (the CLI shows it).
    **overrides
        Fields of :class:`PlanOptions` to set on top of ``options``, e.g.
        ``plan_day(d, day, seed=0, time_limit_s=12)``.

    Returns
    -------
    PatrolPlan

    Raises
    ------
    NoSquadsError
        No squad is available (everyone absent, or the subset is empty).
    InputError
        The date is before the end of the event history, or a depot lies off the road network.
    TypeError
        An override is not a field of :class:`PlanOptions`.

    Notes
    -----
    A day without any candidate gives an empty plan with a note (``write_plan`` then refuses to
    write it). A squad with one member absent is dropped; its grid's retailers are offered to
    every other squad (``notes`` says so, and each such stop's ``cross_grid_reason``).
    """
    started = time.perf_counter()
    options = replace(options or PlanOptions(), **overrides)
    say = progress or (lambda text: log.info("%s", text))
    day = pd.Timestamp(date).normalize()
    events = district.events if events is None else events
    _check_day_is_ahead(events, day)
    roster = _squads_of_the_day(district, day, options, grids)
    notes = [f"grid {g} has no squad today ({r}); other squads cover its retailers" for g, r in roster.uncovered]
    if risk is None:
        say("scoring risk")
        risk = score_risk(district, str(day.date()))
    say("selecting visit candidates")
    cands, reasons = _select_visits(district, events, day, risk, grids, roster, subset=options.squads is not None)
    if options.squads is not None and not options.cover_other_grids:
        _keep_to_own_grids(cands, roster, reasons)
    if cands.empty:
        notes.append("no visit candidates on this day")
    _check_depots(district, roster)
    runs, stops, summaries, failures = _plan_modes(district, cands, roster, reasons, options, started, say)
    plan = _assemble(day, cands, roster, runs, stops, summaries, reasons, notes)
    plan.failures = failures
    plan.grids = _grid_polygons(grids)
    if options.geometry:
        plan.routes = route_lines(district, plan.stops, roster)
    plan.runtime_s = time.perf_counter() - started
    say(f"planned {len(plan.stops)} visits, {len(plan.unplanned)} unplanned, in {plan.runtime_s:.1f} s")
    return plan


# ----------------------------------------------------------------------------- steps of plan_day


def _check_day_is_ahead(events: pd.DataFrame, day: pd.Timestamp) -> None:
    """The planned day must come after the last event of the history."""
    if not len(events):
        return
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


def _squads_of_the_day(district: Any, day: pd.Timestamp, options: PlanOptions, grids: Any = None) -> SquadRoster:
    """The squads that go out (the chosen ones, less those with a member absent), each in its plan's grid."""
    staff = staff_in_grids(district.staff, None if grids is None else pd.DataFrame(grids))
    roster = build_squads(staff, district.settings, squads=options.squads, absent=options.absent)
    if not roster.squads:
        why = "; ".join(f"grid {g}: {r}" for g, r in roster.uncovered) or (
            "no staff pair has a grid yet (staff.grid_id is empty and no grid plan names them): build grids "
            "first (`gridmgmt grids build`) and plan with them"
            if "grid_id" not in staff or staff["grid_id"].isna().all()
            else "no squads selected"
        )
        raise NoSquadsError(Problem("staff", "no squad is available on this day", value=str(day.date()), hint=why))
    return roster


def _select_visits(
    district: Any,
    events: pd.DataFrame,
    day: pd.Timestamp,
    risk: pd.DataFrame,
    grids: gpd.GeoDataFrame | pd.DataFrame | None,
    roster: SquadRoster,
    *,
    subset: bool,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Visit candidates with names, coordinates, grids and home squads (mandatory first, then by priority).

    ``grid_id`` is the retailer's grid (NA without grids), ``home_squad`` the squad of that grid
    ('' when it has no squad today) and ``cover_reason`` why another squad may then visit it.

    Returns the candidates and the first reasons for leaving some out (``retailer_id -> reason``):
    shops not open long enough during the shift.
    """
    settings = district.settings
    cands = visit_candidates(district.retailers, events, date=day, settings=settings, risk=risk)
    info = district.retailers.drop(columns="geometry", errors="ignore").set_index("retailer_id")
    cands = cands.merge(
        info[["name", "address", "lon", "lat"]].reset_index(), on="retailer_id", how="left", validate="one_to_one"
    )
    cands["grid_id"] = _grid_of(cands, district.retailers, grids)
    cands["home_squad"], cands["cover_reason"] = _owners(cands["grid_id"], district.staff, roster, subset=subset)
    cands = cands.sort_values(["mandatory", "priority", "retailer_id"], ascending=[False, False, True])
    cands = cands.reset_index(drop=True)
    reasons: dict[str, str] = {}
    empty = cands["window_open_min"] > cands["window_close_min"]
    for row in cands.loc[empty].itertuples():
        reasons[row.retailer_id] = (
            f"not open long enough during the shift (open {clock(row.open_min)}-{clock(row.close_min)}, "
            f"a visit takes {row.service_min:.0f} min)"
        )
    return cands, reasons


def _keep_to_own_grids(cands: pd.DataFrame, roster: SquadRoster, reasons: dict[str, str]) -> None:
    """Leave every candidate of a grid outside this plan's squads to its own squad: its reason goes in ``reasons``.

    The plan's grids are those of its squads, out today or absent; a candidate without a grid stays.
    """
    planned = {s.grid_id for s in roster.squads} | {g for g, _ in roster.uncovered}
    other = cands["grid_id"].notna() & ~cands["grid_id"].isin(planned)
    for rid, grid in zip(cands.loc[other, "retailer_id"], cands.loc[other, "grid_id"], strict=True):
        reasons.setdefault(rid, f"{OTHER_GRID_PREFIX} {int(grid)}: its squad is not in this plan, cover not allowed")


def _plan_modes(
    district: Any,
    cands: pd.DataFrame,
    roster: SquadRoster,
    reasons: dict[str, str],
    options: PlanOptions,
    started: float,
    say: Callable[[str], None],
) -> tuple[list[SolverRun], list[pd.DataFrame], list[dict], list[SolverCrashError]]:
    """Plan the travel modes in turn, slowest first; what one leaves out passes on to the next.

    Returns the solver runs, the stops of each run, the per-squad summaries and the route
    searches that died (the other modes are planned all the same); ``reasons`` is updated for
    every candidate left out.
    """
    modes = [m for m in MODE_ORDER if any(s.travel_mode == m for s in roster.squads)]
    runs: list[SolverRun] = []
    stops_frames: list[pd.DataFrame] = []
    summaries: list[dict] = []
    failures: list[SolverCrashError] = []
    done: set[str] = set(reasons)
    for k, mode in enumerate(modes):
        group = [s for s in roster.squads if s.travel_mode == mode]
        later = {s.squad_id for m in modes[k + 1 :] for s in roster.squads if s.travel_mode == m}
        earlier = {s.squad_id for m in modes[:k] for s in roster.squads if s.travel_mode == m}
        # a visit waits for its own squad's mode; one its own (slower) squad left out passes on
        # only when it is mandatory: another grid's optional visits are not this mode's to take
        passed_on = cands["home_squad"].isin(earlier) & ~cands["mandatory"].astype(bool)
        pool = cands.loc[~cands["retailer_id"].isin(done) & ~cands["home_squad"].isin(later) & ~passed_on]
        limit = _mode_time_limit(options, started, roster, modes[k:], len(group))
        say(f"planning {len(group)} {mode} squad(s) from {len(pool)} candidates")
        stop = StopCriterion(time_limit_s=limit, solution_limit=_mode_solutions(options, roster, len(group)))
        try:
            run = _plan_mode(district, mode, group, pool, options, stop, final=k == len(modes) - 1, reasons=reasons)
        except SolverCrashError as exc:  # this mode's squads get no routes; their candidates pass on
            log.info("%s", exc)
            failures.append(exc)
            continue
        if run is None:
            continue
        runs.append(run)
        stops, summary = stops_of(run, cands.set_index("retailer_id"), group)
        stops_frames.append(stops)
        summaries += summary
        # dropped or cut candidates pass on to the next mode, whose reasons overwrite these
        done |= set(stops["retailer_id"]) if len(stops) else set()
    return runs, stops_frames, summaries, failures


def _mode_time_limit(
    options: PlanOptions, started: float, roster: SquadRoster, modes_left: list[str], group_size: int
) -> float | None:
    """Seconds for one mode's solver run: its squads' share of what is left of the day's budget."""
    if options.time_limit_s is None:
        return None
    # the whole plan keeps to time_limit_s: what is left (less ~2 s for the route lines)
    # is shared by the remaining modes in proportion to their squads
    left_s = float(options.time_limit_s) - (time.perf_counter() - started) - (2.0 if options.geometry else 0.0)
    remaining = sum(1 for s in roster.squads if s.travel_mode in modes_left)
    return max(MIN_SOLVE_S, left_s * group_size / remaining)


def _mode_solutions(options: PlanOptions, roster: SquadRoster, group_size: int) -> int | None:
    """Solutions for one mode's solver run: its squads' share of the day's solution limit (at least 1).

    A share of a fixed count, never of what is left on the clock: the same request gives each
    mode the same budget every time.
    """
    if options.solution_limit is None:
        return None
    return max(1, round(options.solution_limit * group_size / len(roster.squads)))


def _plan_mode(
    district: Any,
    mode: str,
    group: list[Squad],
    pool: pd.DataFrame,
    options: PlanOptions,
    stop: StopCriterion,
    *,
    final: bool,
    reasons: dict[str, str],
) -> SolverRun | None:
    """Pre-select, build and solve one mode's problem; record reasons for what it leaves out."""
    chosen = preselect(
        district,
        mode,
        group,
        pool,
        preselect_factor=options.preselect_factor,
        reach_min=options.reach_min,
        final=final,
        reasons=reasons,
    )
    if chosen.empty:
        return None
    problem = build_problem(district, mode, group, chosen, span_cost=options.span_cost)
    try:
        result = solve(problem, stop=stop, seed=options.seed, params=options.params or PATROL_PARAMS)
    except SolverCrashError as exc:
        for rid in chosen["retailer_id"]:
            reasons[rid] = f"not planned: {exc}"
        raise
    if not result.found:
        log.warning("no %s route plan found (%s)", mode, result.status)
    names = problem.names
    assert names is not None  # build_problem names every node
    node_retailer = {i: names[i] for i in problem.visits}
    run = SolverRun(mode, problem, result, node_retailer, [s.squad_id for s in group])
    explain_dropped(run, set(chosen.loc[chosen["mandatory"].astype(bool), "retailer_id"]), reasons)
    return run


def _assemble(
    day: pd.Timestamp,
    cands: pd.DataFrame,
    roster: SquadRoster,
    runs: list[SolverRun],
    stops_frames: list[pd.DataFrame],
    summaries: list[dict],
    reasons: dict[str, str],
    notes: list[str],
) -> PatrolPlan:
    """The plan's tables: stops in route order, unplanned candidates with reasons, one summary row per squad.

    Routes are left empty (:func:`plan_day` adds the street lines when asked).
    """
    stops = pd.concat(stops_frames, ignore_index=True) if stops_frames else pd.DataFrame(columns=STOP_COLUMNS)
    stops = stops.reindex(columns=STOP_COLUMNS)
    stops = stops.sort_values(["squad_id", "seq"]).reset_index(drop=True)
    stops["grid_id"] = pd.array(pd.to_numeric(stops["grid_id"], errors="coerce"), dtype="Int64")
    stops["cross_grid_reason"] = stops["cross_grid_reason"].fillna("").astype(str)
    planned = set(stops["retailer_id"])
    left = cands.loc[~cands["retailer_id"].isin(planned)].copy()
    left["reason"] = [reasons.get(rid, NO_CAPACITY) for rid in left["retailer_id"]]
    unplanned = left.reindex(columns=UNPLANNED_COLUMNS)
    summary = pd.DataFrame(summaries)
    for s in roster.squads:  # squads without any stop still get a summary row
        if summary.empty or s.squad_id not in set(summary["squad_id"]):
            summary = pd.concat([summary, pd.DataFrame([idle_summary(s)])], ignore_index=True)
    summary = summary.sort_values("squad_id").reset_index(drop=True)
    summary = summary.merge(own_grid_shares(stops, list(roster.squads)), on="squad_id", how="left")
    n_mand = int(unplanned["mandatory"].astype(bool).sum())
    if n_mand:
        notes.append(f"{n_mand} mandatory visit(s) could not be planned; see unplanned.csv for why")
    return PatrolPlan(
        date=str(day.date()),
        stops=stops,
        unplanned=unplanned.reset_index(drop=True),
        summary=summary,
        routes=empty_routes(),
        candidates=cands,
        squads=roster,
        notes=notes,
        runs=runs,
    )


# ----------------------------------------------------------------------------- helpers


def _grid_of(cands: pd.DataFrame, retailers: pd.DataFrame, grids: gpd.GeoDataFrame | pd.DataFrame | None) -> pd.Series:
    """Each candidate's grid id (Int64; NA when there are no grids or the retailer has none)."""
    if grids is not None:
        table = grids.attrs.get("assignment") if "assignment" in getattr(grids, "attrs", {}) else grids
        assignment = pd.DataFrame(table)[["retailer_id", "grid_id"]]
        grid_of = assignment.assign(retailer_id=assignment["retailer_id"].astype(str)).set_index("retailer_id")
        grid_of = grid_of["grid_id"]
    elif "grid_id" in retailers and retailers["grid_id"].notna().any():
        grid_of = retailers.set_index("retailer_id")["grid_id"]
    else:
        return pd.Series(pd.NA, index=cands.index, dtype="Int64")
    grid = pd.to_numeric(cands["retailer_id"].map(grid_of), errors="coerce")
    return pd.Series(pd.array(grid.round(), dtype="Int64"), index=cands.index)


def _owners(grid: pd.Series, staff: pd.DataFrame, roster: SquadRoster, *, subset: bool) -> tuple[pd.Series, pd.Series]:
    """The squad of each candidate's grid ('' when none today) and why others may then visit it.

    Returns ``home_squad`` and ``cover_reason`` ('' for a grid with its squad out today, and
    without grids).
    """
    squad_of = {s.grid_id: s.squad_id for s in roster.squads}
    uncovered = dict(roster.uncovered)
    staffed = set(pd.to_numeric(staff["grid_id"], errors="coerce").dropna().astype(int))

    def why(g: int) -> str:
        if g in squad_of:
            return ""
        if g in uncovered:
            return cover_reason(g, "absent" if uncovered[g].startswith("absent") else "no_squad")
        return cover_reason(g, "not_planned" if subset and g in staffed else "no_squad")

    home = grid.map(lambda g: squad_of.get(int(g), "") if pd.notna(g) else "").astype(str)
    cover = grid.map(lambda g: why(int(g)) if pd.notna(g) else "").astype(str)
    return home, cover


def _grid_polygons(grids: gpd.GeoDataFrame | pd.DataFrame | None) -> gpd.GeoDataFrame | None:
    """The grid polygons (WGS-84, ``grid_id``) when ``grids`` has them, for the route map."""
    if not isinstance(grids, gpd.GeoDataFrame) or "grid_id" not in grids or grids.crs is None:
        return None
    return grids[["grid_id", "geometry"]].to_crs(WGS84)


def _check_depots(district: Any, roster: SquadRoster) -> None:
    """Every squad's depot must exist and lie near a street its mode may use."""
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
        windows, service = p.time_windows, p.service_durations
        assert windows is not None and service is not None  # filled in by Problem.__post_init__
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
                opens, closes = (int(x) for x in windows[st.node])
                if not opens <= st.start <= closes:
                    errors.append(f"{name}: starts {rid} at {st.start}, outside [{opens}, {closes}]")
                if st.departure - st.start != int(service[st.node]):
                    errors.append(f"{name}: service at {rid} is not its service time")
                t, prev = st.departure, st.node
            if route.end_time < t + int(p.duration_matrix[prev, route.end_depot]):
                errors.append(f"{name}: back at the depot too early")
    return errors
