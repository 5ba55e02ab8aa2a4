"""Private OR-Tools backend of :func:`gridmgmt.patrol.solver.solve`: model building, search, extraction.

Builds an OR-Tools RoutingModel from a :class:`gridmgmt.patrol.model.RoutingProblem`, runs the
search (a portfolio of workers, each in a helper process, so that a native abort of OR-Tools ends
a helper and never the caller) and reads the routes back into a
:class:`gridmgmt.patrol.model.Result`. In the package only :mod:`gridmgmt.patrol.solver` imports it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import pickle
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from gridmgmt.patrol.model import (
    DroppedVisit,
    Result,
    Route,
    RoutingProblem,
    ScheduledBreak,
    SolverCrashError,
    Stop,
    diagnose_visit,
)
from gridmgmt.patrol.search import OVERRUN_SHARE, SearchParams, StopCriterion, safety_limit_s

logger = logging.getLogger(__name__)

_TIME = "time"
_LOAD = "load"
#: Bound of one large-neighbourhood sub-search under a solution limit only (s): far above the
#: milliseconds one takes, so the clock never decides a deterministic search.
LNS_SAFETY_S = 60
#: A seeded search on the clock runs its metaheuristic after the descent only with this much time left (seconds).
_MIN_FINISH_S = 0.05

_STATUS = {
    0: "ROUTING_NOT_SOLVED",
    1: "ROUTING_SUCCESS",
    2: "ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED",
    3: "ROUTING_FAIL",
    4: "ROUTING_FAIL_TIMEOUT",
    5: "ROUTING_INVALID",
    6: "ROUTING_INFEASIBLE",
    7: "ROUTING_OPTIMAL",
}


@dataclass
class _Model:
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    time_dim: pywrapcp.RoutingDimension
    breaks: dict[str, tuple[int, str]]  # interval name -> (vehicle, break name)
    counter: list[int]


def _mandatory_penalty(problem: RoutingProblem, params: SearchParams) -> int:
    if params.mandatory_penalty is not None:
        return int(params.mandatory_penalty)
    n, dist, horizon = problem.num_nodes, problem.distance_matrix, problem.horizon
    assert dist is not None and horizon is not None  # filled in by RoutingProblem.__post_init__
    worst_route = int(dist.max()) * (n + 1)
    extras = sum(int(c) for v in problem.vehicles for c in v.node_costs.values())
    extras += sum(int(v.fixed_cost) for v in problem.vehicles)
    extras += sum(int(p) for p in problem.optional_penalties.values())
    # Lateness and span costs are bounded by horizon x coefficient.
    extras += int(horizon) * (
        sum(int(p) for _, p in problem.soft_deadlines.values())
        + sum(int(v.late_end_penalty) for v in problem.vehicles)
        + int(problem.span_cost_coefficient)
    )
    return min(100 * (worst_route + extras) + 1_000_000, 2**52 // max(n, 1))


def _build(problem: RoutingProblem, params: SearchParams, *, hard_mandatory: bool = False) -> _Model:
    n = problem.num_nodes
    vehicles = list(problem.vehicles)
    manager = pywrapcp.RoutingIndexManager(n, len(vehicles), [v.start for v in vehicles], [v.end for v in vehicles])
    routing = pywrapcp.RoutingModel(manager)
    # RoutingProblem.__post_init__ filled in the optional arrays and the horizon
    dist, service = problem.distance_matrix, problem.service_durations
    tw, demands = problem.time_windows, problem.demands
    assert dist is not None and service is not None and tw is not None and demands is not None
    assert problem.horizon is not None
    depots = problem.depots

    # Arc costs: one matrix per distinct per-vehicle node-cost profile (extra cost on entering a node).
    base_cb = routing.RegisterTransitMatrix(dist.tolist())
    profiles: dict[tuple[tuple[int, int], ...], int] = {}
    for k, v in enumerate(vehicles):
        key = tuple(sorted((int(a), int(c)) for a, c in v.node_costs.items() if c))
        if not key:
            routing.SetArcCostEvaluatorOfVehicle(base_cb, k)
            continue
        if key not in profiles:
            extra = np.zeros(n, dtype=np.int64)
            for node, c in key:
                extra[node] = c
            profiles[key] = routing.RegisterTransitMatrix((dist + extra[None, :]).tolist())
        routing.SetArcCostEvaluatorOfVehicle(profiles[key], k)

    # Time: service at the origin plus travel.
    time_matrix = problem.duration_matrix + service[:, None]
    time_cb = routing.RegisterTransitMatrix(time_matrix.tolist())
    horizon = int(problem.horizon)
    routing.AddDimension(time_cb, horizon, horizon, False, _TIME)
    time_dim = routing.GetDimensionOrDie(_TIME)
    for node in range(n):
        if node in depots:
            continue
        index = manager.NodeToIndex(node)
        time_dim.CumulVar(index).SetRange(int(tw[node, 0]), int(tw[node, 1]))
    for k, v in enumerate(vehicles):
        for index, node in ((routing.Start(k), v.start), (routing.End(k), v.end)):
            # RoutingProblem checked that the shift meets the depot's window
            lo = max(int(v.shift_start), int(tw[node, 0]))
            time_dim.CumulVar(index).SetRange(lo, min(problem.shift_end_of(v), int(tw[node, 1])))
        if v.soft_end is not None and v.late_end_penalty:
            time_dim.SetCumulVarSoftUpperBound(routing.End(k), int(v.soft_end), int(v.late_end_penalty))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(k)))
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(k)))
        if v.fixed_cost:
            routing.SetFixedCostOfVehicle(int(v.fixed_cost), k)
    for node, (deadline, late_penalty) in problem.soft_deadlines.items():
        if node not in depots and late_penalty:
            time_dim.SetCumulVarSoftUpperBound(manager.NodeToIndex(node), int(deadline), int(late_penalty))
    if problem.span_cost_coefficient:
        time_dim.SetGlobalSpanCostCoefficient(int(problem.span_cost_coefficient))

    # Breaks on the time dimension; they may not cut a service (node visit transit = service time).
    breaks: dict[str, tuple[int, str]] = {}
    if any(v.breaks for v in vehicles):
        solver = routing.solver()
        visit_transits = [int(service[manager.IndexToNode(i)]) for i in range(routing.Size())]
        for k, v in enumerate(vehicles):
            if not v.breaks:
                continue
            intervals = []
            for j, b in enumerate(v.breaks):
                label = f"break_{k}_{j}"
                breaks[label] = (k, b.name)
                intervals.append(
                    solver.FixedDurationIntervalVar(
                        int(b.earliest_start), int(b.latest_start), int(b.duration), False, label
                    )
                )
            time_dim.SetBreakIntervalsOfVehicle(intervals, k, visit_transits)

    # Capacity.
    if any(v.capacity is not None for v in vehicles) and demands.any():
        big = int(demands.sum()) + 1
        demand_cb = routing.RegisterUnaryTransitVector(demands.tolist())
        caps = [int(v.capacity) if v.capacity is not None else big for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(demand_cb, 0, caps, True, _LOAD)

    # Allowed vehicles, optional and mandatory visits.
    mandatory_penalty = _mandatory_penalty(problem, params)
    for node in problem.visits:
        index = manager.NodeToIndex(node)
        allowed = [k for k, v in enumerate(vehicles) if v.allowed_nodes is None or node in v.allowed_nodes]
        if len(allowed) < len(vehicles):
            # VehicleVar, not SetAllowedVehiclesForIndex: the latter reads an empty list as "all vehicles".
            routing.VehicleVar(index).SetValues([-1, *allowed])
        penalty = problem.optional_penalties.get(node)
        if penalty is None and hard_mandatory:
            continue
        routing.AddDisjunction([index], int(mandatory_penalty if penalty is None else penalty))

    counter = [0]

    def _count() -> None:
        counter[0] += 1

    routing.AddAtSolutionCallback(_count)
    return _Model(manager, routing, time_dim, breaks, counter)


def _search_parameters(
    params: SearchParams,
    first: str,
    *,
    time_limit_s: float | None,
    solution_limit: int | None,
    metaheuristic: bool,
    arc_scale: float = 1.0,
) -> pywrapcp.DefaultRoutingSearchParameters:
    sp = pywrapcp.DefaultRoutingSearchParameters()
    sp.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first)
    if metaheuristic:
        sp.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, params.metaheuristic)
        sp.guided_local_search_lambda_coefficient = params.gls_lambda
    if metaheuristic and params.iterated_local_search:
        # SolveWithIteratedLocalSearch improves the first and every perturbed solution with the
        # local-search metaheuristic until it stops: only a descent stops (GLS would use all the time).
        sp.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    for name in params.operators_on:
        setattr(sp.local_search_operators, f"use_{name}", 3)  # BOOL_TRUE
    for name in params.operators_off:
        setattr(sp.local_search_operators, f"use_{name}", 2)  # BOOL_FALSE
    sp.use_full_propagation = params.use_full_propagation
    if params.insertion_sorting:
        lci = sp.local_cheapest_insertion_parameters
        field = type(lci).DESCRIPTOR.fields_by_name["insertion_sorting_properties"]
        del lci.insertion_sorting_properties[:]
        lci.insertion_sorting_properties.extend(
            field.enum_type.values_by_name[name].number for name in params.insertion_sorting
        )
    if params.neighbors_ratio < 1.0:
        sp.ls_operator_neighbors_ratio = params.neighbors_ratio
        sp.ls_operator_min_neighbors = 10
    if metaheuristic and params.iterated_local_search:
        sp.use_iterated_local_search = True
        ils = sp.iterated_local_search_parameters
        ruin = ils.ruin_recreate_parameters.ruin_strategies.add()
        ruin.sisr.avg_num_removed_visits = params.ils_removed_visits
        ruin.sisr.max_removed_sequence_size = params.ils_max_sequence
        ruin.sisr.bypass_factor = 0.01
        ils.ruin_recreate_parameters.recreate_strategy.heuristic = getattr(
            routing_enums_pb2.FirstSolutionStrategy, params.ils_recreate
        )
        ils.improve_perturbed_solution = params.ils_improve
        sa = ils.reference_solution_acceptance_strategy.simulated_annealing
        if params.ils_temperature > 0:
            sa.initial_temperature = params.ils_temperature * arc_scale
            sa.final_temperature = sa.initial_temperature * params.ils_final_temperature_ratio
        else:
            sa.automatic_temperatures = True
    sp.log_search = params.log_search
    if time_limit_s is not None:
        sp.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    else:
        # Off the clock, OR-Tools still timed each large-neighbourhood sub-search (lns_time_limit,
        # 0.1 s): on a loaded core it cut other sub-searches short, and plans differed.
        sp.lns_time_limit.FromSeconds(LNS_SAFETY_S)
    if solution_limit is not None:
        sp.solution_limit = int(solution_limit)
    return sp


def _mean_arc_cost(problem: RoutingProblem) -> float:
    """Mean arc cost between distinct nodes (the unit of the ILS annealing temperatures)."""
    n, dist = problem.num_nodes, problem.distance_matrix
    if n < 2:
        return 1.0
    assert dist is not None  # filled in by RoutingProblem.__post_init__
    return max(1.0, float(dist.sum() - np.trace(dist)) / (n * (n - 1)))


def _routes_of(model: _Model, solution: pywrapcp.Assignment) -> list[list[int]]:
    routing, routes = model.routing, []
    for k in range(routing.vehicles()):
        index, route = solution.Value(routing.NextVar(routing.Start(k))), []
        while not routing.IsEnd(index):
            route.append(index)
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    return routes


def solve(problem: RoutingProblem, *, stop: StopCriterion, seed: int, params: SearchParams) -> Result:
    """Run one search per worker, each in a helper process, and keep the best.

    Worker 0 runs ``params``; worker k >= 1 runs ``params`` with ``params.portfolio[(k - 1) % len]``
    applied. The best result is the lowest ``(cost, worker)``, so with a solution limit only the
    outcome does not depend on timing. OR-Tools runs only in the helpers, so a native abort ends a
    helper, never the caller: a worker that fails is logged and skipped, and when every worker
    failed the first worker's error is raised (the search's exception, or
    :class:`SolverCrashError` naming the vehicles when its process died). Only when no helper
    process can be started does worker 0 search in this process.

    Vehicles allowed no visit are left out of the search and get empty routes (see
    :func:`_without_idle`). A search with a solution limit only is not timed (OR-Tools would
    cool its annealing by the clock) but its helper is stopped at the safety bound
    (:func:`gridmgmt.patrol.search.safety_limit_s`): that worker then fails with a
    :class:`SolverCrashError` saying so.
    """
    idle = [k for k, v in enumerate(problem.vehicles) if v.allowed_nodes is not None and not v.allowed_nodes]
    if idle and len(idle) < len(problem.vehicles):
        reduced = _without_idle(problem, idle)
        return _with_idle(problem, idle, solve(reduced, stop=stop, seed=seed, params=params))
    t0 = time.perf_counter()
    configs = [replace(params, workers=1)]
    for k in range(1, params.num_workers()):
        overrides: dict[str, Any] = dict(params.portfolio[(k - 1) % len(params.portfolio)]) if params.portfolio else {}
        configs.append(replace(params, workers=1, portfolio=(), **overrides))
    configs = [replace(cfg, seed_offset=cfg.seed_offset + k) for k, cfg in enumerate(configs)]
    deadline = None if stop.time_limit_s is None else time.time() + stop.time_limit_s
    fault = os.environ.get(FAULT_ABORT_ENV, "")
    running: list[tuple[int, _Helper]] = []
    outcomes: list[tuple[int, Result | Exception]] = []
    try:
        for k, cfg in enumerate(configs):
            try:
                helper = _take_helper()
            except OSError as exc:  # no process can start (resource limits): the other workers go on
                logger.warning("solver worker %d has no helper process (%s); it is skipped", k, exc)
                continue
            running.append((k, helper))
            helper.send((problem, stop, deadline, seed, cfg, fault))
        if not running:
            logger.warning("no solver helper process could start: searching in this process, unprotected")
            return _solve_one(problem, stop=stop, seed=seed, params=configs[0])
        safety_s = safety_limit_s(stop)  # None when the search is timed (it has a deadline)
        safety_end = None if safety_s is None else time.time() + safety_s
        while running:
            k, helper = running[0]
            if safety_end is None:  # timed: a helper stops at the same deadline; allow a margin
                assert deadline is not None and stop.time_limit_s is not None  # safety_limit_s is None only then
                wait_s, late = max(0.0, deadline - time.time()) + 5.0 + OVERRUN_SHARE * stop.time_limit_s, ""
            else:
                wait_s, late = max(0.0, safety_end - time.time()), _safety_words(stop)
            outcomes.append((k, helper.receive(wait_s, problem, late)))
            running.pop(0)
            if helper.alive():
                _give_helper(helper)
    finally:
        for _, helper in running:  # on an error or an interrupt: unread answers would go to the next call
            helper.close(kill=True)
    results = [(k, r) for k, r in outcomes if isinstance(r, Result)]
    failures = [(k, r) for k, r in outcomes if not isinstance(r, Result)]
    if not results:
        raise failures[0][1]
    for k, error in failures:
        logger.warning("solver worker %d failed (%s); keeping the other workers' results", k, error)
    k_best, best = min(results, key=lambda kr: (kr[1].cost(), kr[0]))
    logger.debug("portfolio costs: %s; worker %d kept", [(k, r.cost()) for k, r in results], k_best)
    return replace(best, runtime_s=time.perf_counter() - t0, num_solutions=sum(r.num_solutions for _, r in results))


#: Fault injection for tests: the search of a problem with a vehicle of one of these names
#: (comma-separated; ``*``: any) aborts its process the way a failed native check of OR-Tools does.
FAULT_ABORT_ENV = "GRIDMGMT_FAULT_SOLVER_ABORT"

# Helper processes are plain interpreters running ``_serve`` (started when needed, kept for later
# calls). They do not re-import the caller's main module (as multiprocessing's spawn does), so
# scripts without an ``if __name__ == "__main__"`` guard are safe, no OR-Tools state is forked, and
# a daemonic process (a Dask worker) may start them.
_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from gridmgmt.patrol._ortools import _serve; _serve()"
)


class _Helper:
    """One helper process; requests and results are pickles over its stdin and stdout.

    Its stderr goes to a temporary file: what OR-Tools writes before an abort ends up in the
    :class:`SolverCrashError`; anything else is logged after the answer.
    """

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process, in close)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are pipes
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        pickle.dump(list(sys.path), self.stdin)
        self.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: tuple) -> None:
        """Send a request; a process that is gone already shows when its answer is read."""
        self.stderr.seek(0)
        self.stderr.truncate()  # the file offset is shared with the process: it writes from 0 again
        with contextlib.suppress(OSError):
            pickle.dump(request, self.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.stdin.flush()

    def receive(self, timeout_s: float | None, problem: RoutingProblem, late: str = "") -> Result | Exception:
        """The answer: a result, the exception the search raised, or why the process gave none.

        A process that died, or did not answer within ``timeout_s`` seconds (it is then killed;
        ``late`` says which bound that was), gives a :class:`SolverCrashError` naming
        ``problem``'s vehicles.
        """
        if timeout_s is not None and os.name == "posix":
            ready, _, _ = select.select([self.stdout], [], [], timeout_s)
            if not ready:
                self.proc.kill()
                return self._crash(problem, f"gave no result within {late or f'{timeout_s:.0f} s'} and was stopped")
        try:
            answer = pickle.load(self.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):  # the process died
            return self._crash(problem)
        said = self._said()
        if said:
            logger.info("solver helper process wrote:\n%s", said)
        return answer

    def _crash(self, problem: RoutingProblem, how: str = "") -> SolverCrashError:
        """The error for a process that gave no answer (``how``: why, else from its exit status); it is ended."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        said = self._said() or "(it wrote nothing)"
        self.close(kill=True)
        if not how and code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name} (signal {-code})"
        elif not how:
            how = "stopped answering" if code is None else f"ended with exit code {code}"
        names = tuple(v.name or f"vehicle {k}" for k, v in enumerate(problem.vehicles))
        return SolverCrashError(
            f"the OR-Tools search process of {', '.join(names)} {how}",
            vehicles=names,
            details=f"what the search process wrote before it ended:\n{said}",
        )

    def _said(self, limit: int = 20_000) -> str:
        """The end of what the process wrote to stderr since the last request."""
        with contextlib.suppress(OSError, ValueError):
            self.stderr.seek(0)
            return self.stderr.read()[-limit:].decode("utf-8", "replace").strip()
        return ""

    def close(self, *, kill: bool = False) -> None:
        """End the process: politely (end of input) or, with ``kill``, at once; release its pipes."""
        if kill and self.alive():
            self.proc.kill()
        with contextlib.suppress(OSError):  # a broken pipe to a process that is gone already
            self.stdin.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()
        self.stderr.close()


# Idle helpers, shared by the threads of this process (a service runs plans in threads).
_IDLE: list[_Helper] = []
_IDLE_LOCK = threading.Lock()


def _take_helper() -> _Helper:
    """An idle helper of this process, or a new one."""
    with _IDLE_LOCK:
        while _IDLE:
            helper = _IDLE.pop()
            if helper.owner != os.getpid():  # inherited by a fork: the parent's, not ours to use or end
                continue
            if helper.alive():
                return helper
            helper.close(kill=True)
    return _Helper()


def _give_helper(helper: _Helper) -> None:
    with _IDLE_LOCK:
        _IDLE.append(helper)


@atexit.register
def _close_helpers() -> None:
    with _IDLE_LOCK:
        while _IDLE:
            helper = _IDLE.pop()
            if helper.owner == os.getpid():
                helper.close()


def _serve() -> None:
    """Helper process loop: read ``(problem, stop, deadline, seed, params, fault)``, answer a result or an exception."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed (e.g. solver logs) goes to stderr, not into the answers
    source = sys.stdin.buffer
    while True:
        try:
            problem, stop, deadline, seed, params, fault = pickle.load(source)
        except EOFError:
            return
        if fault and (fault == "*" or {v.name for v in problem.vehicles} & set(fault.split(","))):
            os.write(2, f"{FAULT_ABORT_ENV}={fault}: aborting\n".encode())
            os.abort()
        answer: Result | Exception
        try:
            if deadline is not None:
                stop = replace(stop, time_limit_s=max(0.1, deadline - time.time()))
            answer = _solve_one(problem, stop=stop, seed=seed, params=params)
        except Exception as exc:  # sent back to the caller
            answer = exc
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable exception
            data = pickle.dumps(RuntimeError(repr(exc)))
        out.write(data)
        out.flush()


def _solve_one(problem: RoutingProblem, *, stop: StopCriterion, seed: int, params: SearchParams) -> Result:
    """Run the search (first-solution portfolio, then the metaheuristic) and extract the result."""
    if params.seed_with == "pyvrp":
        return _solve_seeded(problem, stop=stop, seed=seed, params=params)
    if params.seed_with:
        raise ValueError(f"SearchParams.seed_with={params.seed_with!r} is not known; use 'pyvrp' or ''")
    if len(problem.visits) <= 1 and params.iterated_local_search:
        # One route is possible, and OR-Tools' iterated local search, finding no second solution, never
        # reached a solution limit (it ran to the time limit, or to the safety bound): a descent ends.
        params = replace(params, iterated_local_search=False, metaheuristic="GREEDY_DESCENT")
    t0 = time.perf_counter()
    strategies = list(params.first_solutions) or ["AUTOMATIC"]
    if seed:
        random.Random(seed).shuffle(strategies)
    time_limit_s = stop.time_limit_s
    deadline = None if time_limit_s is None else t0 + time_limit_s
    manager = pywrapcp.RoutingIndexManager(
        problem.num_nodes, len(problem.vehicles), [v.start for v in problem.vehicles], [v.end for v in problem.vehicles]
    )
    mandatory = [i for i in problem.visits if i not in problem.optional_penalties]
    arc_scale = _mean_arc_cost(problem)

    # Phase 1: each first-solution strategy alone (no local search); rank the starts by cost.
    # ILS builds its own start, so with a single strategy there is nothing to choose (and the
    # start is not built twice; the mandatory visits then stay soft).
    starts: list[tuple[int, str, list[list[int]]]] = []
    share = None if time_limit_s is None else time_limit_s * params.first_solution_share / len(strategies)
    for first in strategies if len(strategies) > 1 or not params.iterated_local_search else ():
        model = _build(problem, params)
        sp = _search_parameters(params, first, time_limit_s=share, solution_limit=1, metaheuristic=False)
        sol = model.routing.SolveWithParameters(sp)
        if sol is None:
            logger.debug("first solution %s: none", first)
            continue
        logger.debug("first solution %s: %d", first, sol.ObjectiveValue())
        starts.append((sol.ObjectiveValue(), first, _routes_of(model, sol)))
    starts.sort(key=lambda s: s[0])
    starts = starts[: max(1, params.improve_starts)]

    # Phase 2: improve the best start(s) with the metaheuristic, time and solutions split evenly.
    best, best_model, total_solutions = None, None, 0
    rounds = 1 if params.iterated_local_search else max(1, len(starts))
    for k in range(rounds):
        first, routes = (starts[k][1], starts[k][2]) if starts else (strategies[0], None)
        served = {manager.IndexToNode(index) for route in routes or [] for index in route}
        hard = params.hard_mandatory and routes is not None and all(i in served for i in mandatory)
        model = _build(problem, params, hard_mandatory=hard)
        remaining = None if deadline is None else max(0.05, (deadline - time.perf_counter()) / (rounds - k))
        limit = None if stop.solution_limit is None else max(1, stop.solution_limit // rounds)
        sp = _search_parameters(
            params, first, time_limit_s=remaining, solution_limit=limit, metaheuristic=True, arc_scale=arc_scale
        )
        solution = None
        if params.iterated_local_search:
            # OR-Tools' ILS builds its own start with ``first`` (the best strategy of phase 1);
            # SolveWithParameters and SolveFromAssignment ignore use_iterated_local_search.
            solution = model.routing.SolveWithIteratedLocalSearch(sp)
        elif routes is not None:
            model.routing.CloseModelWithParameters(sp)
            initial = model.routing.ReadAssignmentFromRoutes(routes, True)
            if initial is not None:
                solution = model.routing.SolveFromAssignmentWithParameters(initial, sp)
        if solution is None:
            solution = model.routing.SolveWithParameters(sp)
        total_solutions += model.counter[0]
        if solution is not None:
            model, solution = _settle(problem, params, model, solution)
        if solution is not None and (best is None or solution.ObjectiveValue() < best.ObjectiveValue()):
            best, best_model = solution, model
        if best_model is None:
            best_model = model
    runtime = time.perf_counter() - t0
    assert best_model is not None  # rounds >= 1: the loop ran and set it
    status = _STATUS.get(best_model.routing.status(), str(best_model.routing.status()))
    if best is None:
        dropped = tuple(
            DroppedVisit(i, problem.node_name(i), i not in problem.optional_penalties, "no solution found")
            for i in problem.visits
        )
        return Result((), dropped, 0, False, runtime, total_solutions, status)
    result = _extract(problem, best_model, best, runtime, status)
    return replace(result, num_solutions=total_solutions)


def _solve_seeded(problem: RoutingProblem, *, stop: StopCriterion, seed: int, params: SearchParams) -> Result:
    """PyVRP solves the relaxation, OR-Tools reads its routes (repaired where needed) and finishes."""
    from gridmgmt.patrol._pyvrp import relaxed_routes  # PyVRP loads only when asked for

    t0 = time.perf_counter()
    seed_s = None if stop.time_limit_s is None else stop.time_limit_s * params.seed_share
    iterations = None if stop.solution_limit is None else params.seed_iterations  # a stop without one has a clock
    nodes = relaxed_routes(problem, iterations=iterations, runtime_s=seed_s, seed=seed + params.seed_offset)
    model = _build(problem, params)
    # A descent to a local optimum first. It ends in a few dozen solutions, where guided local search
    # took minutes for the demo's 133 e-bike solutions and, on a one-visit day, never found its 10
    # solutions. On the clock it may run past the limit (OVERRUN_SHARE): cut short, it left visits
    # the routes were cut for unplanned, a must-visit shop among them (the demo e-bike day at 2 s).
    # Closing the model under guided local search also made reading the routes take seconds, not
    # milliseconds (16 s against 0.4 s).
    descent_s = None if stop.time_limit_s is None else max(0.0, _left_s(stop, t0)) + OVERRUN_SHARE * stop.time_limit_s
    sp = _search_parameters(
        params, "AUTOMATIC", time_limit_s=descent_s, solution_limit=stop.solution_limit, metaheuristic=True
    )
    sp.use_iterated_local_search = False  # SolveFromAssignment runs the metaheuristic itself
    sp.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    model.routing.CloseModelWithParameters(sp)
    t_seeded = time.perf_counter()
    # First the routes alone (next visits only): the search fills in times and breaks itself. Reading them
    # through ReadAssignmentFromRoutes searched for those as well and could take the whole time limit (a
    # one-squad day of 13 visits: 26 of 30 s; with no time limit it did not end in 5 minutes).
    solution, cut = None, False
    initial = model.routing.solver().Assignment()
    if model.routing.RoutesToAssignment(_allowed_indices(problem, model, nodes), True, True, initial):
        solution = model.routing.SolveFromAssignmentWithParameters(initial, sp)
    if solution is None:  # the routes do not fit the full model (a lunch break, a time): cut them to fit
        initial, cut = _read_routes(problem, model, nodes), True
        if initial is not None:
            solution = model.routing.SolveFromAssignmentWithParameters(initial, sp)
    if solution is None:
        solution = model.routing.SolveWithParameters(sp)
    t_descended = time.perf_counter()
    if solution is not None and stop.solution_limit is None and _left_s(stop, t0) > _MIN_FINISH_S:
        # on the clock only, the metaheuristic improves the local optimum for the rest of the time
        finish = _search_parameters(
            params, "AUTOMATIC", time_limit_s=_left_s(stop, t0), solution_limit=None, metaheuristic=True
        )
        finish.use_iterated_local_search = False
        solution = model.routing.SolveFromAssignmentWithParameters(solution, finish) or solution
    logger.debug("seeded search: PyVRP and model %.2f s, descent from its routes%s %.2f s, %s %.2f s",
                 t_seeded - t0, " (cut to fit)" if cut else "", t_descended - t_seeded, params.metaheuristic,
                 time.perf_counter() - t_descended)  # fmt: skip
    status = _STATUS.get(model.routing.status(), str(model.routing.status()))
    if solution is not None:
        model, solution = _settle(problem, params, model, solution)
    runtime = time.perf_counter() - t0
    if solution is None:
        dropped = tuple(
            DroppedVisit(i, problem.node_name(i), i not in problem.optional_penalties, "no solution found")
            for i in problem.visits
        )
        return Result((), dropped, 0, False, runtime, model.counter[0], status)
    return _extract(problem, model, solution, runtime, status)


def _left_s(stop: StopCriterion, t0: float) -> float:
    """Seconds left of ``stop``'s time limit for a search started at ``t0`` (infinite without one)."""
    return math.inf if stop.time_limit_s is None else stop.time_limit_s - (time.perf_counter() - t0)


def _read_routes(problem: RoutingProblem, model: _Model, nodes: list[list[int]]) -> pywrapcp.Assignment | None:
    """An assignment of ``nodes`` (visit nodes per vehicle) that ``model`` accepts, or None.

    Visits a vehicle may not serve are left out first. When the routes still do not read (a
    lunch break finds no place, a time the relaxation got wrong), each vehicle's route is cut to
    its longest prefix that reads alone (one-vehicle reads are cheap; with all vehicles a read
    costs seconds on a day plan), then, if the cut routes still do not read together, to the
    longest prefix that reads with the vehicles before it. The visits cut off are left
    unperformed for the search to insert again.
    """
    routing = model.routing
    routes = _allowed_indices(problem, model, nodes)
    initial = routing.ReadAssignmentFromRoutes(routes, True)
    if initial is not None:
        return initial
    empty: list[list[int]] = [[] for _ in routes]
    alone = [_readable_prefix(routing, empty, k, route) for k, route in enumerate(routes)]
    logger.debug("seed routes cut from %d to %d visits", sum(map(len, routes)), sum(map(len, alone)))
    initial = routing.ReadAssignmentFromRoutes(alone, True)
    if initial is not None:
        return initial
    kept = [list(r) for r in empty]
    for k, route in enumerate(alone):
        kept[k] = _readable_prefix(routing, kept, k, route)
    return routing.ReadAssignmentFromRoutes(kept, True)


def _allowed_indices(problem: RoutingProblem, model: _Model, nodes: list[list[int]]) -> list[list[int]]:
    """``nodes`` (visit nodes per vehicle) as the model's indices, less the visits a vehicle may not serve."""
    manager = model.manager
    return [
        [manager.NodeToIndex(n) for n in route if v.allowed_nodes is None or n in v.allowed_nodes]
        for v, route in zip(problem.vehicles, nodes, strict=True)
    ]


def _readable_prefix(routing: pywrapcp.RoutingModel, others: list[list[int]], k: int, route: list[int]) -> list[int]:
    """The longest prefix of ``route`` that reads as vehicle ``k``'s with the ``others`` routes.

    Tried from the whole route down, one visit at a time: a route is usually a visit or two
    too long for its break, and a nearly full route reads in milliseconds where a short one
    (much slack to schedule) takes the better part of a second on a day plan.
    """
    trial = list(others)
    for length in range(len(route), 0, -1):
        trial[k] = route[:length]
        if routing.ReadAssignmentFromRoutes(trial, True) is not None:
            return route[:length]
    return []


def _unfixed(model: _Model, solution: pywrapcp.Assignment) -> str:
    """What ``solution`` leaves open (a break's start, a time of day), or '' when everything is fixed.

    OR-Tools' iterated local search can return a ruin-and-recreate neighbour as it was built (when
    the time limit ends the search before that neighbour was improved): its routes are set, its
    times and breaks are not, and reading such a break's start fails OR-Tools' native check
    ``start_max_ == start_min_``, which aborts the process.
    """
    intervals = solution.IntervalVarContainer()
    for i in range(intervals.Size()):
        element = intervals.Element(i)
        label = element.Var().Name()
        performed = element.PerformedMin() == element.PerformedMax()
        if label in model.breaks and not (performed and element.StartMin() == element.StartMax()):
            return f"{label} starts in [{element.StartMin()}, {element.StartMax()}]"
    if not model.breaks:  # without breaks the earliest times (the ranges' minima) are a schedule
        return ""
    routing, time_dim = model.routing, model.time_dim
    for k in range(routing.vehicles()):
        index = routing.Start(k)
        while True:
            cumul = time_dim.CumulVar(index)
            if solution.Min(cumul) != solution.Max(cumul):
                return f"vehicle {k} is at index {index} in [{solution.Min(cumul)}, {solution.Max(cumul)}]"
            if routing.IsEnd(index):
                break
            index = solution.Value(routing.NextVar(index))
    return ""


def _settle(
    problem: RoutingProblem, params: SearchParams, model: _Model, solution: pywrapcp.Assignment
) -> tuple[_Model, pywrapcp.Assignment | None]:
    """``solution``, or its routes timed again (in a fresh model) when OR-Tools returned them unfinished.

    Returns the model and the solution to read; the solution is None when the routes cannot be
    timed (they are then dropped, with a warning).
    """
    loose = _unfixed(model, solution)
    if not loose:
        return model, solution
    fresh = _build(problem, params)
    sp = _search_parameters(params, "AUTOMATIC", time_limit_s=None, solution_limit=1, metaheuristic=False)
    fresh.routing.CloseModelWithParameters(sp)
    timed = fresh.routing.ReadAssignmentFromRoutes(_routes_of(model, solution), True)
    if timed is None or _unfixed(fresh, timed):
        logger.warning("OR-Tools returned routes whose times cannot be fixed (%s); they are left out", loose)
        return model, None
    logger.debug("OR-Tools returned an unfinished solution (%s); its routes were timed again", loose)
    return fresh, timed


def _extract(
    problem: RoutingProblem, model: _Model, solution: pywrapcp.Assignment, runtime: float, status: str
) -> Result:
    if loose := _unfixed(model, solution):  # never read an open value: OR-Tools aborts on it
        raise RuntimeError(f"an unfinished OR-Tools solution cannot be read ({loose})")
    manager, routing, time_dim = model.manager, model.routing, model.time_dim
    dur, dist = problem.duration_matrix, problem.distance_matrix
    service, demands = problem.service_durations, problem.demands
    assert dist is not None and service is not None and demands is not None  # filled in by RoutingProblem.__post_init__

    scheduled: dict[int, list[ScheduledBreak]] = {}
    intervals = solution.IntervalVarContainer()
    for i in range(intervals.Size()):
        element = intervals.Element(i)
        label = element.Var().Name()
        if label in model.breaks and element.PerformedValue():
            k, name = model.breaks[label]
            start = element.StartValue()
            scheduled.setdefault(k, []).append(ScheduledBreak(name, start, start + element.DurationValue()))

    routes, served = [], set()
    for k, v in enumerate(problem.vehicles):
        brks = sorted(scheduled.get(k, []), key=lambda b: b.start)
        index = routing.Start(k)
        start_time = solution.Min(time_dim.CumulVar(index))
        prev_node, prev_departure = v.start, start_time
        stops, distance, travel, load = [], 0, 0, 0
        index = solution.Value(routing.NextVar(index))
        while True:
            node = manager.IndexToNode(index)
            begin = solution.Min(time_dim.CumulVar(index))
            paused = sum(b.end - b.start for b in brks if prev_departure <= b.start < begin)
            arrival = min(begin, prev_departure + int(dur[prev_node, node]) + paused)
            distance += int(dist[prev_node, node])
            travel += int(dur[prev_node, node])
            if routing.IsEnd(index):
                end_time = begin
                break
            departure = begin + int(service[node])
            late = 0
            if node in problem.soft_deadlines:
                late = max(0, begin - int(problem.soft_deadlines[node][0]))
            stops.append(Stop(node, problem.node_name(node), arrival, begin, departure, late))
            served.add(node)
            load += int(demands[node])
            prev_node, prev_departure = node, departure
            index = solution.Value(routing.NextVar(index))
        if not stops:
            distance = travel = 0
            end_time = start_time
        routes.append(
            Route(
                vehicle=k,
                vehicle_name=v.name or f"vehicle {k}",
                start_depot=v.start,
                end_depot=v.end,
                stops=tuple(stops),
                breaks=tuple(brks),
                start_time=start_time,
                end_time=end_time,
                distance=distance,
                travel_time=travel,
                load=load,
            )
        )

    dropped = []
    for node in problem.visits:
        if node in served:
            continue
        if node in problem.optional_penalties:
            reason = f"optional, left out (penalty {problem.optional_penalties[node]})"
            dropped.append(DroppedVisit(node, problem.node_name(node), False, reason))
        else:
            dropped.append(DroppedVisit(node, problem.node_name(node), True, diagnose_visit(problem, node)))
    return Result(tuple(routes), tuple(dropped), solution.ObjectiveValue(), True, runtime, model.counter[0], status)


def _safety_words(stop: StopCriterion) -> str:
    """The safety bound of a solution-limited search, in words for a failure message."""
    return (
        f"the safety bound of {safety_limit_s(stop):.0f} s for {stop.solution_limit} solutions "
        "(gridmgmt.patrol.search.SAFETY_BASE_S + SAFETY_PER_SOLUTION_S per solution; give a time limit instead)"
    )


def _without_idle(problem: RoutingProblem, idle: list[int]) -> RoutingProblem:
    """``problem`` without the vehicles ``idle`` (allowed no visit).

    Such a vehicle can serve nothing, yet its empty route and lunch break were scheduled with the
    others. With one in the model, a province district's e-bike day (8 squads, 31 visits, 13
    solutions) found 1 solution in minutes instead of 13 in 0.2 s: OR-Tools' time scheduling
    (global span cost and breaks) gave times its break constraint rejected, and its finalizer
    then tried the times one second at a time (``SetValuesFromTargets``) for every neighbour.
    """
    keep = [v for k, v in enumerate(problem.vehicles) if k not in set(idle)]
    return replace(problem, vehicles=keep)


def _with_idle(problem: RoutingProblem, idle: list[int], result: Result) -> Result:
    """``result`` of the problem without ``idle`` vehicles, with their empty routes put back in place."""
    others, tw = iter(result.routes), problem.time_windows
    assert tw is not None  # filled in by RoutingProblem.__post_init__
    routes: list[Route] = []
    for k, v in enumerate(problem.vehicles):
        if k in idle:
            start = max(int(v.shift_start), int(tw[v.start, 0]))
            brks = tuple(ScheduledBreak(b.name, b.earliest_start, b.earliest_start + b.duration) for b in v.breaks)
            routes.append(Route(k, v.name or f"vehicle {k}", v.start, v.end, (), brks, start, start, 0, 0, 0))
        elif result.routes:
            routes.append(replace(next(others), vehicle=k))
    return replace(result, routes=tuple(routes) if result.routes else ())
