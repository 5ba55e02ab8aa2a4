"""gridmgmt: balanced service grids, joint patrol routes and risk hotspots for a tobacco monopoly bureau."""

from __future__ import annotations

__version__ = "0.1.0"
