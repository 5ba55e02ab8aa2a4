"""Private PyVRP seeding of the OR-Tools search: PyVRP's iterated local search on a relaxation.

PyVRP solves what it models of a :class:`gridmgmt.patrol.model.RoutingProblem`: windows, service,
capacities, optional visits with prizes (their drop penalties), mandatory visits (required), fixed
vehicle costs and a heterogeneous fleet with per-vehicle depots and shifts. What it does not model
is relaxed: lunch breaks shorten the shift by their durations (there is room for them, not a
place), allowed-visit sets and per-vehicle node costs become per-vehicle distance profiles (a
forbidden visit costs more than any route), soft deadlines and the span cost are left out.
OR-Tools (:mod:`gridmgmt.patrol._ortools`) reads the routes back, keeps what its full model
accepts and finishes the search. Only :mod:`gridmgmt.patrol._ortools` imports this module.
"""

from __future__ import annotations

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from gridmgmt.patrol.model import RoutingProblem, Vehicle

__all__ = ["relaxed_routes"]

_FOREVER = np.iinfo(np.int64).max // 4


def _profile_key(problem: RoutingProblem, v: Vehicle) -> tuple:
    """Vehicles with the same key share one distance profile (allowed visits and node costs)."""
    allowed = None if v.allowed_nodes is None else tuple(sorted(v.allowed_nodes))
    return allowed, tuple(sorted((int(n), int(c)) for n, c in v.node_costs.items() if c))


def _type_key(problem: RoutingProblem, v: Vehicle) -> tuple:
    """Vehicles with the same key are one PyVRP vehicle type."""
    breaks_s = sum(int(b.duration) for b in v.breaks)
    shift_end = problem.shift_end_of(v)
    return (v.start, v.end, v.shift_start, shift_end, v.capacity, v.fixed_cost, breaks_s, _profile_key(problem, v))


def _data(problem: RoutingProblem) -> tuple[pyvrp.ProblemData, list[int], list[list[int]]]:
    """PyVRP data of the relaxation, the node of each PyVRP client, and our vehicles of each type."""
    dist, dur = problem.distance_matrix, problem.duration_matrix
    tw, service, demands = problem.time_windows, problem.service_durations, problem.demands
    assert dist is not None and tw is not None and service is not None and demands is not None  # __post_init__
    n = problem.num_nodes
    depots = sorted(problem.depots)
    visits = problem.visits
    has_load = any(v.capacity is not None for v in problem.vehicles) and bool(demands.any())
    # Locations in our node order: PyVRP's depots and clients point at them.
    locations = [pyvrp.Location(0.0, 0.0) for _ in range(n)]
    depot_of = {node: k for k, node in enumerate(depots)}
    pv_depots = [pyvrp.Depot(node, tw_early=int(tw[node, 0]), tw_late=int(tw[node, 1])) for node in depots]
    clients = [
        pyvrp.Client(
            node,
            delivery=[int(demands[node])] if has_load else [],
            service_duration=int(service[node]),
            tw_early=int(tw[node, 0]),
            tw_late=int(tw[node, 1]),
            prize=int(problem.optional_penalties.get(node, 0)),
            required=node not in problem.optional_penalties,
        )
        for node in visits
    ]
    forbidden = int(dist.max()) * (n + 1) + 1  # more than any route: never worth it
    profiles: dict[tuple, int] = {}
    distance_matrices: list[np.ndarray] = []
    types: dict[tuple, list[int]] = {}
    for k, v in enumerate(problem.vehicles):
        types.setdefault(_type_key(problem, v), []).append(k)
        key = _profile_key(problem, v)
        if key not in profiles:
            extra = np.zeros(n, dtype=np.int64)
            for node, cost in key[1]:
                extra[node] = cost
            if key[0] is not None:
                barred = np.ones(n, dtype=bool)
                barred[list(key[0])] = False
                barred[depots] = False
                extra[barred] += forbidden
            profiles[key] = len(distance_matrices)
            matrix = np.asarray(dist + extra[None, :], dtype=np.int64)
            np.fill_diagonal(matrix, 0)  # PyVRP requires it; a node is never entered from itself
            distance_matrices.append(matrix)
    vehicle_types = []
    for members in types.values():
        v = problem.vehicles[members[0]]
        shift_end = problem.shift_end_of(v)
        vehicle_types.append(
            pyvrp.VehicleType(
                len(members),
                capacity=[int(v.capacity) if v.capacity is not None else int(demands.sum())] if has_load else [],
                start_depot=depot_of[v.start],
                end_depot=depot_of[v.end],
                fixed_cost=int(v.fixed_cost),
                tw_early=int(v.shift_start),
                tw_late=shift_end,
                shift_duration=max(0, shift_end - int(v.shift_start) - sum(int(b.duration) for b in v.breaks)),
                profile=profiles[_profile_key(problem, v)],
            )
        )
    durations = np.array(dur, dtype=np.int64)
    np.fill_diagonal(durations, 0)
    data = pyvrp.ProblemData(  # PyVRP's stubs spell a matrix ndarray[int]: numpy's own types do not match it
        locations,
        clients,
        pv_depots,
        vehicle_types,
        distance_matrices,  # type: ignore[arg-type]
        [durations] * len(distance_matrices),  # type: ignore[list-item]
    )
    return data, visits, list(types.values())


def relaxed_routes(
    problem: RoutingProblem, *, iterations: int | None, runtime_s: float | None, seed: int
) -> list[list[int]]:
    """Visit nodes of each vehicle's route (empty lists for unused vehicles) in PyVRP's best solution.

    Parameters
    ----------
    problem : RoutingProblem
    iterations : int or None
        PyVRP iterations (deterministic for a seed); None: ``runtime_s`` only.
    runtime_s : float or None
        Wall-clock bound; None: ``iterations`` only. One of the two must be given.
    seed : int
        PyVRP's random seed.
    """
    criteria: list[StoppingCriterion] = []
    if iterations is not None:
        criteria.append(MaxIterations(max(1, int(iterations))))
    if runtime_s is not None:
        criteria.append(MaxRuntime(max(0.01, float(runtime_s))))
    if not criteria:
        raise ValueError("relaxed_routes needs iterations or runtime_s")
    data, client_node, type_vehicles = _data(problem)
    stop = criteria[0] if len(criteria) == 1 else MultipleCriteria(criteria)
    result = pyvrp.solve(data, stop=stop, seed=int(seed), collect_stats=False, display=False)
    routes: list[list[int]] = [[] for _ in problem.vehicles]
    free = [list(members) for members in type_vehicles]
    for route in result.best.routes():
        vehicle = free[route.vehicle_type()].pop(0)
        routes[vehicle] = [client_node[a.idx] for a in route.schedule() if a.is_client()]
    return routes
