"""Time and quality of the partition core on a synthetic ~5,000-unit lattice (no geography).

Run: .venv/bin/python scripts/bench_partition_core.py [side]   (side 71 -> 5,041 units)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from gridmgmt.grids import UnitTable, WorkloadModel, partition, rebalance

CELL_M = 100.0


def lattice(side: int, nret: np.ndarray | None = None, seed: int = 0) -> UnitTable:
    """Blocks of 100 m, ~5,000 retailers, dense centre, depot in the middle."""
    X, Y = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    xy = np.stack([X.ravel(), Y.ravel()], axis=1) * CELL_M + CELL_M / 2
    c = side * CELL_M / 2
    if nret is None:
        r = np.hypot(*(xy - c).T) / c
        dens = np.exp(-((r / 0.35) ** 2)) * 8 + 0.6
        nret = np.random.default_rng(seed).poisson(dens / dens.sum() * 5000).astype(float)
    idx = np.arange(side * side).reshape(side, side)
    edges = np.concatenate([np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1),
                            np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)])  # fmt: skip
    stops = nret * 2.0
    return UnitTable.from_arrays(xy, nret * 30.0, access_min=stops * 3.0, stops_per_month=stops, n_retailers=nret,
                                 area_km2=np.full(side * side, 0.01), edges=edges, depot_xy_m=[[c, c]])  # fmt: skip


def main() -> None:
    side = int(sys.argv[1]) if len(sys.argv) > 1 else 71
    model = WorkloadModel.from_speed(15.0)
    units = lattice(side)
    t = time.perf_counter()
    base = partition(units, 12, seed=0, workload_fn=model)
    print(f"partition {units.n} units, {units.n_retailers.sum():.0f} retailers: {time.perf_counter() - t:.2f} s",
          base.summary())  # fmt: skip
    rng = np.random.default_rng(1)
    nret = units.n_retailers.copy()
    side_m = side * CELL_M
    east = np.flatnonzero(units.xy_m[:, 0] > 0.75 * side_m)
    np.add.at(nret, rng.choice(east, 300), 1)
    old = np.flatnonzero(np.hypot(*(units.xy_m - side_m / 2).T) < 0.15 * side_m)
    for i in rng.choice(old[nret[old] > 0], 100, replace=False):
        nret[i] -= 1
    after = lattice(side, nret)
    for label, kwargs in [("churn +300 east / -100 old town", {}), ("12 -> 11 grids", {"k": 11}),
                          ("12 -> 13 grids", {"k": 13})]:  # fmt: skip
        u = after if not kwargs else units
        t = time.perf_counter()
        res = rebalance(u, base.labels, workload_fn=model, tolerance=1.05, **kwargs)
        print(f"{label}: {time.perf_counter() - t:.2f} s", res.summary())
    from gridmgmt.grids.search import SearchState  # only to show the imbalance churn caused

    before = SearchState(after, base.labels, 12, model).W
    print(f"max/min after churn, before rebalance: {before.max() / before.min():.3f}")


if __name__ == "__main__":
    main()
