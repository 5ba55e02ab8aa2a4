"""Patrol planning: visit selection, routing model and solve (OR-Tools as the private backend)."""

from __future__ import annotations

from gridmgmt.patrol.solver import (
    Break,
    DroppedVisit,
    MaxRuntime,
    MaxSolutions,
    Result,
    Route,
    RoutingProblem,
    ScheduledBreak,
    SearchParams,
    Stop,
    StopCriterion,
    Vehicle,
    diagnose_visit,
    solve,
)

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
