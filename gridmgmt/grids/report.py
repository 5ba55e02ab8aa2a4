"""Grid report: one row per grid with its workload hours, area, density, compactness, staff pair, depot and mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from gridmgmt.grids.plan import GridPlan


def grid_report(plan: GridPlan) -> pd.DataFrame:
    """One row per grid: retailers, workload hours (service and travel), area, density, compactness, staff pair.

    Returns
    -------
    pandas.DataFrame
        grid_id, retailers, workload_h, service_h, travel_h, workload_vs_mean (ratio), utilisation
        (workload over the pair's available minutes; NaN without a pair or for plans written before it),
        area_km2, density_per_km2, polsby_popper, old_town_share, routed_factor (the grid's travel priced on
        its routed month: routed over modelled minutes; NaN for a plan priced on the model alone),
        customer_manager(+_name),
        monopoly_officer(+_name), depot (the pair's depot id) and travel_mode (the pair's, the slower
        member's); '' where a plan has no pair.
    """
    g = plan.grids
    w = g["workload_min"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "grid_id": g["grid_id"].astype(int).to_numpy(),
            "retailers": g["retailers"].astype(int).to_numpy(),
            "workload_h": (w / 60).round(1),
            "service_h": (g["service_min"].to_numpy(dtype=float) / 60).round(1),
            "travel_h": (g["travel_min"].to_numpy(dtype=float) / 60).round(1),
            "workload_vs_mean": (w / w.mean()).round(3) if len(w) else w,
            "utilisation": g["utilisation"].to_numpy(dtype=float).round(3) if "utilisation" in g else np.nan,
            "area_km2": g["area_km2"].to_numpy(dtype=float).round(2),
            "density_per_km2": g["density_per_km2"].to_numpy(dtype=float).round(1),
            "polsby_popper": g["polsby_popper"].to_numpy(dtype=float).round(3),
            "old_town_share": g["old_town_share"].to_numpy(dtype=float).round(3),
            "routed_factor": g["routed_factor"].to_numpy(dtype=float).round(3) if "routed_factor" in g else np.nan,
        }
    )
    for col in ("customer_manager", "customer_manager_name", "monopoly_officer", "monopoly_officer_name", "depot",
                "travel_mode"):  # fmt: skip
        out[col] = g[col].fillna("").astype(str).to_numpy() if col in g else ""
    return out.sort_values("grid_id", kind="stable").reset_index(drop=True)
