"""Service grids: workload model, balanced partition, rebalance and grid metrics."""

from __future__ import annotations

from gridmgmt.grids.metrics import (
    WorkloadModel,
    balance_ratio,
    coefficient_of_variation,
    components_per_grid,
    grid_compactness,
    polsby_popper,
    workload_min,
)
from gridmgmt.grids.partition import PartitionResult, UnitTable, partition, rebalance

__all__ = [
    "PartitionResult",
    "UnitTable",
    "WorkloadModel",
    "balance_ratio",
    "coefficient_of_variation",
    "components_per_grid",
    "grid_compactness",
    "partition",
    "polsby_popper",
    "rebalance",
    "workload_min",
]
