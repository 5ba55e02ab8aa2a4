"""Risk: per-retailer scores, hotspots of point layers, emerging hotspots, their backtest and the risk map.

Modules: ``scores`` (explainable scores, expected violations), ``hexgrid`` (hexagon cells),
``neighbours`` (distance-band weights), ``moran`` (band choice), ``gistar`` (Gi* and FDR classes),
``hotspots`` (:func:`~gridmgmt.risk.hotspots.find_hotspots`), ``emerging`` (trends over time
windows), ``backtest``, ``risk_map`` and ``district_risk`` (the adapters from a District).
Submodules are imported on use (``from gridmgmt.risk.hotspots import find_hotspots``), so
importing the package stays cheap and does not load esda/libpysal.
"""

from __future__ import annotations
