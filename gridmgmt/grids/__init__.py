"""Service grids: street blocks, workload model, balanced partition, rebalance, grid plans and metrics."""

from __future__ import annotations

from gridmgmt.grids.metrics import (
    balance_ratio,
    coefficient_of_variation,
    components_per_grid,
    grid_compactness,
    polsby_popper,
)
from gridmgmt.grids.partition import PartitionResult, check_k, partition
from gridmgmt.grids.plan import GridPlan, grid_assignment, load_grids, read_grid_plan, write_grid_plan
from gridmgmt.grids.rebalance import rebalance
from gridmgmt.grids.unit_table import UnitTable
from gridmgmt.grids.workload import WorkloadModel, workload_min

__all__ = [
    "GridPlan",
    "PartitionResult",
    "UnitTable",
    "WorkloadModel",
    "balance_ratio",
    "check_k",
    "coefficient_of_variation",
    "components_per_grid",
    "grid_assignment",
    "grid_compactness",
    "load_grids",
    "partition",
    "polsby_popper",
    "read_grid_plan",
    "rebalance",
    "workload_min",
    "write_grid_plan",
]
