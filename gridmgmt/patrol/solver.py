"""Vehicle routing with time windows, shifts and breaks: the problem, `solve` and its result.

The solver core knows nothing of geography. It takes integer matrices (travel time and,
optionally, a separate arc cost such as distance), per-node service durations and time
windows, and a list of vehicles with their depots, shifts, capacities and breaks. The shape
follows PyVRP: build a :class:`RoutingProblem`, call :func:`solve` with a stopping criterion
and a seed, and read a :class:`Result` with ``cost()``, ``is_feasible()`` and ``summary()``.
OR-Tools' RoutingModel is the private backend (``gridmgmt.patrol._ortools``).

Units are the caller's: the daily patrol planner passes seconds; the Solomon benchmark passes
distances scaled by 10 and truncated (one decimal). Every time and cost here is an integer in
that unit.

Unservable mandatory visits are never dropped silently. :func:`solve` returns them in
``Result.dropped`` with ``mandatory=True`` and a reason (e.g. "time window [36000, 37800]
closes before any vehicle can arrive (earliest arrival 38100)"); ``Result.is_feasible()`` is
then False, and ``Result.raise_if_infeasible()`` raises
:class:`gridmgmt._errors.InfeasiblePlanError` naming every one of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gridmgmt._errors import InfeasiblePlanError, InputError, Problem

logger = logging.getLogger(__name__)

__all__ = [
    "Break",
    "DroppedVisit",
    "MaxRuntime",
    "MaxSolutions",
    "Result",
    "Route",
    "RoutingProblem",
    "ScheduledBreak",
    "SearchParams",
    "Stop",
    "StopCriterion",
    "Vehicle",
    "diagnose_visit",
    "solve",
]

_SOURCE = "routing problem"


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class Break:
    """A break a vehicle (squad) must take, e.g. lunch.

    Parameters
    ----------
    earliest_start, latest_start : int
        Window for the start of the break, in the problem's time unit (e.g. seconds of the day).
    duration : int
        Length of the break, same unit.
    name : str
        Label used in the result (e.g. ``"lunch"``).
    """

    earliest_start: int
    latest_start: int
    duration: int
    name: str = "break"


@dataclass(frozen=True)
class Vehicle:
    """One vehicle (a patrol squad) with its depots, shift and options.

    Parameters
    ----------
    start, end : int
        Node indices of the start and end depots (they may differ).
    shift_start, shift_end : int
        The route must leave ``start`` no earlier than ``shift_start`` and reach ``end`` no later
        than ``shift_end`` (time unit of the problem).
    capacity : int or None
        Capacity for the node demands; None means unlimited.
    breaks : tuple of Break
        Breaks to schedule on the time dimension (taken during travel or waiting, never during
        a service).
    fixed_cost : int
        Cost added when the vehicle is used (fleet minimisation).
    allowed_nodes : frozenset of int or None
        If given, the only visit nodes this vehicle may serve (hard; an empty set: none).
    node_costs : Mapping[int, int]
        Extra cost when this vehicle serves a node (soft preference, e.g. to stay in its grid).
    soft_end : int or None
        Soft upper bound for the route end time; each time unit beyond costs ``late_end_penalty``.
    late_end_penalty : int
        Cost per time unit the route ends after ``soft_end``.
    name : str
        Label used in the result.
    """

    start: int
    end: int
    shift_start: int = 0
    shift_end: int | None = None
    capacity: int | None = None
    breaks: tuple[Break, ...] = ()
    fixed_cost: int = 0
    allowed_nodes: frozenset[int] | None = None
    node_costs: Mapping[int, int] = field(default_factory=dict)
    soft_end: int | None = None
    late_end_penalty: int = 0
    name: str = ""


@dataclass
class RoutingProblem:
    """A vehicle routing problem with time windows given as matrices.

    Every node that is the start or end of some vehicle is a depot; every other node is a
    visit. Visits are mandatory unless listed in ``optional_penalties``.

    Parameters
    ----------
    duration_matrix : array-like of int, shape (n, n)
        Travel time from node i to node j, in the problem's time unit.
    vehicles : sequence of Vehicle
        The fleet.
    distance_matrix : array-like of int, shape (n, n), optional
        Arc cost (e.g. metres) minimised by the solver; defaults to ``duration_matrix``.
    service_durations : array-like of int, shape (n,), optional
        Time spent at each node (default 0).
    time_windows : array-like of int, shape (n, 2), optional
        Earliest and latest service start at each node (default: the whole horizon).
    demands : array-like of int, shape (n,), optional
        Load of each visit, checked against vehicle capacities (default 0).
    optional_penalties : Mapping[int, int]
        Visits that may be left out, with the cost of leaving each out (a priority: the
        lower the penalty, the sooner it is dropped).
    soft_deadlines : Mapping[int, tuple[int, int]]
        ``node -> (deadline, penalty_per_unit)``: service may start after ``deadline`` (up to
        the hard window end) at a cost of ``penalty_per_unit`` per time unit late.
    span_cost_coefficient : int
        Cost per time unit of the longest route minus the shortest route start (balances day
        lengths; OR-Tools global span cost).
    horizon : int, optional
        Largest time value; default: the largest window end or shift end.
    names : sequence of str, optional
        Node labels for reports (default ``"node <i>"``).
    """

    duration_matrix: np.ndarray
    vehicles: Sequence[Vehicle]
    distance_matrix: np.ndarray | None = None
    service_durations: np.ndarray | None = None
    time_windows: np.ndarray | None = None
    demands: np.ndarray | None = None
    optional_penalties: Mapping[int, int] = field(default_factory=dict)
    soft_deadlines: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    span_cost_coefficient: int = 0
    horizon: int | None = None
    names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        self.duration_matrix = _int_array(self.duration_matrix, "duration_matrix")
        n = self.duration_matrix.shape[0]
        problems: list[Problem] = []
        if self.duration_matrix.ndim != 2 or self.duration_matrix.shape != (n, n):
            raise InputError(Problem(_SOURCE, "duration_matrix must be square", field="duration_matrix"))
        if self.distance_matrix is None:
            self.distance_matrix = self.duration_matrix
        self.distance_matrix = _int_array(self.distance_matrix, "distance_matrix")
        if self.distance_matrix.shape != (n, n):
            problems.append(Problem(_SOURCE, f"distance_matrix must have shape ({n}, {n})", field="distance_matrix"))
        self.service_durations = _vector(self.service_durations, n, 0, "service_durations", problems)
        self.demands = _vector(self.demands, n, 0, "demands", problems)
        if (self.duration_matrix < 0).any() or (self.distance_matrix < 0).any():
            problems.append(Problem(_SOURCE, "matrices must be non-negative", field="duration_matrix"))
        if not self.vehicles:
            problems.append(Problem(_SOURCE, "at least one vehicle is needed", field="vehicles"))
        horizon_candidates = [int(v.shift_end) for v in self.vehicles if v.shift_end is not None]
        if self.time_windows is not None:
            tw = _int_array(self.time_windows, "time_windows")
            if tw.shape != (n, 2):
                problems.append(Problem(_SOURCE, f"time_windows must have shape ({n}, 2)", field="time_windows"))
            else:
                horizon_candidates.append(int(tw[:, 1].max()))
                for i in np.flatnonzero(tw[:, 0] > tw[:, 1]):
                    problems.append(
                        Problem(
                            _SOURCE,
                            f"time window of {self.node_name(int(i))} opens after it closes",
                            field="time_windows",
                            value=tuple(int(x) for x in tw[i]),
                            hint="swap or fix the window bounds",
                        )
                    )
            self.time_windows = tw
        if self.horizon is None:
            big = int(self.duration_matrix.max()) * n + int(self.service_durations.sum())
            self.horizon = max(horizon_candidates) if horizon_candidates else big
        if self.time_windows is None:
            self.time_windows = np.tile(np.array([0, self.horizon], dtype=np.int64), (n, 1))
        for k, v in enumerate(self.vehicles):
            for node in (v.start, v.end):
                if not 0 <= node < n:
                    problems.append(Problem(_SOURCE, f"vehicle {k} depot {node} is not a node", field="vehicles"))
            for b in v.breaks:
                if b.earliest_start > b.latest_start or b.duration < 0:
                    problems.append(
                        Problem(_SOURCE, f"vehicle {k}: break {b.name!r} has an empty window", field="breaks")
                    )
        for node in list(self.optional_penalties) + list(self.soft_deadlines):
            if not 0 <= node < n:
                problems.append(Problem(_SOURCE, f"node {node} is out of range 0..{n - 1}", field="nodes"))
        if self.names is not None and len(self.names) != n:
            problems.append(Problem(_SOURCE, f"names must have {n} entries", field="names"))
        if problems:
            raise InputError(problems)

    @property
    def num_nodes(self) -> int:
        """Number of nodes (depots and visits)."""
        return int(self.duration_matrix.shape[0])

    @property
    def depots(self) -> frozenset[int]:
        """Nodes used as a start or end depot by some vehicle."""
        return frozenset(n for v in self.vehicles for n in (v.start, v.end))

    @property
    def visits(self) -> list[int]:
        """Visit nodes (every node that is not a depot), ascending."""
        depots = self.depots
        return [i for i in range(self.num_nodes) if i not in depots]

    def node_name(self, node: int) -> str:
        """Label of a node for reports."""
        return str(self.names[node]) if self.names is not None else f"node {node}"

    def shift_end_of(self, vehicle: Vehicle) -> int:
        """Shift end of ``vehicle`` (the horizon if unset)."""
        return int(self.horizon if vehicle.shift_end is None else vehicle.shift_end)


def _int_array(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise InputError(
            Problem(_SOURCE, f"{name} must hold integers", field=name, hint="scale and round before solving")
        )
    return arr.astype(np.int64)


def _vector(values: object, n: int, default: int, name: str, problems: list[Problem]) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=np.int64)
    arr = _int_array(values, name)
    if arr.ndim == 0:
        return np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        problems.append(Problem(_SOURCE, f"{name} must have {n} entries", field=name, value=arr.shape))
    return arr


# --------------------------------------------------------------------------- search options


@dataclass(frozen=True)
class StopCriterion:
    """When to stop the search: a wall-clock limit, a solution count, or both (first hit wins).

    A solution limit alone makes the search deterministic (no wall-clock dependence).
    """

    time_limit_s: float | None = None
    solution_limit: int | None = None

    def __post_init__(self) -> None:
        if self.time_limit_s is None and self.solution_limit is None:
            raise ValueError("a stopping criterion needs time_limit_s or solution_limit")


def MaxRuntime(seconds: float) -> StopCriterion:
    """Stop after ``seconds`` of wall-clock time."""
    return StopCriterion(time_limit_s=float(seconds))


def MaxSolutions(count: int) -> StopCriterion:
    """Stop after ``count`` solutions (deterministic)."""
    return StopCriterion(solution_limit=int(count))


# Large-neighbourhood operators switched off by default: on Solomon at 4 s they cost more
# time than they save (mean gap on R101 R105 RC101 RC105 R201 RC201: 6.29% with, 5.76% without).
_LEAN_OPERATORS_OFF = (
    "global_cheapest_insertion_path_lns",
    "local_cheapest_insertion_path_lns",
    "relocate_path_global_cheapest_insertion_insert_unperformed",
    "global_cheapest_insertion_visit_types_lns",
    "local_cheapest_insertion_visit_types_lns",
    "shortest_path_swap_active",
    "shortest_path_two_opt",
    "swap_active_chain",
)


@dataclass(frozen=True)
class SearchParams:
    """Tuning of the OR-Tools search (defaults measured on the Solomon benchmark).

    Measured at 10 s on R101 R105 RC101 RC105 R201 RC201 (mean distance gap to the
    distance-only BKS): OR-Tools defaults with GLS lambda 0.1: 4.6%; lambda 0.2: 3.65%;
    0.3: 3.85%; 0.5: 4.2%; lambda 0.2 and the three cheapest starts improved in turn: 3.3%
    (the former default); generic tabu search: 8.2%. At 4 s: a PARALLEL_SAVINGS start is cheaper but
    ends worse after GLS (7.3% vs 5.8%); neighbour-restricted operators (ratio 0.3): 23%;
    ILS (SISR ruin) in OR-Tools 9.15 stopped at the first local optimum here: 7.9%.

    Re-measured at 10 s on the hard R205 R211 RC204 RC208 R104 RC105 (one run each; single
    runs move by 1-3 points with machine load): three starts improved in turn 5.5%; the
    cheapest start only, GLS given all the time: 3.7% (lambda 0.1: 5.7%, 0.3: 3.4%); plus the
    ``relocate_neighbors`` operator: 2.6% (the GLS set-up kept for ``iterated_local_search=False``;
    with lambda 0.3: 5.2%, plus ``cross_exchange``: 3.6%); all eight lean-off operators back on:
    8.0%; GLS penalty reset on new best: 7.9%; GLS penalties in operators: 5.7%;
    multi-armed-bandit operator order: 7.4%. On R101 R105 RC101 RC201 R201 C104: 2.65% (three
    starts: 3.35%). All 56 at 10 s: 2.53% (C1 0.70, C2 0.34, R1 3.21, R2 3.02, RC1 4.93, RC2 2.73).

    Iterated local search done right: OR-Tools 9.15 runs it only in
    ``RoutingModel.SolveWithIteratedLocalSearch`` (``SolveWithParameters`` and
    ``SolveFromAssignmentWithParameters`` ignore ``use_iterated_local_search``, which is why the
    ILS above looked stuck), and its improvement step runs the local-search metaheuristic to its
    end, so it needs ``GREEDY_DESCENT`` (GLS would never return). On R109 at 8 s: GLS 4.0%, ILS
    with greedy descent 1.2%. On RC108 R204 RC106 R207 R109 RC101 at 10 s, one worker (GLS:
    6.6%): SISR ruin of 10 visits (strings up to 10), automatic temperatures 2.65% (initial
    temperature 0.1 x the mean arc cost: 2.66%, 0.3 x: 3.1%, 1.0 x: 2.5%); ruin 5/5: 4.6%;
    15/10: 2.5%; 20/15: 2.1%; 30/20: 1.4%; 30/10: 2.25%; 40/30: 2.7%. Soft or hard mandatory
    visits: same (RC108 1.52 vs 1.55%). On 14 hard instances (those six and R107 RC107 R108
    RC103 R110 RC206 R211 RC204; GLS 5.16%), one worker: 30/20 automatic temperatures 2.5%,
    30/20 at 0.3 x: 1.9%. Two workers (both cores), 30/20 at 0.3 x plus: the same at automatic
    temperatures 1.70%; 15/10 at 1.0 x 1.37% (the default); 15/10 at 1.0 x with
    PARALLEL_CHEAPEST_INSERTION recreate 1.67%. On the six hard ones, ILS 30/20 plus a GLS
    worker: the GLS worker never won. The default on all 56 at 10 s: 0.70%, 56/56 feasible (C1
    0.00, C2 0.18, R1 0.54, R2 0.82, RC1 1.89, RC2 0.90); C1 and C2 at 10 s: 0.09%.

    Parameters
    ----------
    first_solutions : tuple of str
        OR-Tools first-solution strategies tried in turn (no local search); the cheapest
        ``improve_starts`` starts are improved (with ILS: the cheapest one, rebuilt by the ILS;
        a single strategy is not tried first). ``SWEEP`` needs coordinates and is invalid here.
    first_solution_share : float
        Share of the time limit the first-solution phase may use.
    improve_starts : int
        How many of the cheapest starts the metaheuristic improves in turn (time and solution
        limit split evenly); the best result is kept.
    metaheuristic : str
        OR-Tools local-search metaheuristic (e.g. ``GUIDED_LOCAL_SEARCH``) when
        ``iterated_local_search`` is off (the ILS improves with a greedy descent).
    gls_lambda : float
        ``guided_local_search_lambda_coefficient``.
    operators_on, operators_off : tuple of str
        Local-search operators (``use_*`` fields of ``local_search_operators``, without the
        ``use_`` prefix) to switch on or off.
    use_full_propagation : bool
        Full constraint propagation during local search (slower, sometimes more robust).
    neighbors_ratio : float
        ``ls_operator_neighbors_ratio``: share of nearest neighbours local-search operators
        consider for each node (1.0 = all).
    iterated_local_search : bool
        OR-Tools iterated local search (ruin and recreate, then a greedy descent; simulated
        annealing decides which solution the next ruin starts from) instead of the single
        metaheuristic.
    ils_removed_visits, ils_max_sequence : int
        SISR ruin (slack induction by string removals): average number of visits removed and
        longest removed string.
    ils_improve : bool
        Run local search on each perturbed solution.
    ils_temperature : float
        Initial simulated-annealing temperature of the ILS acceptance, as a multiple of the mean
        arc cost between distinct nodes (so independent of the cost unit); 0: OR-Tools'
        automatic temperatures.
    ils_final_temperature_ratio : float
        Final temperature as a share of the initial one (exponential cooling over the time or
        solution limit).
    ils_recreate : str
        First-solution strategy that re-inserts the removed visits (``LOCAL_CHEAPEST_INSERTION``,
        ``PARALLEL_CHEAPEST_INSERTION``, ``SAVINGS``, ...).
    mandatory_penalty : int or None
        Cost of leaving out a mandatory visit (it is then reported as dropped); default: a
        large multiple of the largest cost so it is only dropped when it cannot be served.
    hard_mandatory : bool
        Once a start serving every mandatory visit is found, improve it with mandatory visits
        as hard constraints (no drop moves) instead of large drop penalties.
    log_search : bool
        Let OR-Tools log its search.
    workers : int or None
        Independent searches run at the same time, each with the full limit, the best kept
        (lowest cost, then lowest worker index: deterministic under a solution limit). Worker 0
        runs in this process, the others in helper processes started once and kept (plain
        interpreters: the caller's main module is not re-imported). None: one per core, at most
        2. 1: in this process only.
    portfolio : tuple of mapping
        Settings of workers 1, 2, ... as overrides of these (cycled); worker 0 runs these.
        Default: a smaller ruin (15 visits, strings up to 10) and a hotter start (1.0).
    """

    first_solutions: tuple[str, ...] = ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_INSERTION", "SAVINGS")
    first_solution_share: float = 0.1
    improve_starts: int = 1
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    gls_lambda: float = 0.2
    operators_on: tuple[str, ...] = ("relocate_neighbors",)
    operators_off: tuple[str, ...] = _LEAN_OPERATORS_OFF
    use_full_propagation: bool = False
    neighbors_ratio: float = 1.0
    iterated_local_search: bool = True
    ils_removed_visits: int = 30
    ils_max_sequence: int = 20
    ils_improve: bool = True
    ils_temperature: float = 0.3
    ils_final_temperature_ratio: float = 1e-4
    ils_recreate: str = "LOCAL_CHEAPEST_INSERTION"
    mandatory_penalty: int | None = None
    hard_mandatory: bool = True
    log_search: bool = False
    workers: int | None = None
    portfolio: tuple[Mapping[str, object], ...] = (
        {"ils_removed_visits": 15, "ils_max_sequence": 10, "ils_temperature": 1.0},
    )

    def num_workers(self) -> int:
        """Number of parallel searches: ``workers``, or by default one per core up to 2."""
        if self.workers is not None:
            return max(1, int(self.workers))
        return max(1, min(2, os.cpu_count() or 1))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Stop:
    """One visit in a route, with times in the problem's unit.

    ``arrival`` is when the vehicle reaches the node, ``start`` when service starts (after any
    waiting for the window), ``departure`` = ``start`` + service duration; ``lateness`` is the
    time past a soft deadline (0 if none or on time).
    """

    node: int
    name: str
    arrival: int
    start: int
    departure: int
    lateness: int = 0


@dataclass(frozen=True)
class ScheduledBreak:
    """A break as scheduled: name, start and end time."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Route:
    """The route of one vehicle: ordered stops with times, breaks and totals.

    ``start_time``/``end_time`` are the times the vehicle leaves its start depot and reaches its
    end depot; ``distance`` and ``travel_time`` sum the matrices over the arcs driven; ``duration``
    is ``end_time - start_time``. An unused vehicle has no stops.
    """

    vehicle: int
    vehicle_name: str
    start_depot: int
    end_depot: int
    stops: tuple[Stop, ...]
    breaks: tuple[ScheduledBreak, ...]
    start_time: int
    end_time: int
    distance: int
    travel_time: int
    load: int

    @property
    def duration(self) -> int:
        """Time from leaving the start depot to reaching the end depot."""
        return self.end_time - self.start_time

    @property
    def visits(self) -> list[int]:
        """Visited nodes in order."""
        return [s.node for s in self.stops]

    def is_used(self) -> bool:
        """True if the route serves at least one visit."""
        return bool(self.stops)


@dataclass(frozen=True)
class DroppedVisit:
    """A visit left out of every route, and why."""

    node: int
    name: str
    mandatory: bool
    reason: str


@dataclass(frozen=True)
class Result:
    """The outcome of :func:`solve`.

    ``objective`` is the OR-Tools objective (arc costs, vehicle costs, span and lateness
    penalties, drop penalties). ``found`` is False when the search found no solution at all
    (then ``routes`` is empty and every visit is in ``dropped``).
    """

    routes: tuple[Route, ...]
    dropped: tuple[DroppedVisit, ...]
    objective: int
    found: bool
    runtime_s: float
    num_solutions: int = 0
    status: str = ""

    def cost(self) -> int:
        """Objective value (including penalties); ``sys.maxsize`` if nothing was found."""
        import sys

        return self.objective if self.found else sys.maxsize

    def distance(self) -> int:
        """Total arc cost-matrix distance of all routes."""
        return sum(r.distance for r in self.routes)

    def num_vehicles_used(self) -> int:
        """Number of routes serving at least one visit."""
        return sum(r.is_used() for r in self.routes)

    def dropped_mandatory(self) -> list[DroppedVisit]:
        """Mandatory visits that could not be served."""
        return [d for d in self.dropped if d.mandatory]

    def is_feasible(self) -> bool:
        """True if a solution was found and every mandatory visit is served."""
        return self.found and not self.dropped_mandatory()

    def raise_if_infeasible(self) -> Result:
        """Return ``self``, or raise InfeasiblePlanError naming every unserved mandatory visit.

        Raises
        ------
        InfeasiblePlanError
            If no solution was found or a mandatory visit was dropped.
        """
        if self.is_feasible():
            return self
        if not self.found:
            raise InfeasiblePlanError(f"no route plan found ({self.status})")
        lines = [f"{d.name}: {d.reason}" for d in self.dropped_mandatory()]
        raise InfeasiblePlanError(f"{len(lines)} mandatory visit(s) cannot be served: " + "; ".join(lines))

    def summary(self) -> str:
        """A short human-readable report of the solution."""
        if not self.found:
            return f"No solution found ({self.status}) after {self.runtime_s:.1f} s."
        lines = [
            f"Objective: {self.objective}",
            f"Routes: {self.num_vehicles_used()} used of {len(self.routes)}",
            f"Distance: {self.distance()}",
            f"Dropped: {len(self.dropped)} ({len(self.dropped_mandatory())} mandatory)",
            f"Feasible: {self.is_feasible()}",
            f"Runtime: {self.runtime_s:.2f} s, {self.num_solutions} solutions",
        ]
        for r in self.routes:
            if r.is_used():
                lines.append(
                    f"  {r.vehicle_name}: {len(r.stops)} stops, {r.start_time}-{r.end_time}, "
                    f"distance {r.distance}: " + " ".join(str(s.node) for s in r.stops)
                )
        for d in self.dropped_mandatory():
            lines.append(f"  unserved {d.name}: {d.reason}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- solve


def solve(
    problem: RoutingProblem,
    *,
    stop: StopCriterion,
    seed: int = 0,
    params: SearchParams | None = None,
) -> Result:
    """Solve a routing problem with OR-Tools.

    Parameters
    ----------
    problem : RoutingProblem
        The instance (integer matrices, windows, vehicles).
    stop : StopCriterion
        ``MaxRuntime(seconds)``, ``MaxSolutions(count)`` or both via ``StopCriterion``. With a
        solution limit only, the result is deterministic.
    seed : int
        Seed. OR-Tools' routing search (ILS included) is deterministic for a given model; the
        seed is kept for API symmetry and, when not 0, shuffles the order first-solution
        strategies are tried.
    params : SearchParams, optional
        Search tuning; defaults are the measured best on Solomon (ILS, two workers on a
        two-core machine: see ``SearchParams.workers``).

    Returns
    -------
    Result
        Routes with stop times, dropped visits with reasons, objective and feasibility.
        Mandatory visits that cannot be served are returned as dropped with a reason (see
        ``Result.raise_if_infeasible``).
    """
    from gridmgmt.patrol import _ortools

    params = params or SearchParams()
    result = _ortools.solve(problem, stop=stop, seed=seed, params=params)
    if result.dropped_mandatory():
        logger.warning(
            "%d mandatory visit(s) unserved: %s",
            len(result.dropped_mandatory()),
            ", ".join(d.name for d in result.dropped_mandatory()),
        )
    return result


def diagnose_visit(problem: RoutingProblem, node: int) -> str:
    """Explain why a visit cannot be served, or say that it fits alone but not with the rest.

    The checks use each allowed vehicle alone, leaving at its shift start: no vehicle allowed,
    demand above every capacity, window closed before the earliest arrival, or no way back to
    the end depot before the shift ends.

    Parameters
    ----------
    problem : RoutingProblem
    node : int
        A visit node.

    Returns
    -------
    str
        The reason, in plain words with times in the problem's unit.
    """
    dur = problem.duration_matrix
    a, b = (int(x) for x in problem.time_windows[node])
    service = int(problem.service_durations[node])
    demand = int(problem.demands[node])
    vehicles = [v for v in problem.vehicles if v.allowed_nodes is None or node in v.allowed_nodes]
    if not vehicles:
        return "no vehicle is allowed to visit it"
    if all(v.capacity is not None and demand > v.capacity for v in vehicles):
        return f"demand {demand} exceeds the capacity of every allowed vehicle"
    best_arrival = min(v.shift_start + int(dur[v.start, node]) for v in vehicles)
    if best_arrival > b:
        return f"time window [{a}, {b}] closes before any vehicle can arrive (earliest arrival {best_arrival})"
    fits = []
    for v in vehicles:
        begin = max(a, v.shift_start + int(dur[v.start, node]))
        back = begin + service + int(dur[node, v.end])
        if begin <= b and back <= problem.shift_end_of(v):
            fits.append(v)
    if not fits:
        return f"no vehicle can serve it within window [{a}, {b}] and still reach its end depot before its shift ends"
    return "fits on its own, but not together with the other mandatory visits (time windows, shifts or capacity)"
