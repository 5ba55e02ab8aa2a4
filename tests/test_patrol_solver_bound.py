"""A solution-limited search ends: squads allowed no visit stay out of the model, and a safety bound stops the rest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gridmgmt.patrol import Break, MaxSolutions, RoutingProblem, Vehicle, solve
from gridmgmt.patrol import search as search_module
from gridmgmt.patrol.day_model import PATROL_PARAMS
from gridmgmt.patrol.model import SolverCrashError

#: OR-Tools' own search (no PyVRP seed), where the idle squad made the search crawl.
ONE_WORKER = dataclasses.replace(PATROL_PARAMS, workers=1, seed_with="")
DAY = Path(__file__).parent / "data" / "patrol_idle_squad_day.json"


def _idle_squad_day(path: Path = DAY) -> RoutingProblem:
    """A day saved from a plan (default: the province district's e-bike day that searched for minutes)."""
    raw = json.loads(path.read_text())
    vehicles = [
        Vehicle(
            start=v["start"],
            end=v["end"],
            shift_start=v["shift_start"],
            shift_end=v["shift_end"],
            breaks=tuple(Break(earliest_start=b[1], latest_start=b[2], duration=b[3], name=b[0]) for b in v["breaks"]),
            allowed_nodes=None if v["allowed_nodes"] is None else frozenset(v["allowed_nodes"]),
            node_costs={int(a): c for a, c in v["node_costs"].items()},
            fixed_cost=v["fixed_cost"],
            soft_end=v.get("soft_end"),
            late_end_penalty=v.get("late_end_penalty", 0),
            name=v["name"],
        )
        for v in raw["vehicles"]
    ]
    return RoutingProblem(
        duration_matrix=raw["duration_matrix"],
        distance_matrix=raw["distance_matrix"],
        vehicles=vehicles,
        service_durations=raw["service_durations"],
        time_windows=raw["time_windows"],
        optional_penalties={int(k): v for k, v in raw["optional_penalties"].items()},
        span_cost_coefficient=raw["span_cost_coefficient"],
        horizon=raw["horizon"],
    )


def test_the_day_with_a_squad_allowed_no_visit_reaches_its_solution_count() -> None:
    """All 13 solutions (before: 1 in minutes); G04 gets an empty route in its place; every visit served."""
    problem = _idle_squad_day()
    idle = [k for k, v in enumerate(problem.vehicles) if v.allowed_nodes == frozenset()]
    assert [problem.vehicles[k].name for k in idle] == ["G04"]
    result = solve(problem, stop=MaxSolutions(13), params=ONE_WORKER)
    assert result.num_solutions >= 13
    assert [r.vehicle for r in result.routes] == list(range(len(problem.vehicles)))
    assert [r.vehicle_name for r in result.routes] == [v.name for v in problem.vehicles]
    g04 = result.routes[idle[0]]
    assert g04.stops == () and g04.start_time == g04.end_time == 30600
    assert [b.name for b in g04.breaks] == ["lunch"]
    assert not result.dropped
    again = solve(problem, stop=MaxSolutions(13), params=ONE_WORKER)
    assert again.routes == result.routes and again.objective == result.objective


def test_a_search_past_its_safety_bound_is_stopped_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solution count the search cannot reach ends at the bound as a SolverCrashError naming squads and bound."""
    monkeypatch.setattr(search_module, "SAFETY_BASE_S", 1.0)
    monkeypatch.setattr(search_module, "SAFETY_PER_SOLUTION_S", 0.0)
    problem = _idle_squad_day()
    with pytest.raises(SolverCrashError) as caught:
        solve(problem, stop=MaxSolutions(10**9), params=ONE_WORKER)
    message = str(caught.value)
    assert "safety bound of 1 s for 1000000000 solutions" in message and "G01" in message
    assert "G04" not in caught.value.vehicles  # left out of the search
    assert "\n" not in message


def test_safety_bound_grows_with_the_solution_count_and_is_none_under_a_time_limit() -> None:
    """The bound is generous (the demo day's 200 solutions: 520 s); a time limit is its own bound."""
    assert search_module.safety_limit_s(MaxSolutions(200)) == 520.0
    assert search_module.safety_limit_s(search_module.StopCriterion(time_limit_s=5, solution_limit=200)) is None


def test_off_the_clock_no_sub_search_is_timed_by_default() -> None:
    """Under a solution limit only, OR-Tools' per-neighbourhood time limit (0.1 s by default) is lifted to a
    safety bound far above a sub-search's milliseconds, so a loaded core cannot change the plan; on the clock
    it stays OR-Tools' own."""
    from gridmgmt.patrol import _ortools

    def lns_s(time_limit_s):
        sp = _ortools._search_parameters(ONE_WORKER, "AUTOMATIC", time_limit_s=time_limit_s, solution_limit=200,
                                         metaheuristic=True)  # fmt: skip
        return sp.lns_time_limit.ToMilliseconds() / 1000

    assert lns_s(None) == _ortools.LNS_SAFETY_S >= 60
    assert lns_s(10.0) == 0.1


def test_a_seeded_one_squad_day_reads_its_routes_at_once() -> None:
    """PyVRP's routes for one squad's 13 visits with lunch (saved from the small district, cover allowed) become
    the search's start at once: read with ReadAssignmentFromRoutes they took the whole time limit (a 60 s plan job
    took 58 s) and, under a solution limit alone, did not end in 5 minutes (here: the safety bound would fail it)."""
    problem = _idle_squad_day(Path(__file__).parent / "data" / "patrol_one_squad_day.json")
    result = solve(problem, stop=MaxSolutions(10), seed=0, params=dataclasses.replace(PATROL_PARAMS, workers=1))
    assert result.is_feasible() and sorted(n for r in result.routes for n in r.visits) == sorted(problem.visits)
    assert result.runtime_s < 60.0, result.runtime_s
