"""Rebalance current grids: restore balance moving as few retailers as possible; dissolve or split for a new ``k``.

:func:`rebalance` starts from the current labels, dissolves or splits grids when ``k`` changes,
and runs the local search of :mod:`gridmgmt.grids.search` scoring moves by retailers moved (only
a unit leaving its home grid costs; new, dissolved and already moved units move free) while no
grid loses more than a slack of its Polsby-Popper; finally units moved needlessly (the greedy
search overshoots) go back home and free units smooth the boundaries while the balance stays
within tolerance.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from gridmgmt._errors import InfeasiblePlanError, InputError
from gridmgmt.grids.lloyd import repair_contiguity
from gridmgmt.grids.metrics import balance_ratio
from gridmgmt.grids.partition import PartitionResult, check_k
from gridmgmt.grids.search import SearchOptions, SearchState, balance, polish
from gridmgmt.grids.unit_table import unit_problem
from gridmgmt.grids.workload import PairWorkload, WorkloadModel

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from gridmgmt.grids.unit_table import UnitTable
    from gridmgmt.grids.workload import WorkloadFn

logger = logging.getLogger(__name__)

#: weight of retailers moved against workload passed in rebalancing (see docs/grids_tuning.md)
REBALANCE_RETAILER_WEIGHT = 2.0


def _resolve_labels(units: UnitTable, current_labels: Any) -> NDArray[np.int64]:
    """Current grid of every unit (-1 for new units), from an aligned array or a Series by unit id."""
    import pandas as pd

    if isinstance(current_labels, pd.Series):
        ser = current_labels.reindex(pd.Index(units.unit_id))
        values = ser.to_numpy(dtype=float, na_value=-1.0)
    else:
        values = np.asarray(current_labels, dtype=float).reshape(-1)
        if values.size != units.n:
            raise InputError(
                unit_problem("current_labels", f"has {values.size} values for {units.n} units",
                         hint="pass one grid index per unit (-1 for new units) or a Series indexed by unit_id")
            )  # fmt: skip
    values = np.where(np.isnan(values), -1.0, values)
    if (values != np.round(values)).any() or (values < -1).any():
        raise InputError(unit_problem("current_labels", "grid indices must be integers 0..k-1 (-1 for new units)"))
    if (values < 0).all():
        raise InputError(unit_problem("current_labels", "no unit has a current grid", hint="use partition() instead"))
    return values.astype(np.int64)


def fill_new(units: UnitTable, lab: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """New units take the most common grid among labelled neighbours, spreading outwards; else the nearest."""
    lab = lab.copy()
    e = units.edges
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    while (lab < 0).any():
        m = (lab[src] >= 0) & (lab[dst] < 0)
        if not m.any():
            break
        counts = np.zeros((units.n, k))
        np.add.at(counts, (dst[m], lab[src[m]]), 1.0)
        rows = np.unique(dst[m])
        lab[rows] = np.argmax(counts[rows], axis=1)
    known = np.flatnonzero(lab >= 0)
    if known.size == 0:  # nothing labelled to spread from
        lab[:] = 0
    elif (lab < 0).any():
        _, j = cKDTree(units.xy_m[known]).query(units.xy_m[lab < 0])
        lab[lab < 0] = lab[known[j]]
    return lab


def _resolve_locks(units: UnitTable, locked_units: Any) -> NDArray[np.bool_]:
    if locked_units is None:
        return np.zeros(units.n, dtype=bool)
    arr = np.asarray(locked_units)
    if arr.dtype == bool:
        if arr.shape != (units.n,):
            raise InputError(unit_problem("locked_units", f"boolean mask has {arr.size} values for {units.n} units"))
        return arr.copy()
    ids = list(np.atleast_1d(arr))
    pos = {v: i for i, v in enumerate(units.unit_id.tolist())}
    unknown = [v for v in ids if v not in pos]
    if unknown:
        raise InputError(unit_problem("locked_units", f"{len(unknown)} locked unit ids are not in the unit table",
                                  unknown[0], "lock units by their unit_id"))  # fmt: skip
    mask = np.zeros(units.n, dtype=bool)
    mask[[pos[v] for v in ids]] = True
    return mask


def _dissolve(state: SearchState, d: int, closed: NDArray[np.bool_]) -> None:
    """Hand the units of grid ``d`` to neighbouring grids, the lightest neighbour first."""
    while state.count[d] > 0:
        lab = state.lab
        m = (lab[state.src] == d) & (lab[state.dst] != d)
        m &= ~closed[lab[state.dst]]
        if not m.any():
            raise InfeasiblePlanError(f"grid {d} cannot be dissolved: all its neighbours are locked grids")
        hs = lab[state.dst[m]]
        h = int(min(np.unique(hs), key=lambda g: (state.W[g], g)))
        mh = m & (lab[state.dst] == h)
        cand = np.unique(state.src[mh])
        # compact growth: the frontier unit nearest the work centre of h
        a = state.agg[h]
        wsum = a[2] if a[2] > 0 else a[3]
        cx = (a[4] if a[2] > 0 else a[6]) / max(wsum, 1e-12)
        cy = (a[5] if a[2] > 0 else a[7]) / max(wsum, 1e-12)
        d2 = (state.u.xy_m[cand, 0] - cx) ** 2 + (state.u.xy_m[cand, 1] - cy) ** 2
        state.move(int(cand[np.lexsort((cand, d2))[0]]), h)


def _split(state: SearchState, s: int, new: int) -> None:
    """Split grid ``s`` across its principal axis into two halves of equal additive workload."""
    members = np.flatnonzero(state.lab == s)
    if members.size < 2:
        raise InfeasiblePlanError(f"grid {s} has a single unit and cannot be split")
    xy = state.u.xy_m[members]
    w = state.cols[members, 0] + state.cols[members, 1] + 1e-6
    centred = xy - (xy * w[:, None]).sum(axis=0) / w.sum()
    _, _, vt = np.linalg.svd(centred * np.sqrt(w)[:, None], full_matrices=False)
    proj = centred @ vt[0]
    order = np.argsort(proj, kind="stable")
    half = order[np.cumsum(w[order]) <= w.sum() / 2]
    if half.size == 0:
        half = order[:1]
    side = np.zeros(members.size, dtype=bool)
    side[half] = True
    # the new grid takes the half with fewer retailers (fewer retailers change grid)
    r = state.u.n_retailers[members]
    if r[side].sum() > r[~side].sum():
        side = ~side
    lab = state.lab.copy()
    lab[members[side]] = new
    state.set_labels(lab)


def _lock_diagnosis(
    state: SearchState,
    opt: SearchOptions,
    locked_grid_ids: list[int],
    locked_units: NDArray[np.bool_],
    name: Callable[[int], object] = int,
) -> list[str]:
    """Locks that keep the workloads out of range: locked grids out of band, grids walled in by locks."""
    W = state.W
    mean = float(W.mean())
    lo, hi = mean / math.sqrt(opt.tolerance), mean * math.sqrt(opt.tolerance)
    reasons = []
    for g in locked_grid_ids:
        if W[g] < lo or W[g] > hi:
            reasons.append(
                f"locked grid {name(g)} has {W[g]:,.0f} min/month, outside {lo:,.0f}-{hi:,.0f} (mean {mean:,.0f}), "
                "and cannot give or take units"
            )
    lab = state.lab
    for g in np.flatnonzero((lo > W) | (hi < W)).tolist():
        if g in locked_grid_ids:
            continue
        m = (lab[state.src] == g) & (lab[state.dst] != g)
        nb_grids = set(lab[state.dst[m]].tolist())
        open_nb = [h for h in nb_grids if not opt.closed_grids[h]]
        heavy = W[g] > hi
        boundary = np.unique(state.src[m] if heavy else state.dst[m])
        blocked_units = boundary[locked_units[boundary]]
        if not open_nb:
            walls = sorted((name(h) for h in nb_grids), key=str)
            reasons.append(f"grid {name(g)} ({W[g]:,.0f} min) only borders locked grids {walls}")
        elif blocked_units.size and blocked_units.size >= 0.8 * boundary.size:
            ids = ", ".join(str(v) for v in state.u.unit_id[blocked_units[:8]])
            reasons.append(
                f"grid {name(g)} ({W[g]:,.0f} min) has {blocked_units.size} of {boundary.size} boundary units locked "
                f"(units {ids}{', ...' if blocked_units.size > 8 else ''})"
            )
    return reasons


@dataclass(frozen=True)
class _Settings:
    """The search settings every search of one rebalance shares (see :func:`rebalance`)."""

    tolerance: float
    min_compactness: float
    compactness_slack: float
    crossing_weight: float
    retailer_weight: float

    def options(
        self, movable: NDArray[np.bool_], closed: NDArray[np.bool_], home: NDArray[np.int64] | None = None
    ) -> SearchOptions:
        """Search options for these settings, movable units, closed grids and home grids."""
        return SearchOptions(
            tolerance=self.tolerance, min_compactness=self.min_compactness, movable=movable, closed_grids=closed,
            retailer_weight=self.retailer_weight, crossing_weight=self.crossing_weight,
            compactness_slack=self.compactness_slack, home=home,
        )  # fmt: skip


def rebalance(
    units: UnitTable,
    current_labels: Any,
    k: int | None = None,
    *,
    locked_units: Any = None,
    locked_grids: Sequence[int] = (),
    tolerance: float = 1.05,
    workload_fn: WorkloadFn | None = None,
    min_compactness: float = 0.40,
    compactness_slack: float = 0.05,
    crossing_weight: float = 1.0,
    retailer_weight: float = REBALANCE_RETAILER_WEIGHT,
    dissolve_candidates: int = 3,
    grid_names: Sequence[object] | None = None,
) -> PartitionResult:
    """Restore balance from the current grids, moving as few retailers as possible.

    New units (label -1) join the grid of their labelled neighbours. When ``k`` is smaller than
    the current number of grids, the grid whose dissolution moves the fewest retailers
    (among the ``dissolve_candidates`` with the fewest retailers, each tried) is handed to its
    neighbours; when larger, the heaviest grid is split in two. Then boundary units move between
    neighbouring grids only, keeping every grid contiguous and compact, preferring units with few
    retailers per minute of workload, until max/min <= ``tolerance``.

    Parameters
    ----------
    units : UnitTable
        The units now (closed units removed, new ones added).
    current_labels : array_like of int (one per unit, -1 = new) or pandas.Series by unit_id
        Current grid index 0..k_old-1.
    k : int, optional
        Number of grids wanted; default the current number.
    locked_units : bool mask or sequence of unit ids, optional
        Units that must keep their grid.
    locked_grids : sequence of int
        Current grid indices that neither give nor take units (and are never dissolved or split).
    tolerance : float, default 1.05
        Target max/min of workloads.
    workload_fn : callable, optional
        As in :func:`~gridmgmt.grids.partition.partition`.
    min_compactness : float, default 0.40
        Polsby-Popper floor moves never push a grid below, unless it starts below
        ``min_compactness + compactness_slack``: then it may lose ``compactness_slack``
        (``min_compactness=1`` keeps every grid within the slack of where it starts).
    compactness_slack : float, default 0.05
        See ``min_compactness``.
    crossing_weight : float, default 1.0
        Weight of crossing costs when choosing boundary units.
    retailer_weight : float, default 2
        Weight of retailers moved against workload passed, when choosing boundary units.
    dissolve_candidates : int, default 3
        Grids tried for dissolution when ``k`` decreases.
    grid_names : sequence, optional
        Name of each current grid index in error messages (e.g. 1-based grid ids); default the index.

    Returns
    -------
    PartitionResult
        With ``moved``, ``moved_retailers`` (over the retailers of units that had a grid) and
        ``label_map`` (old grid index -> new index, ``None`` for a dissolved grid).

    Raises
    ------
    InputError
        Labels or locks that do not fit the units.
    InfeasiblePlanError
        Bad ``k``, or locks that make the tolerance impossible (the message names them).
    """
    t0 = time.perf_counter()
    fn = workload_fn or WorkloadModel()
    start = _resolve_labels(units, current_labels)
    k_old = int(start.max()) + 1
    k = k_old if k is None else k
    check_k(k, units.n)
    locked_grid_ids = _resolve_locked_grids(locked_grids, k_old)
    user_locks = _resolve_locks(units, locked_units)
    settings = _Settings(tolerance, min_compactness, compactness_slack, crossing_weight, retailer_weight)

    def old_name(g: int) -> object:
        return grid_names[g] if grid_names is not None and 0 <= g < len(grid_names) else g

    # 1. the current grids, new units joined, in one piece each
    state, locked, closed, moves = _starting_state(units, start, user_locks, locked_grid_ids, fn, tolerance, old_name)
    # 2. the number of grids asked for
    label_map: dict[int, int | None] = {g: g for g in range(k_old)}
    if k < k_old:
        state, closed, label_map = _drop_grids(state, closed, locked, label_map, k_old - k, settings,
                                               dissolve_candidates)  # fmt: skip
    elif k > k_old:
        state, closed = _add_grids(state, closed, k - k_old, fn)
    # 3. balance, then send needless moves home
    had_grid = start >= 0
    home = np.where(had_grid, _mapped(start, label_map, k_old), -1)
    opt = settings.options(~locked, closed, home=home)
    moves += balance(state, opt)
    moves += polish(state, home, opt)
    # 4. which new grid continues which old one: the matching keeping most retailers in place
    if not locked_grid_ids and not user_locks.any():
        label_map = _match_grids(start, state.lab, units.n_retailers, k_old, state.k, label_map)
    moved = had_grid & (state.lab != _mapped(start, label_map, k_old))
    res = PartitionResult.from_state(
        state, tolerance, iterations=0, n_moves=moves, t0=t0, moved=moved, label_map=label_map,
        total_retailers=float(units.n_retailers[had_grid].sum()),
    )  # fmt: skip
    if res.balance > tolerance:
        _raise_for_locks(state, opt, res, label_map, locked_grid_ids, locked, old_name)
    logger.info(
        "rebalance: k %d -> %d, %d moves, %.1f%% of retailers moved, max/min %.4f in %.2f s",
        k_old, k, moves, 100 * res.moved_share, res.balance, res.elapsed_s,
    )  # fmt: skip
    return res


def _resolve_locked_grids(locked_grids: Sequence[int], k_old: int) -> list[int]:
    """Locked grid indices, sorted and unique; each must be a current grid."""
    locked_grid_ids = sorted({int(g) for g in locked_grids})
    bad = [g for g in locked_grid_ids if g < 0 or g >= k_old]
    if bad:
        raise InputError(unit_problem("locked_grids", f"grid index out of range 0..{k_old - 1}", bad[0]))
    return locked_grid_ids


def _starting_state(
    units: UnitTable,
    start: NDArray[np.int64],
    user_locks: NDArray[np.bool_],
    locked_grid_ids: list[int],
    fn: WorkloadFn,
    tolerance: float,
    old_name: Callable[[int], object],
) -> tuple[SearchState, NDArray[np.bool_], NDArray[np.bool_], int]:
    """The current grids with new units filled in and stray pieces joined to a neighbour.

    Returns the state, the locked units (given locks and the units of locked grids), the closed
    (locked) grids and the units moved by the contiguity repair.

    Raises
    ------
    InfeasiblePlanError
        Locked grids alone out of balance: no move can fix that.
    """
    k_old = int(start.max()) + 1
    lab = fill_new(units, start, k_old)
    locked = user_locks | np.isin(lab, locked_grid_ids)
    closed = np.zeros(k_old, dtype=bool)
    closed[locked_grid_ids] = True
    state = SearchState(units, lab, k_old, fn)
    W_locked = state.W[closed]
    if W_locked.size >= 2 and balance_ratio(W_locked) > tolerance:
        names = ", ".join(f"grid {old_name(g)} ({state.W[g]:,.0f} min)" for g in locked_grid_ids)
        raise InfeasiblePlanError(
            f"locked grids alone are out of balance (max/min {balance_ratio(W_locked):.3f} > {tolerance}): {names}; "
            "unlock one of them"
        )
    moves = repair_contiguity(state, ~locked)
    return state, locked, closed, moves


def _mapped(start: NDArray[np.int64], label_map: dict[int, int | None], k_old: int) -> NDArray[np.int64]:
    """New grid index of every unit's old grid (-1 for new units and dissolved grids)."""
    lookup = np.array([-1 if label_map[g] is None else label_map[g] for g in range(k_old)] + [-1], dtype=np.int64)
    return lookup[start]  # start == -1 picks the trailing -1


def _add_grids(
    state: SearchState, closed: NDArray[np.bool_], n_new: int, fn: WorkloadFn
) -> tuple[SearchState, NDArray[np.bool_]]:
    """Split the heaviest open grid in two, ``n_new`` times."""
    for _ in range(n_new):
        open_ = np.flatnonzero(~closed)
        if open_.size == 0:
            raise InfeasiblePlanError("cannot add a grid: every grid is locked")
        heaviest = int(open_[np.argmax(state.W[open_])])
        newk = state.k + 1
        if isinstance(fn, PairWorkload) and fn.k < newk:
            # the new grid has no pair yet: priced like the grid it is split from, from the nearest depot
            fn = fn.with_grid(float(fn.c_tour_min[heaviest]), float(fn.speed_kmh[heaviest]))
        bigger = SearchState(state.u, state.lab, newk, fn)
        _split(bigger, heaviest, newk - 1)
        state = bigger
        closed = np.append(closed, False)
    return state, closed


def _raise_for_locks(
    state: SearchState,
    opt: SearchOptions,
    res: PartitionResult,
    label_map: dict[int, int | None],
    locked_grid_ids: list[int],
    locked: NDArray[np.bool_],
    old_name: Callable[[int], object],
) -> None:
    """Out of tolerance: raise naming the locks to blame, if any; otherwise only warn."""
    tolerance = opt.tolerance
    new_ids = {old: new for old, new in label_map.items() if new is not None}
    inverse = {new: old for old, new in new_ids.items()}

    def new_name(g: int) -> object:
        return old_name(inverse[g]) if g in inverse else f"new {g}"

    reasons = _lock_diagnosis(state, opt, [new_ids[g] for g in locked_grid_ids], locked, new_name)
    if reasons:
        raise InfeasiblePlanError(
            f"cannot reach max/min <= {tolerance} (best {res.balance:.3f}) because of locks: " + "; ".join(reasons)
        )
    logger.warning("rebalance: max/min %.4f above tolerance %.3f", res.balance, tolerance)


def _match_grids(
    start: NDArray[np.int64],
    labels: NDArray[np.int64],
    weight: NDArray[np.float64],
    k_old: int,
    k_new: int,
    label_map: dict[int, int | None],
) -> dict[int, int | None]:
    """Old grid -> new grid by the assignment keeping the most retailers (weight) in place.

    Returns ``label_map`` unchanged unless the matching keeps strictly more retailers.
    """
    from scipy.optimize import linear_sum_assignment

    ok = start >= 0
    ct = np.zeros((k_old, k_new))
    np.add.at(ct, (start[ok], labels[ok]), weight[ok])
    rows, cols = linear_sum_assignment(-ct)
    kept_now = sum(ct[g, h] for g, h in label_map.items() if h is not None)
    if ct[rows, cols].sum() <= kept_now + 1e-9:
        return label_map
    out: dict[int, int | None] = {g: None for g in range(k_old)}
    out.update({int(g): int(h) for g, h in zip(rows, cols, strict=True)})
    return out


def _drop_grids(
    state: SearchState,
    closed: NDArray[np.bool_],
    locked: NDArray[np.bool_],
    label_map: dict[int, int | None],
    n_drop: int,
    settings: _Settings,
    candidates: int,
) -> tuple[SearchState, NDArray[np.bool_], dict[int, int | None]]:
    """Dissolve ``n_drop`` grids one by one (see :func:`_drop_grid`); the label map follows the renumbering."""
    for _ in range(n_drop):
        # each drop renumbers the grids, and a per-pair model with them: go on with the state's
        state, closed, label_map = _drop_grid(state, closed, locked, label_map, state.fn, settings, candidates)
    return state, closed, label_map


def _drop_grid(
    state: SearchState,
    closed: NDArray[np.bool_],
    locked: NDArray[np.bool_],
    label_map: dict[int, int | None],
    fn: WorkloadFn,
    settings: _Settings,
    candidates: int,
) -> tuple[SearchState, NDArray[np.bool_], dict[int, int | None]]:
    """Dissolve the open grid whose removal (plus rebalancing) moves the fewest retailers."""
    k = state.k
    has_lock = np.bincount(state.lab[locked], minlength=k) > 0
    open_ = np.flatnonzero(~closed & ~has_lock)
    if open_.size == 0:
        raise InfeasiblePlanError("cannot remove a grid: every grid is locked or holds locked units")
    R = state.agg[:, 9]
    tried = open_[np.lexsort((open_, R[open_]))][: max(1, candidates)]
    best: tuple[float, int, SearchState] | None = None
    for d in tried:
        trial = SearchState(state.u, state.lab, k, fn)
        _dissolve(trial, int(d), closed)
        cl = closed.copy()
        cl[d] = True
        home = np.where(state.lab == d, -1, state.lab)
        opt = settings.options(~locked, cl, home=home)
        balance(trial, opt)
        polish(trial, home, opt)
        cost = float(state.u.n_retailers[trial.lab != state.lab].sum())
        ratio = balance_ratio(trial.W[~cl])
        key = cost + (1e12 if ratio > settings.tolerance else 0.0)
        logger.debug("dissolving grid %d: %.0f retailers moved, max/min %.4f", d, cost, ratio)
        if best is None or key < best[0]:
            best = (key, int(d), trial)
    assert best is not None
    _, d, trial = best
    # renumber: grids above d shift down by one
    new_index = np.arange(k) - (np.arange(k) > d)
    lab = new_index[trial.lab]
    new_map: dict[int, int | None] = {}
    for old, cur in label_map.items():
        new_map[old] = None if cur is None or cur == d else int(new_index[cur])
    new_state = SearchState(state.u, lab, k - 1, fn.without(d) if isinstance(fn, PairWorkload) else fn)
    return new_state, np.delete(closed, d), new_map
