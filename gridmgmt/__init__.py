"""gridmgmt: balanced service grids, joint patrol routes and risk hotspots for a tobacco monopoly bureau.

The errors a caller may catch live here; everything else is imported from its subpackage
(``gridmgmt.inputs``, ``gridmgmt.grids``, ``gridmgmt.risk``, ``gridmgmt.patrol``, ``gridmgmt.loop``).
"""

from __future__ import annotations

from gridmgmt._errors import ConfigError, GridMgmtError, InfeasiblePlanError, InputError, Problem

__version__ = "0.1.0"

__all__ = ["ConfigError", "GridMgmtError", "InfeasiblePlanError", "InputError", "Problem", "__version__"]
