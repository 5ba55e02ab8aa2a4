"""The routing model: a problem (matrices, vehicles, breaks, windows) and the result of solving it.

The model knows nothing of geography. A :class:`RoutingProblem` holds integer matrices (travel
time and, optionally, a separate arc cost such as distance), per-node service durations and
time windows, and the :class:`Vehicle` fleet with depots, shifts, capacities and breaks. A
:class:`Result` holds the routes with stop times, the dropped visits with reasons, and the
objective. Every time and cost is an integer in the caller's unit (the day planner: seconds;
the Solomon benchmark: distance x 10, truncated).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gridmgmt._errors import InfeasiblePlanError, InputError, Problem

__all__ = [
    "Break",
    "DroppedVisit",
    "Result",
    "Route",
    "RoutingProblem",
    "ScheduledBreak",
    "SolverCrashError",
    "Stop",
    "Vehicle",
    "diagnose_visit",
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
        if problems := self._shift_problems():  # needs the checks above (shapes, names)
            raise InputError(problems)

    def _shift_problems(self) -> list[Problem]:
        """Vehicles whose shift does not meet the opening window of their start or end depot."""
        problems = []
        tw = self.time_windows
        assert tw is not None  # filled in by __post_init__ before this check
        for k, v in enumerate(self.vehicles):
            for node in (v.start, v.end):
                lo = max(int(v.shift_start), int(tw[node, 0]))
                if lo > min(self.shift_end_of(v), int(tw[node, 1])):
                    problems.append(
                        Problem(
                            _SOURCE,
                            f"vehicle {v.name or k}: shift [{v.shift_start}, {self.shift_end_of(v)}] does not meet "
                            f"the window of depot {self.node_name(node)}",
                            field="vehicles",
                            hint="check the shift times and the depot opening hours",
                        )
                    )
        return problems

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
        if vehicle.shift_end is not None:
            return int(vehicle.shift_end)
        assert self.horizon is not None  # filled in by __post_init__
        return int(self.horizon)


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
    tw, services, demands = problem.time_windows, problem.service_durations, problem.demands
    assert tw is not None and services is not None and demands is not None  # filled in by RoutingProblem
    a, b = (int(x) for x in tw[node])
    service = int(services[node])
    demand = int(demands[node])
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


class SolverCrashError(RuntimeError):
    """The OR-Tools search died in its helper process (a native abort or a kill); the caller did not.

    Parameters
    ----------
    message : str
        One line: which vehicles (squads) and how the process ended.
    vehicles : tuple of str
        Names of the vehicles of the problem whose search died.
    details : str
        What the helper process wrote before it died (OR-Tools' own message), for a log file; it
        is also attached as a note, so a printed traceback shows it.
    """

    def __init__(self, message: str, *, vehicles: tuple[str, ...] = (), details: str = "") -> None:
        super().__init__(message)
        self.vehicles = tuple(vehicles)
        self.details = details
        if details:
            self.add_note(details)
