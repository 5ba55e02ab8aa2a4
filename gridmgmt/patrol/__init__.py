"""Patrol planning: visit selection, routing model and solve (OR-Tools as the private backend)."""

from __future__ import annotations

from gridmgmt.patrol import solver
from gridmgmt.patrol.solver import *  # noqa: F403  (the solver's public API, as listed in its __all__)

__all__ = list(solver.__all__)
