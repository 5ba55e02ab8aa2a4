"""Solve a vehicle routing problem with time windows, shifts and breaks: the public ``solve`` entry.

The shape follows PyVRP: build a :class:`gridmgmt.patrol.model.RoutingProblem`, call
:func:`solve` with a stopping criterion (:mod:`gridmgmt.patrol.search`) and a seed, and read a
:class:`gridmgmt.patrol.model.Result` with ``cost()``, ``is_feasible()`` and ``summary()``.
OR-Tools' RoutingModel is the private backend (:mod:`gridmgmt.patrol._ortools`), the model of
record; with a time limit, by default, PyVRP's search on a relaxation seeds it (:mod:`gridmgmt.patrol._pyvrp`,
``SearchParams.seed_with``).

Unservable mandatory visits are never dropped silently. :func:`solve` returns them in
``Result.dropped`` with ``mandatory=True`` and a reason (e.g. "time window [36000, 37800]
closes before any vehicle can arrive (earliest arrival 38100)"); ``Result.is_feasible()`` is
then False, and ``Result.raise_if_infeasible()`` raises
:class:`gridmgmt._errors.InfeasiblePlanError` naming every one of them.
"""

from __future__ import annotations

import logging

from gridmgmt.patrol._ortools import solve as _solve_with_ortools
from gridmgmt.patrol.model import Result, RoutingProblem
from gridmgmt.patrol.search import SearchParams, StopCriterion

logger = logging.getLogger(__name__)

__all__ = ["solve"]


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
        solution limit only, the result is deterministic (OR-Tools alone by default; an
        explicit PyVRP seed then runs a fixed number of iterations, ``SearchParams.seed_iterations``).
    seed : int
        Seed of the PyVRP search (worker k uses ``seed + k``). OR-Tools' routing search is
        deterministic for a given model; without the PyVRP seed, a seed other than 0 shuffles
        the order first-solution strategies are tried.
    params : SearchParams, optional
        Search tuning; defaults are the measured best on Solomon and the demo day (PyVRP
        seed, two workers on a two-core machine: see ``SearchParams.workers``).

    Returns
    -------
    Result
        Routes with stop times, dropped visits with reasons, objective and feasibility.
        Mandatory visits that cannot be served are returned as dropped with a reason (see
        ``Result.raise_if_infeasible``).
    """
    params = params or SearchParams()
    result = _solve_with_ortools(problem, stop=stop, seed=seed, params=params)
    if result.dropped_mandatory():
        logger.warning(
            "%d mandatory visit(s) unserved: %s",
            len(result.dropped_mandatory()),
            ", ".join(d.name for d in result.dropped_mandatory()),
        )
    return result
