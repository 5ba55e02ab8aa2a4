"""Risk: per-retailer scores (``scores``), hotspots of point layers (``hotspots``) and their backtest.

Submodules are imported on use (``from gridmgmt.risk.hotspots import find_hotspots``), so
importing the package stays cheap and does not load esda/libpysal.
"""

from __future__ import annotations
