"""The solver seeded by PyVRP (SearchParams(seed_with="pyvrp")): same behaviour as the plain search.

Small problems, iteration and solution limits only (no timed tests).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from test_solver import SOLOMON, _brute_force, _check_schedule, _euclid, _tiny_vrptw

from gridmgmt.patrol import Break, MaxSolutions, RoutingProblem, SearchParams, Vehicle, _ortools, solve
from gridmgmt.patrol._pyvrp import relaxed_routes
from gridmgmt.patrol.search import StopCriterion

SEEDED = SearchParams(seed_with="pyvrp", seed_iterations=300)


def test_seeded_tiny_vrptw_matches_brute_force_optimum():
    """PyVRP's seed and OR-Tools' finish find the brute-force optimum, with a consistent schedule."""
    problem = _tiny_vrptw()
    result = solve(problem, stop=MaxSolutions(50), seed=0, params=SEEDED)
    assert result.is_feasible()
    assert result.distance() == _brute_force(problem)
    _check_schedule(problem, result)


def test_seeded_break_is_kept_although_pyvrp_does_not_model_it():
    """A lunch break PyVRP cannot see is placed by OR-Tools in its window, cutting no service."""
    xy = [(0, 0), (30, 0), (60, 0), (60, 30), (30, 30), (0, 30)]
    problem = RoutingProblem(
        duration_matrix=_euclid(xy),
        vehicles=[Vehicle(start=0, end=0, shift_start=0, shift_end=600, breaks=(Break(200, 260, 60, "lunch"),))],
        service_durations=[0, 50, 50, 50, 50, 50],
    )
    result = solve(problem, stop=MaxSolutions(50), seed=0, params=SEEDED)
    assert result.is_feasible()
    (route,) = result.routes
    (lunch,) = route.breaks
    assert 200 <= lunch.start <= 260 and lunch.end - lunch.start == 60
    for stop in route.stops:
        assert lunch.end <= stop.start or lunch.start >= stop.departure
    _check_schedule(problem, result)


def test_seeded_own_grid_and_optional_visits():
    """Allowed visits (own grid) hold; an optional visit worth less than its detour is left out."""
    xy = [(0, 0), (50, 0), (10, 0), (40, 0), (20, 0), (25, 90)]
    vehicles = [Vehicle(start=0, end=1, allowed_nodes=frozenset({2, 5})), Vehicle(start=1, end=1)]
    problem = RoutingProblem(duration_matrix=_euclid(xy), vehicles=vehicles, optional_penalties={5: 10})
    result = solve(problem, stop=MaxSolutions(50), seed=0, params=SEEDED)
    assert result.is_feasible()
    assert set(result.routes[0].visits) <= {2, 5}
    assert sorted(n for r in result.routes for n in r.visits) == [2, 3, 4]
    assert [d.node for d in result.dropped] == [5]


def test_relaxation_keeps_a_vehicle_off_visits_it_may_not_serve():
    """PyVRP's routes respect allowed visits through per-vehicle distances (no repair needed)."""
    xy = [(0, 0), (10, 0), (-10, 0), (10, 5), (-10, 5)]
    vehicles = [Vehicle(start=0, end=0, allowed_nodes=frozenset({2, 4})), Vehicle(start=0, end=0)]
    problem = RoutingProblem(duration_matrix=_euclid(xy), vehicles=vehicles)
    routes = relaxed_routes(problem, iterations=200, runtime_s=None, seed=0)
    assert set(routes[0]) <= {2, 4}
    assert sorted(routes[0] + routes[1]) == [1, 2, 3, 4]


def test_seed_routes_the_full_model_rejects_are_repaired():
    """A seed visit its vehicle may not serve is left out; a route that misses its break is cut, not lost."""
    xy = [(0, 0), (30, 0), (60, 0), (60, 30), (30, 30)]
    problem = RoutingProblem(
        duration_matrix=_euclid(xy),
        vehicles=[
            Vehicle(start=0, end=0, shift_end=250, allowed_nodes=frozenset({1, 2}), breaks=(Break(100, 110, 50),)),
            Vehicle(start=0, end=0, shift_end=400),
        ],
        service_durations=[0, 60, 60, 60, 60],
        optional_penalties={1: 1000, 2: 1000, 3: 1000, 4: 1000},
    )
    model = _ortools._build(problem, SearchParams())
    sp = _ortools._search_parameters(
        SearchParams(), "AUTOMATIC", time_limit_s=None, solution_limit=1, metaheuristic=False
    )
    model.routing.CloseModelWithParameters(sp)
    # vehicle 0 may not serve 3, and 1 then 2 with the break takes 290 > 250: the route is cut to [1]
    assignment = _ortools._read_routes(problem, model, [[3, 1, 2], [4]])
    assert assignment is not None
    routes = [[model.manager.IndexToNode(i) for i in r] for r in _ortools._routes_of(model, assignment)]
    assert routes == [[1], [4]]


def test_seeded_solomon_c101_near_bks():
    """Solomon C101 seeded by PyVRP (fixed iteration budget) is feasible and within 1% of the distance-only BKS."""
    bench = _bench_routing()
    bks = float(pd.read_csv(SOLOMON / "bks_distance_only.csv").set_index("instance").loc["C101", "distance"])
    problem = bench.to_problem(bench.load_instance(SOLOMON / "C101.vrp"))
    result = solve(problem, stop=MaxSolutions(20), seed=0, params=SearchParams(seed_with="pyvrp", seed_iterations=500))
    assert result.is_feasible()
    assert result.distance() / 10 <= 1.01 * bks
    _check_schedule(problem, result)


def test_seeded_gehring_homberger_200_near_bks():
    """A 200-customer Gehring & Homberger instance (RC1_2_1, 50 vehicles) seeded by PyVRP with a fixed iteration
    budget: feasible, every schedule consistent, within 2% of the distance-only best known."""
    bench = _bench_routing()
    folder = SOLOMON.parent / "gh200"
    bks = float(pd.read_csv(folder / "bks_distance_only.csv").set_index("instance").loc["RC1_2_1", "distance"])
    problem = bench.to_problem(bench.load_instance(folder / "RC1_2_1.vrp"))
    params = SearchParams(seed_with="pyvrp", seed_iterations=3000)
    result = solve(problem, stop=MaxSolutions(20), seed=0, params=params)
    assert result.is_feasible() and not result.dropped
    assert result.distance() / 10 <= 1.02 * bks  # 1.24% when written
    _check_schedule(problem, result)


def _bench_routing():
    """scripts/bench_routing.py as a module (its instance reader and model)."""
    spec = importlib.util.spec_from_file_location(
        "bench_routing", Path(__file__).resolve().parents[1] / "scripts" / "bench_routing.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


_FRESH = """
import json, sys
sys.path.insert(0, {root!r})
from test_solver_seed import _day_like
from gridmgmt.patrol import MaxSolutions, SearchParams, solve
r = solve(_day_like(), stop=MaxSolutions(40), seed=3, params=SearchParams(seed_with="pyvrp", seed_iterations=400))
print(json.dumps([[r.visits, [(s.start, s.departure) for s in r.stops], [(b.start, b.end) for b in r.breaks]]
                  for r in r.routes]))
"""


def _day_like() -> RoutingProblem:
    """Twenty visits, three squads with lunch, own-grid sets and optional visits (random but fixed)."""
    rng = np.random.default_rng(7)
    xy = [(0, 0), *((int(x), int(y)) for x, y in rng.integers(-300, 300, size=(20, 2)))]
    grids = [frozenset(range(1 + 7 * g, min(21, 8 + 7 * g))) for g in range(3)]
    lunch = (Break(3600, 4200, 600, "lunch"),)
    vehicles = [Vehicle(start=0, end=0, shift_end=9000, breaks=lunch, allowed_nodes=g) for g in grids]
    return RoutingProblem(
        duration_matrix=_euclid(xy),
        vehicles=vehicles,
        service_durations=[0] + [300] * 20,
        optional_penalties={i: 400 + 50 * i for i in range(1, 21, 2)},
    )


def test_seeded_plans_are_identical_across_fresh_processes():
    """Two fresh interpreters solve a day-like problem under an iteration and solution budget to the same plan."""
    root = str(Path(__file__).resolve().parent)
    runs = [
        subprocess.run(
            [sys.executable, "-c", _FRESH.format(root=root)], capture_output=True, text=True, check=True, timeout=300
        )
        for _ in range(2)
    ]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first == second
    assert sum(len(route[0]) for route in first) >= 10


def test_seeded_day_with_a_squad_allowed_no_visit_serves_every_visit():
    """The province e-bike day (a squad allowed no visit, lunch, own grids) seeded by PyVRP: all served, G04 idle."""
    from test_patrol_solver_bound import _idle_squad_day

    problem = _idle_squad_day()
    result = solve(problem, stop=MaxSolutions(13), seed=0, params=SearchParams(seed_iterations=300, workers=1))
    assert not result.dropped
    (g04,) = [r for r in result.routes if r.vehicle_name == "G04"]
    assert g04.stops == ()
    for route, vehicle in zip(result.routes, problem.vehicles, strict=True):
        assert vehicle.allowed_nodes is None or set(route.visits) <= vehicle.allowed_nodes
    _check_schedule(problem, result)


def test_a_one_visit_day_stops_at_its_solution_limit_not_the_clock():
    """A one-visit day under a solution limit, alone or with a time cap (the service's plan jobs), ends at once.

    OR-Tools' iterated local search found no second solution and ran to the cap (every plan job of the small
    district took the 60 s cap) or, under a solution limit alone, to the safety bound, which fails the search;
    the PyVRP-seeded finish under guided local search did the same. Both stops and both searches end here
    (a hang would fail the first case by its safety bound).
    """
    problem = RoutingProblem(duration_matrix=_euclid([(0, 0), (30, 40)]), vehicles=[Vehicle(start=0, end=0)])
    for stop in (MaxSolutions(10), StopCriterion(time_limit_s=120.0, solution_limit=10)):
        for params in (SearchParams(seed_with="pyvrp", seed_iterations=300, workers=1), SearchParams(workers=1)):
            result = solve(problem, stop=stop, seed=0, params=params)
            assert result.is_feasible() and [list(r.visits) for r in result.routes] == [[1]]
            assert result.runtime_s < 60.0, (stop, params.seed_with, result.runtime_s)


def test_on_the_clock_a_seed_that_misses_its_lunch_is_cut_and_its_must_visit_placed(caplog):
    """On the clock, a seed route the full model rejects is cut, and the descent places its must-visit elsewhere.

    Visit 2 (window 80-90, 60 min of service) is near squad 0's depot, but squad 0's lunch must start at
    100-110 and cannot cut a service: PyVRP's relaxation, which cannot see the lunch, gives it to squad 0,
    the full model rejects that route, and squad 1 serves the visit.
    """
    xy = [(0, 0), (50, 0), (10, 0), (0, 30), (30, 30)]
    problem = RoutingProblem(
        duration_matrix=_euclid(xy),
        vehicles=[
            Vehicle(start=0, end=0, shift_end=400, breaks=(Break(100, 110, 50, "lunch"),)),
            Vehicle(start=1, end=1, shift_end=400),
        ],
        time_windows=[(0, 400), (0, 400), (80, 90), (0, 400), (0, 400)],
        service_durations=[0, 0, 60, 30, 30],
        optional_penalties={4: 5},
    )
    seeded = relaxed_routes(problem, iterations=200, runtime_s=None, seed=0)
    assert 2 in seeded[0]  # the relaxation cannot see the lunch: visit 2 goes to squad 0
    with caplog.at_level(logging.DEBUG, logger="gridmgmt.patrol._ortools"):
        result = _ortools._solve_one(problem, stop=StopCriterion(time_limit_s=0.5), seed=0, params=SEEDED)
    assert "cut to fit" in caplog.text
    assert result.is_feasible() and not [d for d in result.dropped if d.mandatory]
    assert 2 in result.routes[1].visits
    (lunch,) = result.routes[0].breaks
    assert 100 <= lunch.start <= 110
    _check_schedule(problem, result)
