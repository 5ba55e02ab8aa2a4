"""How long and how the solver searches: stopping criteria and the OR-Tools search settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OVERRUN_SHARE", "MaxRuntime", "MaxSolutions", "SearchParams", "StopCriterion", "safety_limit_s"]


@dataclass(frozen=True)
class StopCriterion:
    """When to stop the search: a wall-clock limit, a solution count, or both (first hit wins).

    A solution limit alone makes the search deterministic (no wall-clock dependence); it still
    ends at a generous safety bound (:func:`safety_limit_s`), and a result stopped there says so.
    """

    time_limit_s: float | None = None
    solution_limit: int | None = None

    def __post_init__(self) -> None:
        if self.time_limit_s is None and self.solution_limit is None:
            raise ValueError("a stopping criterion needs time_limit_s or solution_limit")


#: A search stopped by a solution count only still ends after this wall-clock bound (seconds:
#: ``SAFETY_BASE_S + SAFETY_PER_SOLUTION_S`` x the count), so it can never hang a command. It is
#: far above what a search needs (the demo day, 200 solutions, takes 20-30 s against a bound of
#: 520 s); when it ends a search, the plan is no longer reproducible and the solver says so.
SAFETY_BASE_S = 120.0
SAFETY_PER_SOLUTION_S = 2.0


#: A search on the clock may run past its time limit by this share of it, to end its descent at a
#: local optimum (a descent cut short leaves visits unplanned that it was about to place).
OVERRUN_SHARE = 0.5


def safety_limit_s(stop: StopCriterion) -> float | None:
    """The wall-clock bound of a search with a solution limit only (None when ``stop`` has a time limit)."""
    if stop.time_limit_s is not None:
        return None
    assert stop.solution_limit is not None  # a criterion without a time limit has a solution limit
    return SAFETY_BASE_S + SAFETY_PER_SOLUTION_S * int(stop.solution_limit)


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
    """Tuning of the OR-Tools search (defaults measured on the Solomon benchmark and the demo day).

    PyVRP seeds the search by default (``seed_with="pyvrp"``): its iterated local search solves
    the relaxation it models, OR-Tools reads those routes into its full model (breaks, own-grid
    sets, soft deadlines, span cost) and finishes them; measured better than OR-Tools alone on
    Solomon and on the demo day (README, Performance). The settings below up to ``portfolio``
    tune OR-Tools alone (``seed_with=""``) and, for the finish, ``metaheuristic`` and operators.

    The defaults run OR-Tools' iterated local search (SISR ruin of about 15-30 visits, greedy
    descent, simulated-annealing acceptance) because, on the hard Solomon instances at 10 s, it
    beat guided local search by several points of gap; guided local search stays available with
    ``iterated_local_search=False``. ILS runs only through
    ``RoutingModel.SolveWithIteratedLocalSearch`` (``SolveWithParameters`` ignores the flag) and
    needs a greedy-descent improvement step. The measurements behind each default are in
    ``docs/routing_tuning.md``.

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
    insertion_sorting : tuple of str
        Order in which local cheapest insertion (a start, or the ILS re-insertion) takes the
        visits: ``SORTING_PROPERTY_*`` names of OR-Tools (e.g. ``PENALTY`` first, so mandatory
        visits get their places before optional ones); empty: OR-Tools' default (visits with
        fewer allowed vehicles first, then by penalty).
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
        (lowest cost, then lowest worker index: deterministic under a solution limit). Each
        runs in a helper process, started when first needed and kept for later searches (plain
        interpreters: the caller's main module is not re-imported), so that a native abort of
        OR-Tools ends a helper, never the caller. None: one per core, at most 2.
    portfolio : tuple of mapping
        Settings of workers 1, 2, ... as overrides of these (cycled); worker 0 runs these.
        Default: a smaller ruin (15 visits, strings up to 10) and a hotter start (1.0).
    seed_with : str
        ``"pyvrp"`` (default): PyVRP's iterated local search solves the relaxation it models (no breaks;
        allowed visits and node costs as per-vehicle distances; no soft deadlines or span cost)
        and OR-Tools starts from its routes (visits its full model rejects are left out and
        re-inserted) and descends to a local optimum (on the clock it may overrun by
        ``OVERRUN_SHARE`` of the limit to get there), then, under a time limit only, improves it
        with ``metaheuristic`` for the rest of the time (under a solution limit PyVRP runs
        ``seed_iterations``);
        ``""``: OR-Tools alone.
    seed_share : float
        Share of a time limit the seeding search may use (the rest finishes in OR-Tools).
    seed_iterations : int
        PyVRP iterations of the seeding search when the stop has no time limit (deterministic);
        with a time limit too, the first of the two ends it.
    seed_offset : int
        Added to the seed of the seeding search (worker k runs offset k, so workers differ).
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
    insertion_sorting: tuple[str, ...] = ()
    mandatory_penalty: int | None = None
    hard_mandatory: bool = True
    log_search: bool = False
    workers: int | None = None
    portfolio: tuple[Mapping[str, Any], ...] = (  # field name -> value of that field's type
        {"ils_removed_visits": 15, "ils_max_sequence": 10, "ils_temperature": 1.0},
    )
    seed_with: str = "pyvrp"
    seed_share: float = 0.9
    seed_iterations: int = 1_000
    seed_offset: int = 0

    def num_workers(self) -> int:
        """Number of parallel searches: ``workers``, or by default one per core up to 2."""
        if self.workers is not None:
            return max(1, int(self.workers))
        return max(1, min(2, os.cpu_count() or 1))
