"""A whole province on Dask: every district's validate, risk, grids, plan and maps steps as distributed tasks.

``tasks`` runs one (district, step) from paths; ``run`` builds and runs the graph and writes
status.csv; ``overview`` writes province.html with the province-wide hotspot map.
"""

from __future__ import annotations

from gridmgmt.province.run import ProvinceRun, build_graph, find_districts, parse_steps, run_province
from gridmgmt.province.tasks import STEPS, StepOptions, run_step

__all__ = [
    "STEPS",
    "ProvinceRun",
    "StepOptions",
    "build_graph",
    "find_districts",
    "parse_steps",
    "run_province",
    "run_step",
]
