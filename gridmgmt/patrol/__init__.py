"""Patrol planning: visit selection, routing model and solve (OR-Tools as the private backend), day plan.

The package root exports the routing API (model, search settings, ``solve``); it stays light
(numpy and OR-Tools only) because the solver's helper processes import it. The day planner and
its outputs are imported from their modules: :mod:`gridmgmt.patrol.plan` (``plan_day``,
``PlanOptions``), :mod:`gridmgmt.patrol.simulate`, :mod:`gridmgmt.patrol.sheets` and
:mod:`gridmgmt.patrol.route_map` (the only module here that imports folium).
"""

from __future__ import annotations

from gridmgmt.patrol.model import (
    Break,
    DroppedVisit,
    Result,
    Route,
    RoutingProblem,
    ScheduledBreak,
    Stop,
    Vehicle,
    diagnose_visit,
)
from gridmgmt.patrol.search import MaxRuntime, MaxSolutions, SearchParams, StopCriterion
from gridmgmt.patrol.solver import solve

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
