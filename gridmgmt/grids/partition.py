"""Balanced, contiguous, compact partition of building units into service grids: :func:`partition`.

Given a :class:`~gridmgmt.grids.unit_table.UnitTable`, :func:`partition` builds grids from scratch:

1. seeding by k-means++ weighted by workload (deterministic for ``seed``);
2. Lloyd-style iterations, each a capacitated assignment of units to centres solved as an
   OR-Tools min-cost flow (:mod:`gridmgmt.grids.lloyd`);
3. contiguity repair: each grid keeps its largest piece, other pieces join a neighbour;
4. local search on the exact, non-additive workload function (:mod:`gridmgmt.grids.search`): a
   grid-level min-cost flow plans how much workload should cross each shared boundary; boundary
   units then move along that plan while both grids stay contiguous and compact, until
   max/min <= tolerance;
5. compactness search: single boundary moves and pairwise swaps (one unit each way) that lower
   ``sum((1 / Polsby-Popper) ** 4)`` over the grids while max/min stays within the tolerance;
6. re-splitting (:func:`~gridmgmt.grids.search.resplit`): two neighbouring grids are cut anew by
   a straight or circular cut, re-balanced by steps 4-5, and kept when the least compact grid
   (then all) got more compact: the large moves that boundary moves cannot make.

:func:`~gridmgmt.grids.rebalance.rebalance` starts from current labels instead and returns the
same :class:`PartitionResult`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gridmgmt._errors import InfeasiblePlanError
from gridmgmt.grids.lloyd import lloyd, repair_contiguity
from gridmgmt.grids.metrics import balance_ratio, components_per_grid
from gridmgmt.grids.search import SearchOptions, SearchState, balance, compact, resplit, smooth
from gridmgmt.grids.workload import WorkloadModel

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from gridmgmt.grids.unit_table import UnitTable
    from gridmgmt.grids.workload import WorkloadFn

logger = logging.getLogger(__name__)


def check_k(k: object, n: int, *, of: str = "building units") -> int:
    """Check a number of grids against the things to divide; return it as an int.

    Parameters
    ----------
    k : object
        Number of grids asked for (``--grids`` or ``grids.count``).
    n : int
        How many things there are to divide (every grid needs at least one).
    of : str, default "building units"
        What ``n`` counts, for the message (e.g. "retailers").

    Raises
    ------
    InfeasiblePlanError
        ``k`` not a whole number >= 1, or greater than ``n``; the message tells the user what to change.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InfeasiblePlanError(f"number of grids K={k!r} must be a whole number >= 1 (--grids or grids.count)")
    if k > n:
        raise InfeasiblePlanError(
            f"number of grids K={k} exceeds the {n} {of}: every grid needs at least one; lower --grids or grids.count"
        )
    return int(k)


@dataclass
class PartitionResult:
    """Grids of a partition or rebalance.

    Attributes
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Grid index 0..k-1 of every unit.
    workload_min : numpy.ndarray, shape (k,)
        Workload of each grid, minutes per month (the exact workload function).
    balance : float
        Max over min of ``workload_min``.
    tolerance : float
        The requested max/min.
    iterations : int
        Lloyd iterations (0 for a rebalance).
    n_moves : int
        Unit moves made by the local search (and contiguity repair).
    compactness : numpy.ndarray, shape (k,)
        Polsby-Popper of each grid from unit areas and shared boundaries (exact for cells that
        tile the plane; an approximation otherwise).
    components : numpy.ndarray, shape (k,)
        Connected pieces of each grid on the adjacency (1 = contiguous).
    moved : numpy.ndarray of bool, shape (n,)
        Units whose grid changed (rebalance; all false for a partition). New units are not moved.
    moved_retailers : float
        Retailers in the moved units.
    total_retailers : float
        Retailers the moved share is taken over (a rebalance: those in units that had a grid).
    label_map : dict
        Old grid index -> new index (rebalance; ``None`` for a dissolved grid, the new grid of a
        split has no old index).
    elapsed_s : float
        Wall time, seconds.
    """

    labels: NDArray[np.int64]
    workload_min: NDArray[np.float64]
    balance: float
    tolerance: float
    iterations: int = 0
    n_moves: int = 0
    compactness: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    components: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    moved: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    moved_retailers: float = 0.0
    total_retailers: float = 0.0
    label_map: dict[int, int | None] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def k(self) -> int:
        """Number of grids."""
        return int(self.workload_min.size)

    @property
    def moved_share(self) -> float:
        """Share of retailers whose grid changed (0..1)."""
        return self.moved_retailers / self.total_retailers if self.total_retailers > 0 else 0.0

    def is_feasible(self) -> bool:
        """True when balance is within tolerance and every grid is in one piece."""
        return bool(self.balance <= self.tolerance + 1e-9 and (self.components == 1).all())

    @classmethod
    def from_state(
        cls, state: SearchState, tolerance: float, *, iterations: int, n_moves: int, t0: float,
        moved: NDArray[np.bool_] | None = None, label_map: dict[int, int | None] | None = None,
        total_retailers: float | None = None,
    ) -> PartitionResult:  # fmt: skip
        """The result of a finished search: labels, workloads and metrics of ``state``; ``t0`` is its start time."""
        u = state.u
        mv = np.zeros(u.n, dtype=bool) if moved is None else moved
        return cls(
            labels=state.lab.copy(),
            workload_min=state.W.copy(),
            balance=balance_ratio(state.W),
            tolerance=tolerance,
            iterations=iterations,
            n_moves=n_moves,
            compactness=state.compactness(),
            components=components_per_grid(state.lab, u.edges, state.k),
            moved=mv,
            moved_retailers=float(u.n_retailers[mv].sum()),
            total_retailers=float(u.n_retailers.sum()) if total_retailers is None else total_retailers,
            label_map=label_map or {},
            elapsed_s=time.perf_counter() - t0,
        )

    def summary(self) -> dict[str, float]:
        """Headline numbers: balance, compactness, moved share, time."""
        return {
            "k": self.k,
            "balance": round(self.balance, 4),
            "workload_min_mean": round(float(self.workload_min.mean()), 1),
            "compactness_mean": round(float(self.compactness.mean()), 3) if self.compactness.size else float("nan"),
            "compactness_min": round(float(self.compactness.min()), 3) if self.compactness.size else float("nan"),
            "moved_share": round(self.moved_share, 4),
            "iterations": self.iterations,
            "n_moves": self.n_moves,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _one_start(
    units: UnitTable,
    k: int,
    entropy: int | list[int],
    max_iter: int,
    fn: WorkloadFn,
    tolerance: float,
    min_compactness: float,
    crossing_weight: float,
    compact_search: bool,
    resplit_grids: bool,
) -> tuple[SearchState, int, int, float]:
    """One start of :func:`partition`: Lloyd, contiguity repair, balancing, smoothing, compactness search, re-splits."""
    labels, iters = lloyd(units, k, entropy, max_iter, fn)
    state = SearchState(units, labels, k, fn)
    movable = np.ones(units.n, dtype=bool)
    repaired = repair_contiguity(state, movable)
    opt = SearchOptions(
        tolerance=tolerance, min_compactness=min_compactness, movable=movable,
        closed_grids=np.zeros(k, dtype=bool), retailer_weight=0.0, crossing_weight=crossing_weight,
    )  # fmt: skip
    lloyd_ratio = balance_ratio(state.W)
    moves = repaired + _balance_and_compact(state, opt, compact_search)
    if resplit_grids:
        moves += _resplit(state, opt, compact_search)
    return state, iters, moves, lloyd_ratio


def _balance_and_compact(
    state: SearchState, opt: SearchOptions, compact_search: bool, changed: NDArray[np.bool_] | None = None
) -> int:
    """Balance, smooth within the tolerance and re-balance, then the compactness search; return the moves.

    With ``changed`` (a mask of grids), the compactness search looks only at the borders of those
    grids and of the grids the balancing moved units between.
    """
    before = state.lab.copy()
    moves = balance(state, opt)
    for _ in range(3):  # compactness within the tolerance, then re-balance
        smoothed = smooth(state, opt)
        moves += smoothed + balance(state, opt)
        if smoothed == 0:
            break
    if compact_search:
        if changed is not None:
            moved = before != state.lab
            changed = changed.copy()
            changed[before[moved]] = changed[state.lab[moved]] = True
        moves += compact(state, opt, grids=changed)
        moves += balance(state, opt)
    return moves


def _resplit(state: SearchState, opt: SearchOptions, compact_search: bool) -> int:
    """Re-split neighbouring grids, each cut repaired by :func:`_balance_and_compact`; return the units moved."""
    return resplit(state, opt, lambda s, o, changed: _balance_and_compact(s, o, compact_search, changed))


def refine(
    units: UnitTable,
    labels: NDArray[np.int64],
    *,
    tolerance: float = 1.02,
    workload_fn: WorkloadFn | None = None,
    min_compactness: float = 0.40,
    crossing_weight: float = 1.0,
    compact_search: bool = True,
    resplit_grids: bool = False,
) -> PartitionResult:
    """Re-balance a partition under another workload function, keeping its grids (indices) and contiguity.

    The search of :func:`partition` after its Lloyd start: balancing moves, smoothing and the
    compactness search, from ``labels``. Used when the grids are priced anew, e.g. each for the
    pair matched to it (:class:`~gridmgmt.grids.workload.PairWorkload`, indexed like ``labels``).

    Parameters
    ----------
    units : UnitTable
    labels : numpy.ndarray of int, shape (n,)
        Grid index 0..k-1 of every unit (each grid contiguous).
    tolerance, workload_fn, min_compactness, crossing_weight, compact_search
        As in :func:`partition`.
    resplit_grids : bool, default False
        Finish with re-splits of neighbouring grids (:func:`~gridmgmt.grids.search.resplit`), as
        :func:`partition` does: grids may change much more than by boundary moves.

    Returns
    -------
    PartitionResult
    """
    t0 = time.perf_counter()
    k = int(np.max(labels)) + 1
    state = SearchState(units, np.asarray(labels, dtype=np.int64), k, workload_fn or WorkloadModel())
    opt = SearchOptions(
        tolerance=tolerance, min_compactness=min_compactness, movable=np.ones(units.n, dtype=bool),
        closed_grids=np.zeros(k, dtype=bool), retailer_weight=0.0, crossing_weight=crossing_weight,
    )  # fmt: skip
    before = balance_ratio(state.W)
    moves = _balance_and_compact(state, opt, compact_search)
    if resplit_grids:
        moves += _resplit(state, opt, compact_search)
    res = PartitionResult.from_state(state, tolerance, iterations=0, n_moves=moves, t0=t0)
    logger.info("refine: k=%d, max/min %.4f -> %.4f, %d moves in %.2f s", k, before, res.balance, moves,
                res.elapsed_s)  # fmt: skip
    return res


def partition(
    units: UnitTable,
    k: int,
    *,
    seed: int = 0,
    tolerance: float = 1.02,
    workload_fn: WorkloadFn | None = None,
    max_iter: int = 15,
    min_compactness: float = 0.40,
    crossing_weight: float = 1.0,
    compact_search: bool = True,
    resplit_grids: bool = True,
    starts: int = 1,
) -> PartitionResult:
    """Divide units into ``k`` contiguous, compact grids of equal workload.

    Parameters
    ----------
    units : UnitTable
        The building units.
    k : int
        Number of grids, 1 <= k <= number of units.
    seed : int, default 0
        Seed of the k-means++ start; the same inputs and seed give the same grids.
    tolerance : float, default 1.02
        Target max/min of grid workloads.
    workload_fn : callable, optional
        ``f(service_min, access_min, stops_per_month, area_km2, depot_dist_m) -> minutes`` per grid
        (vectorised); default :class:`~gridmgmt.grids.workload.WorkloadModel` with no tour or depot
        term. Its ``c_tour_min`` attribute, if any, shapes the Lloyd weights.
    max_iter : int, default 15
        Lloyd iterations at most.
    min_compactness : float, default 0.40
        Polsby-Popper floor the local search never pushes a grid below.
    crossing_weight : float, default 1.0
        Weight of edge crossing costs when choosing which boundary unit to move.
    compact_search : bool, default True
        Finish with the compactness search (boundary moves and pairwise swaps lowering
        ``sum((1 / Polsby-Popper) ** 4)`` within the tolerance, see :func:`~gridmgmt.grids.search.compact`).
    resplit_grids : bool, default True
        Then re-split neighbouring grids (:func:`~gridmgmt.grids.search.resplit`): straight and
        circular cuts, each repaired by the search above, kept when the grids got more compact.
    starts : int, default 1
        Independent starts (k-means++ seeds derived from ``seed``); the plan kept is within
        tolerance and one piece per grid if any is, then has the highest mean + min Polsby-Popper.

    Returns
    -------
    PartitionResult

    Raises
    ------
    InfeasiblePlanError
        ``k`` < 1 or ``k`` greater than the number of units.
    """
    t0 = time.perf_counter()
    check_k(k, units.n)
    fn = workload_fn or WorkloadModel()
    if k == 1:
        state = SearchState(units, np.zeros(units.n, dtype=np.int64), 1, fn)
        return PartitionResult.from_state(state, tolerance, iterations=0, n_moves=0, t0=t0)
    best: tuple[tuple[bool, float], SearchState, int, int, float] | None = None
    for start in range(max(1, int(starts))):
        entropy = seed if start == 0 else [seed, start]
        state, iters, moves, lloyd_ratio = _one_start(units, k, entropy, max_iter, fn, tolerance, min_compactness,
                                                      crossing_weight, compact_search, resplit_grids)  # fmt: skip
        pp = state.compactness()
        feasible = balance_ratio(state.W) <= tolerance and bool(
            (components_per_grid(state.lab, units.edges, k) == 1).all()
        )
        key = (feasible, float(pp.mean() + pp.min()))
        logger.debug("partition start %d: max/min %.4f, PP mean %.3f min %.3f", start, balance_ratio(state.W),
                     pp.mean(), pp.min())  # fmt: skip
        if best is None or key > best[0]:
            best = (key, state, iters, moves, lloyd_ratio)
    assert best is not None
    _, state, iters, moves, lloyd_ratio = best
    repaired = 0
    res = PartitionResult.from_state(state, tolerance, iterations=iters, n_moves=moves + repaired, t0=t0)
    logger.info(
        "partition: k=%d, %d Lloyd iterations (max/min %.3f), %d repair + %d balancing moves -> max/min %.4f in %.2f s",
        k, iters, lloyd_ratio, repaired, moves, res.balance, res.elapsed_s,
    )  # fmt: skip
    if res.balance > tolerance:
        logger.warning("partition: max/min %.4f above tolerance %.3f", res.balance, tolerance)
    return res
