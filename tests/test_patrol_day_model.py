"""Tests of one mode's routing model: routes stay in the squad's own grid, with the stated exceptions.

A synthetic street grid (no files): grid 1 is the western half, grid 2 the eastern half, and
both squads start at the western depot, so without the rule squad 2 would serve the near
western shops.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from road_fixtures import synthetic_grid

from gridmgmt.patrol import MaxSolutions, solve
from gridmgmt.patrol.day_model import MANDATORY_PENALTY, PATROL_PARAMS, build_problem, cover_cost
from gridmgmt.patrol.squads import Squad

PARAMS = replace(PATROL_PARAMS, workers=1)


@pytest.fixture(scope="module")
def district():
    graph = synthetic_grid(6, 24, spacing_m=150.0, oneway_every=0)
    x = [d["x"] for _, d in graph.nodes(data=True)]
    y = [d["y"] for _, d in graph.nodes(data=True)]
    xs, ys = list(np.linspace(min(x), max(x), 24)), list(np.linspace(min(y), max(y), 6))
    depots = pd.DataFrame({"depot_id": ["D1"], "name": ["west"], "lon": [xs[0]], "lat": [ys[len(ys) // 2]]})
    return SimpleNamespace(graph=graph, depots=depots, xs=xs, ys=ys)


def _squad(grid: int, *, shift_end_min: int = 17 * 60 + 30) -> Squad:
    return Squad(
        squad_id=f"G{grid:02d}",
        grid_id=grid,
        members=(f"M{grid}", f"Z{grid}"),
        member_names=("m", "z"),
        depot="D1",
        travel_mode="ebike",
        shift_start_min=8 * 60 + 30,
        shift_end_min=shift_end_min,
        lunch_earliest_min=11 * 60 + 30,
        lunch_latest_min=13 * 60 + 30,
        lunch_min=60,
    )


def _visits(district, spec: list[tuple[str, int, bool, int, int]]) -> pd.DataFrame:
    """Visits from ``(retailer_id, column, mandatory, window_open_min, window_close_min)``; grid by half."""
    half = len(district.xs) // 2
    rows = []
    for rid, col, mandatory, opening, closing in spec:
        rows.append(
            {
                "retailer_id": rid,
                "lon": district.xs[col],
                "lat": district.ys[(col % 3) + 1],
                "service_min": 20.0,
                "window_open_min": opening,
                "window_close_min": closing,
                "mandatory": mandatory,
                "priority": 50.0,
                "home_squad": "G01" if col < half else "G02",
            }
        )
    return pd.DataFrame(rows)


def _served(problem, result) -> dict[str, str]:
    """retailer_id -> squad that serves it."""
    return {problem.names[s.node]: r.vehicle_name for r in result.routes for s in r.stops}


def test_each_squad_serves_only_its_own_grid(district):
    """Squad 2 starts next to grid 1's eight shops but serves only grid 2's one; every shop is planned.

    Without the rule the span cost has squad 2 take about half of grid 1's shops.
    """
    day = (8 * 60 + 30, 17 * 60 + 30)
    spec = [(f"W{c}", c, False, *day) for c in range(1, 9)] + [("E20", 20, False, *day)]
    chosen = _visits(district, spec)
    squads = [_squad(1), _squad(2)]
    problem = build_problem(district, "ebike", squads, chosen, span_cost=1)
    home = dict(zip(chosen["retailer_id"], chosen["home_squad"], strict=True))
    served = _served(problem, solve(problem, stop=MaxSolutions(30), params=PARAMS))
    assert set(served) == set(home)
    assert all(squad == home[rid] for rid, squad in served.items())


def test_a_mandatory_visit_its_squad_cannot_fit_is_covered_and_an_optional_one_is_not(district):
    """Squad 1 goes home at 15:00: its 16:30 mandatory visit goes to squad 2, its 16:30 optional one to nobody."""
    late = (16 * 60 + 30, 17 * 60)
    day = (8 * 60 + 30, 17 * 60 + 30)
    spec = [("W-MUST", 3, True, *late), ("W-LATE", 4, False, *late), ("W1", 2, False, *day), ("E1", 20, False, *day)]
    chosen = _visits(district, spec)
    squads = [_squad(1, shift_end_min=15 * 60), _squad(2)]
    problem = build_problem(district, "ebike", squads, chosen, span_cost=1)
    served = _served(problem, solve(problem, stop=MaxSolutions(30), params=PARAMS))
    assert served["W-MUST"] == "G02"
    assert "W-LATE" not in served
    assert served["W1"] == "G01" and served["E1"] == "G02"


def test_a_grid_without_squad_today_is_open_to_every_squad(district):
    """Shops whose grid has no squad today (home '') may be served by either squad."""
    day = (8 * 60 + 30, 17 * 60 + 30)
    chosen = _visits(district, [("W1", 2, True, *day), ("E1", 20, True, *day)]).assign(home_squad="")
    problem = build_problem(district, "ebike", [_squad(1), _squad(2)], chosen, span_cost=1)
    assert all(v.allowed_nodes == frozenset(problem.visits) and not v.node_costs for v in problem.vehicles)
    served = _served(problem, solve(problem, stop=MaxSolutions(10), params=PARAMS))
    assert set(served) == {"W1", "E1"}


def test_cover_cost_outweighs_every_optional_visit_and_stays_below_the_mandatory_penalty():
    """Covering costs more than the own squad dropping all its optional visits, less than leaving it out."""
    penalties = {2: 30_000, 3: 60_000, 4: MANDATORY_PENALTY}
    cost = cover_cost(penalties, span_cost=1, horizon_s=64_800)
    assert cost > 90_000 + 64_800
    assert cost < MANDATORY_PENALTY
