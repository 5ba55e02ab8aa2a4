"""Local search on grid labels: the search state, flow-planned balancing moves, polish, smoothing, compactness.

:class:`SearchState` keeps per-grid sums up to date move by move, so the exact (non-additive)
workload and the Polsby-Popper of a grid after a move cost O(degree). :func:`balance` moves
boundary units along a grid-level min-cost flow plan until max/min <= tolerance; :func:`smooth`
and :func:`compact` improve compactness within the tolerance; :func:`unmove` and :func:`polish`
send needlessly moved units home after a rebalance.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gridmgmt.grids.metrics import balance_ratio, polsby_popper_from_parts
from gridmgmt.grids.workload import PairWorkload

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    from gridmgmt.grids.unit_table import UnitTable
    from gridmgmt.grids.workload import WorkloadFn

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Search state: per-grid aggregates kept up to date move by move
# --------------------------------------------------------------------------------------------


class SearchState:
    """Labels plus per-grid sums, so a move's exact effect costs O(degree)."""

    def __init__(self, units: UnitTable, labels: NDArray[np.int64], k: int, workload_fn: WorkloadFn) -> None:
        self.u = units
        self.k = k
        self.fn = workload_fn
        n = units.n
        e = units.edges
        src = np.concatenate([e[:, 0], e[:, 1]])
        dst = np.concatenate([e[:, 1], e[:, 0]])
        order = np.argsort(src, kind="stable")
        self.src, self.dst = src[order], dst[order]
        self.eshared = np.concatenate([units.shared_m, units.shared_m])[order]
        self.ecross = np.concatenate([units.crossing_cost, units.crossing_cost])[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.src, minlength=n))])
        # per-unit columns: service, access, stops, area, stops*x, stops*y, area*x, area*y, perimeter, retailers
        x, y = units.xy_m[:, 0], units.xy_m[:, 1]
        s, a = units.stops_per_month, units.area_km2
        # and, when the units carry routed travel factors, stops*factor (column 10)
        columns = [units.service_min, units.access_min, s, a, s * x, s * y, a * x, a * y, units.perimeter_m,
                   units.n_retailers]  # fmt: skip
        if units.travel_factor is not None:
            columns.append(s * units.travel_factor)
        self.cols = np.stack(columns, axis=1)
        self.depots = units.depot_xy_m
        # a grid priced for its own pair travels from that pair's depot; otherwise from the nearest
        self.grid_depot = workload_fn.depot if isinstance(workload_fn, PairWorkload) else None
        self.set_labels(labels)

    def set_labels(self, labels: NDArray[np.int64]) -> None:
        """Replace every label and recompute the per-grid sums and workloads."""
        self.lab = np.asarray(labels, dtype=np.int64).copy()
        agg = np.zeros((self.k, self.cols.shape[1]))
        np.add.at(agg, self.lab, self.cols)
        same = self.lab[self.src] == self.lab[self.dst]
        # each internal edge appears twice in the directed arrays: subtract its length twice in total
        internal = np.bincount(self.lab[self.src][same], weights=self.eshared[same], minlength=self.k)
        agg[:, 8] -= internal
        self.agg = agg
        self.count = np.bincount(self.lab, minlength=self.k)
        self.W = self._workload(agg, np.arange(self.k))

    def _depot_dist(self, agg: NDArray[np.float64], grids: NDArray[np.int64]) -> NDArray[np.float64]:
        """Distance from each row's work centre to its grid's depot (the nearest depot if none), metres."""
        if self.depots.shape[0] == 0:
            return np.zeros(agg.shape[0])
        stops, area = agg[:, 2], agg[:, 3]
        empty = (stops <= 0) & (area <= 0)
        # the centre of the stops, of the area without stops (columns 4-5 and 6-7 over 2 and 3)
        by_stops = stops > 0
        weight = np.where(by_stops, stops, np.where(area > 0, area, 1.0))
        centre = np.where(by_stops[:, None], agg[:, 4:6], agg[:, 6:8]) / weight[:, None]
        d = np.hypot(centre[:, 0, None] - self.depots[None, :, 0], centre[:, 1, None] - self.depots[None, :, 1])
        dist = d.min(axis=1)
        if self.grid_depot is not None:
            own = self.grid_depot[grids]
            dist = np.where(own >= 0, d[np.arange(d.shape[0]), np.maximum(own, 0)], dist)
        return np.where(empty, 0.0, dist)

    def _workload(self, agg: NDArray[np.float64], grids: NDArray[np.int64]) -> NDArray[np.float64]:
        """Workload of aggregate rows, row ``i`` being (a trial state of) grid ``grids[i]``."""
        d = self._depot_dist(agg, grids)
        if isinstance(self.fn, PairWorkload):
            w = self.fn(agg[:, 0], agg[:, 1], agg[:, 2], agg[:, 3], d, grids=grids)
        else:
            w = self.fn(agg[:, 0], agg[:, 1], agg[:, 2], agg[:, 3], d)
        w = np.asarray(w, dtype=float).reshape(-1)
        if self.cols.shape[1] > 10:  # travel (all but service and access) times the grid's routed factor
            w = agg[:, 0] + agg[:, 1] + (w - agg[:, 0] - agg[:, 1]) * self.travel_factor(agg)
        return w

    def travel_factor(self, agg: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Routed travel factor of every grid (of ``agg`` rows when given): the stop-weighted mean of its
        units' :attr:`~gridmgmt.grids.unit_table.UnitTable.travel_factor` (1 without)."""
        agg = self.agg if agg is None else agg
        if self.cols.shape[1] <= 10:
            return np.ones(agg.shape[0])
        stops = agg[:, 2]
        return np.where(stops > 0, agg[:, 10] / np.where(stops > 0, stops, 1.0), 1.0)

    def compactness(self, agg: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """Polsby-Popper of every grid (of ``agg`` rows when given)."""
        agg = self.agg if agg is None else agg
        return polsby_popper_from_parts(agg[:, 3] * 1e6, agg[:, 8])

    def neighbours(self, i: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """Neighbours of unit ``i`` with the shared boundary (m) and crossing cost of each edge."""
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.dst[lo:hi], self.eshared[lo:hi], self.ecross[lo:hi]

    def evaluate(self, cands: NDArray[np.int64], g: int, h: int) -> dict[str, NDArray[np.float64]]:
        """Exact workloads, compactness and crossing change if each candidate moved g -> h."""
        # the edges of every candidate (its slice of the sorted edge arrays), in order
        lo, deg = self.indptr[cands], self.indptr[cands + 1] - self.indptr[cands]
        owner = np.repeat(np.arange(len(cands)), deg)
        m = np.repeat(lo - np.cumsum(deg) + deg, deg) + np.arange(int(deg.sum()))
        ld = self.lab[self.dst[m]]
        nc = len(cands)
        sh_g = np.bincount(owner, weights=np.where(ld == g, self.eshared[m], 0.0), minlength=nc)
        sh_h = np.bincount(owner, weights=np.where(ld == h, self.eshared[m], 0.0), minlength=nc)
        cr_g = np.bincount(owner, weights=np.where(ld == g, self.ecross[m], 0.0), minlength=nc)
        cr_h = np.bincount(owner, weights=np.where(ld == h, self.ecross[m], 0.0), minlength=nc)
        c = self.cols[cands]
        ag = self.agg[g][None, :] - c
        ah = self.agg[h][None, :] + c
        ag[:, 8] = self.agg[g, 8] - c[:, 8] + 2 * sh_g
        ah[:, 8] = self.agg[h, 8] + c[:, 8] - 2 * sh_h
        rows = np.ones(len(cands), dtype=np.int64)
        wg, wh = self._workload(ag, g * rows), self._workload(ah, h * rows)
        return {
            "wg": wg,
            "wh": wh,
            "ppg": polsby_popper_from_parts(ag[:, 3] * 1e6, ag[:, 8]),
            "pph": polsby_popper_from_parts(ah[:, 3] * 1e6, ah[:, 8]),
            "dperim": (ag[:, 8] - self.agg[g, 8]) + (ah[:, 8] - self.agg[h, 8]),
            "dcross": cr_h - cr_g,
        }

    def move(self, i: int, h: int) -> None:
        """Move unit ``i`` into grid ``h``, updating the sums of both grids."""
        g = int(self.lab[i])
        nb, sh, _ = self.neighbours(i)
        ln = self.lab[nb]
        c = self.cols[i]
        self.agg[g] -= c
        self.agg[h] += c
        self.agg[g, 8] += 2 * sh[ln == g].sum()
        self.agg[h, 8] -= 2 * sh[ln == h].sum()
        self.lab[i] = h
        self.count[g] -= 1
        self.count[h] += 1
        self.W[[g, h]] = self._workload(self.agg[[g, h]], np.array([g, h]))

    def stays_connected(self, i: int) -> bool:
        """Whether grid of unit ``i`` stays in one piece without ``i`` (BFS within the grid)."""
        g = self.lab[i]
        if self.count[g] <= 1:
            return False
        nb, _, _ = self.neighbours(i)
        targets = {int(v) for v in nb[self.lab[nb] == g]}
        if len(targets) <= 1:
            return bool(targets)
        start = targets.pop()
        seen = {start, int(i)}
        stack = [start]
        lab, indptr, dst = self.lab, self.indptr, self.dst
        while stack:
            v = stack.pop()
            for w in dst[indptr[v] : indptr[v + 1]]:
                w = int(w)
                if w not in seen and lab[w] == g:
                    if w in targets:
                        targets.discard(w)
                        if not targets:
                            return True
                    seen.add(w)
                    stack.append(w)
        return not targets

    def grid_pairs(self) -> NDArray[np.int64]:
        """Adjacent grid pairs (g, h), both directions."""
        ls, ld = self.lab[self.src], self.lab[self.dst]
        diff = ls != ld
        if not diff.any():
            return np.zeros((0, 2), dtype=np.int64)
        return np.unique(np.stack([ls[diff], ld[diff]], axis=1), axis=0)


# --------------------------------------------------------------------------------------------
# Local search
# --------------------------------------------------------------------------------------------


@dataclass
class SearchOptions:
    """What a search may move and how it scores moves (tolerance, compactness floor, weights)."""

    tolerance: float
    min_compactness: float
    movable: NDArray[np.bool_]  # units allowed to move
    closed_grids: NDArray[np.bool_]  # grids that neither give nor take units
    retailer_weight: float  # 0: partition; > 0: minimise retailers moved
    crossing_weight: float = 1.0
    max_moves: int = 20000
    max_checks: int = 25
    floor: NDArray[np.float64] | None = None  # per-grid compactness floor, set by balance()
    compactness_slack: float = 0.05  # how far below its starting Polsby-Popper a grid may fall
    home: NDArray[np.int64] | None = None  # rebalance: grid each unit starts in (-1: new or dissolved, free)


def _flow_plan(state: SearchState, opt: SearchOptions) -> dict[tuple[int, int], float]:
    """Workload (minutes) each pair of neighbouring grids should pass on, by a grid-level min-cost flow."""
    from ortools.graph.python import min_cost_flow

    pairs = state.grid_pairs()
    if pairs.size:
        open_ = ~opt.closed_grids[pairs[:, 0]] & ~opt.closed_grids[pairs[:, 1]]
        pairs = pairs[open_]
    k = state.k
    active = ~opt.closed_grids
    if pairs.size == 0 or active.sum() < 2:
        return {}
    W = state.W
    mean = W[active].mean()
    supply = np.where(active, np.round(W - mean), 0).astype(np.int64)
    # rounding: make supplies sum to zero on the largest node
    j = int(np.argmax(np.abs(supply) * active))
    supply[j] -= supply.sum()
    # cost per minute passed out of grid g: one hop, plus retailers per minute of g (rebalance)
    R, Wp = state.agg[:, 9], np.where(W > 0, W, 1.0)
    dens = (R / Wp) / max(R[active].sum() / W[active].sum(), 1e-12)
    cost = np.round(100 * (1.0 + opt.retailer_weight * dens[pairs[:, 0]])).astype(np.int64)
    cap = np.full(len(pairs), int(np.abs(supply).sum()) + 1, dtype=np.int64)
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(
        pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), cap, cost
    )
    mcf.set_nodes_supplies(np.arange(k, dtype=np.int32), supply)
    if mcf.solve() != mcf.OPTIMAL:
        logger.debug("grid flow plan: no optimal solution (grid graph split by closed grids?)")
        return {}
    flows = mcf.flows(arcs)
    return {(int(a), int(b)): float(f) for (a, b), f in zip(pairs, flows, strict=True) if f > 0}


def _move_cost(state: SearchState, opt: SearchOptions, units: NDArray[np.int64], g: Any, h: Any) -> NDArray[np.float64]:
    """Retailers moved when ``units`` go from grid ``g`` to ``h``: leaving home costs, going home earns."""
    r = state.u.n_retailers[units]
    if opt.home is None:
        return r
    hm = opt.home[units]
    return np.where(hm < 0, 0.0, np.where(hm == g, r, np.where(hm == h, -r, 0.0)))


def _try_move(state: SearchState, g: int, h: int, want: float, opt: SearchOptions) -> float:
    """Move the best boundary unit of g into h; return the workload g gave (0 when none fits)."""
    lab = state.lab
    m = (lab[state.src] == g) & (lab[state.dst] == h)
    cands = np.unique(state.src[m])
    cands = cands[opt.movable[cands]]
    if cands.size == 0:
        return 0.0
    ev = state.evaluate(cands, g, h)
    Wg, Wh = state.W[g], state.W[h]
    give = Wg - ev["wg"]
    pp = state.compactness()
    ok = (give > 0) & (ev["wh"] < Wg) & (ev["wg"] > 0)
    # compactness: never push a grid below its floor (the global floor, or a little under its start value)
    floor = opt.floor if opt.floor is not None else np.full(state.k, opt.min_compactness)
    ok &= (ev["ppg"] >= floor[g]) | (ev["ppg"] >= pp[g] - 1e-12)
    ok &= (ev["pph"] >= floor[h]) | (ev["pph"] >= pp[h] - 1e-12)
    if not ok.any():
        return 0.0
    cands = cands[ok]
    give = give[ok]
    want = max(want, 1e-9)
    overshoot = np.clip(give - want, 0.0, None) / want
    # also penalise moves that leave h heavier than g
    flip = np.clip(ev["wh"][ok] - ev["wg"][ok], 0.0, None) / max(Wg - Wh, 1e-9)
    typical_perim = float(np.median(state.u.perimeter_m)) or 1.0
    dperim = ev["dperim"][ok] / typical_perim
    if opt.retailer_weight > 0:
        # perimeter added per share of the wanted workload: empty blocks are free in retailers but give
        # little workload, and moving many of them one by one grows fingers
        dperim = np.where(dperim > 0, dperim / np.maximum(np.minimum(give / want, 1.0), _MIN_GIVE_SHARE), dperim)
    score = (
        dperim
        + opt.crossing_weight * ev["dcross"][ok]
        + 2.0 * overshoot
        + 2.0 * flip
        - 0.5 * np.minimum(give / want, 1.0)
    )
    if opt.retailer_weight > 0:
        per_min = _move_cost(state, opt, cands, g, h) / np.maximum(give, 1e-9)
        mean_per_min = state.agg[:, 9].sum() / state.W.sum()
        score = score + opt.retailer_weight * 4.0 * per_min / max(mean_per_min, 1e-12) * np.minimum(give / want, 1.0)
    order = np.lexsort((cands, score))
    for idx in order[: opt.max_checks]:
        i = int(cands[idx])
        if state.stays_connected(i):
            before = state.W[g]
            state.move(i, h)
            return float(before - state.W[g])
    return 0.0


#: floor of the share of the wanted workload a move is credited with when its perimeter cost is scaled
_MIN_GIVE_SHARE = 0.1


def balance(state: SearchState, opt: SearchOptions, *, rounds: int = 30) -> int:
    """Move boundary units until max/min <= tolerance (or no move helps); return the moves made."""
    moves = 0
    active = ~opt.closed_grids
    # a grid may fall to the floor, or lose compactness_slack from where it starts if that is lower
    opt.floor = np.minimum(opt.min_compactness, state.compactness() - opt.compactness_slack)

    def ratio() -> float:
        # every grid that still has units counts, locked ones included (a dissolved grid has none)
        return balance_ratio(state.W[state.count > 0])

    for rnd in range(rounds):
        if ratio() <= opt.tolerance or moves >= opt.max_moves:
            break
        plan = _flow_plan(state, opt) if rnd % 2 == 0 else {}
        if not plan:
            # polishing: any heavier -> lighter neighbour, half the difference
            pairs = state.grid_pairs()
            plan = {
                (int(a), int(b)): (state.W[a] - state.W[b]) / 2
                for a, b in pairs
                if state.W[a] > state.W[b] and active[a] and active[b]
            }
        blocked: set[tuple[int, int]] = set()
        made = 0
        while ratio() > opt.tolerance and moves < opt.max_moves:
            W = state.W
            live = [e for e, r in plan.items() if r > 1e-9 and e not in blocked and W[e[0]] > W[e[1]]]
            if not live:
                break
            e = max(live, key=lambda p: (W[p[0]] - W[p[1]], -p[0], -p[1]))
            gave = _try_move(state, e[0], e[1], plan[e], opt)
            if gave > 0:
                plan[e] -= gave
                made += 1
                moves += 1
            else:
                blocked.add(e)
        if made == 0 and rnd % 2 == 1:
            break
    return moves


def unmove(state: SearchState, home: NDArray[np.int64], opt: SearchOptions, *, passes: int = 20) -> int:
    """Send moved units back to their home grid while the balance stays within tolerance.

    The balancing search is greedy and overshoots; afterwards some moved units are not needed.
    Units go home heaviest in retailers first, when the home grid is next to them, max/min stays
    <= tolerance, both grids stay in one piece and neither drops below its compactness floor.
    When a return alone breaks the balance, it is paired with a compensating move of one boundary
    unit of the home grid the other way, if that pair lowers the retailers moved in total (the
    compensating unit has fewer retailers, or is itself going home). Returns the units moved.
    """
    back = 0
    active = ~opt.closed_grids
    floor = opt.floor if opt.floor is not None else np.full(state.k, opt.min_compactness)
    r = state.u.n_retailers
    idle = 0

    def ratio(W: NDArray[np.float64]) -> float:
        return balance_ratio(W[state.count > 0])

    def ok_pp(ev: dict[str, NDArray[np.float64]], g: int, h: int, pp: NDArray[np.float64]) -> NDArray[np.bool_]:
        return (ev["ppg"] >= np.minimum(floor[g], pp[g])) & (ev["pph"] >= np.minimum(floor[h], pp[h]))

    for npass in range(passes):
        away = np.flatnonzero((home >= 0) & (state.lab != home) & opt.movable)
        if away.size == 0:
            break
        away = away[active[home[away]] & active[state.lab[away]]]
        # alternate: most retailers per minute of work first (cheap to take back), then most retailers first
        per_min = r[away] / np.maximum(state.cols[away, 0] + state.cols[away, 1], 1e-9)
        order = away[np.lexsort((away, -per_min if npass % 2 == 0 else -r[away]))]
        made = 0
        for i in order:
            i = int(i)
            g, h = int(state.lab[i]), int(home[i])
            if g == h or not (state.lab[state.neighbours(i)[0]] == h).any():
                continue
            now = ratio(state.W)
            pp = state.compactness()
            ev = state.evaluate(np.array([i]), g, h)
            if not ok_pp(ev, g, h, pp)[0] or not state.stays_connected(i):
                continue
            W = state.W.copy()
            W[g], W[h] = ev["wg"][0], ev["wh"][0]
            if ratio(W) <= opt.tolerance + 1e-12 or ratio(W) <= now:
                state.move(i, h)
                made += 1
                continue
            if r[i] <= 0:
                continue
            # compensate: one boundary unit of h goes to g, if the pair moves fewer retailers in total
            state.move(i, h)
            lab = state.lab
            m = (lab[state.src] == h) & (lab[state.dst] == g)
            c = np.unique(state.src[m])
            c = c[opt.movable[c] & (c != i)]
            cost = _move_cost(state, dataclasses.replace(opt, home=home), c, h, g)
            c, cost = c[cost < r[i]], cost[cost < r[i]]
            done = False
            if c.size:
                ev2 = state.evaluate(c, h, g)
                pp2 = state.compactness()
                W2 = np.repeat(state.W[None, :], c.size, axis=0)
                W2[:, h], W2[:, g] = ev2["wg"], ev2["wh"]
                live = state.count > 0
                rat = W2[:, live].max(axis=1) / np.maximum(W2[:, live].min(axis=1), 1e-12)
                good = (rat <= max(opt.tolerance + 1e-12, now)) & ok_pp(ev2, h, g, pp2)
                for j in c[good][np.lexsort((c[good], rat[good], cost[good]))][: opt.max_checks]:
                    if state.stays_connected(int(j)):
                        state.move(int(j), g)
                        made += 2
                        done = True
                        break
            if not done:
                state.move(i, g)  # undo
        back += made
        idle = idle + 1 if made == 0 else 0
        if idle >= 2:
            break
    return back


def polish(state: SearchState, home: NDArray[np.int64], opt: SearchOptions, *, rounds: int = 3) -> int:
    """After rebalancing: send needless moves home, then improve compactness at no extra cost, repeatedly.

    The compactness search may only move units that already left home or hold no staying
    retailers, so it never adds to the retailers moved; it can make room for more units to go home.
    """
    moves = unmove(state, home, opt)
    r = state.u.n_retailers
    for _ in range(rounds):
        cost = float(r[(home >= 0) & (state.lab != home)].sum())
        free = opt.movable & ((r == 0) | (state.lab != home))  # home -1: new or dissolved, moved anyway
        free_opt = dataclasses.replace(opt, movable=free)
        made = smooth(state, free_opt) + compact(state, free_opt) + unmove(state, home, opt)
        moves += made
        if made == 0 or float(r[(home >= 0) & (state.lab != home)].sum()) >= cost:
            break
    return moves


def smooth(state: SearchState, opt: SearchOptions, *, passes: int = 4) -> int:
    """Move boundary units that share more boundary with a neighbouring grid than with their own.

    Each such move shortens the total perimeter (compactness up); it is kept only when balance
    stays within tolerance, both grids stay contiguous and neither falls below the compactness floor.
    """
    moves = 0
    n, k = state.u.n, state.k
    for _ in range(passes):
        lab = state.lab
        ls, ld = lab[state.src], lab[state.dst]
        own = np.bincount(state.src[ls == ld], weights=state.eshared[ls == ld], minlength=n)
        diff = ls != ld
        key = state.src[diff] * k + ld[diff]
        uniq, inv = np.unique(key, return_inverse=True)
        sh = np.bincount(inv, weights=state.eshared[diff])
        units_, heads = uniq // k, uniq % k
        gain = sh - own[units_]  # perimeter saved / 2
        ok = (gain > 1e-9) & opt.movable[units_] & ~opt.closed_grids[heads] & ~opt.closed_grids[lab[units_]]
        order = np.flatnonzero(ok)[np.lexsort((units_[ok], -gain[ok]))]
        made = 0
        for j in order:
            i, h = int(units_[j]), int(heads[j])
            g = int(state.lab[i])
            if g == h:
                continue
            # an earlier move of this pass may have taken i's last neighbour out of h
            if not (state.lab[state.neighbours(i)[0]] == h).any():
                continue
            ev = state.evaluate(np.array([i]), g, h)
            W = state.W.copy()
            W[g], W[h] = ev["wg"][0], ev["wh"][0]
            if balance_ratio(W[state.count > 0]) > opt.tolerance:  # locked grids count too
                continue
            pp = state.compactness()
            if (ev["ppg"][0] < min(opt.min_compactness, pp[g])) or (ev["pph"][0] < min(opt.min_compactness, pp[h])):
                continue
            if state.stays_connected(i):
                state.move(i, h)
                made += 1
        moves += made
        if made == 0:
            break
    return moves


#: exponent of 1 / Polsby-Popper in the compactness search's objective: the larger, the more the least
#: compact grid counts (docs/grids_tuning.md)
COMPACT_POWER = 4.0


def compact(
    state: SearchState,
    opt: SearchOptions,
    *,
    max_moves: int = 3000,
    top: int = 8,
    grids: NDArray[np.bool_] | None = None,
) -> int:
    """Compactness search: boundary moves and pairwise swaps that lower ``sum((1 / PP) ** COMPACT_POWER)``.

    The objective ``sum_g (P_g**2 / (4 pi A_g)) ** COMPACT_POWER`` (perimeter from unit perimeters
    minus shared boundaries, so the real polygon's) weighs the least compact grids most. A single
    move ``g -> h`` is kept when it lowers the objective, keeps max/min <= tolerance and both grids
    in one piece; when balance blocks every single move between two grids, a swap (one unit each
    way) is tried, which keeps the workloads nearly unchanged. With ``grids`` (a mask), only the
    borders of those grids are searched, and of the grids they trade units with.

    Returns
    -------
    int
        Units moved.
    """
    moves = 0
    searched = np.ones(state.k, dtype=bool) if grids is None else grids.copy()
    active = ~opt.closed_grids
    tol = opt.tolerance
    # a rebalance keeps every grid within compactness_slack of where it started (the floor balance() set)
    floor = opt.floor if opt.home is not None and opt.floor is not None else None

    def above_floor(ev: dict[str, NDArray[np.float64]], g: int, h: int) -> NDArray[np.bool_]:
        if floor is None:
            return np.ones(ev["ppg"].shape, dtype=bool)
        pp = state.compactness()
        return (ev["ppg"] >= min(floor[g], pp[g])) & (ev["pph"] >= min(floor[h], pp[h]))

    def inv_pp(area_km2: NDArray[np.float64], perim_m: NDArray[np.float64]) -> NDArray[np.float64]:
        return (perim_m**2 / np.maximum(4.0 * math.pi * area_km2 * 1e6, 1e-9)) ** COMPACT_POWER

    def ratio_with(
        W: NDArray[np.float64], g: int, h: int, wg: NDArray[np.float64], wh: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        others = state.count > 0  # every grid with units counts, closed ones included
        others[[g, h]] = False
        rest = W[others]
        hi = np.maximum(np.maximum(wg, wh), rest.max() if rest.size else 0.0)
        lo = np.minimum(np.minimum(wg, wh), rest.min() if rest.size else np.inf)
        return hi / np.maximum(lo, 1e-12)

    def candidates(g: int, h: int) -> tuple[NDArray[np.int64], dict[str, NDArray[np.float64]], NDArray[np.float64]]:
        lab = state.lab
        m = (lab[state.src] == g) & (lab[state.dst] == h)
        c = np.unique(state.src[m])
        c = c[opt.movable[c]]
        if c.size == 0:
            return c, {}, np.zeros(0)
        ev = state.evaluate(c, g, h)
        ag, ah = state.agg[g], state.agg[h]
        base = inv_pp(ag[3], ag[8]) + inv_pp(ah[3], ah[8])
        new = ev["ppg"], ev["pph"]
        with np.errstate(divide="ignore"):
            delta = (
                np.where(
                    (new[0] > 0) & (new[1] > 0),
                    np.maximum(new[0], 1e-12) ** -COMPACT_POWER + np.maximum(new[1], 1e-12) ** -COMPACT_POWER,
                    np.inf,
                )
                - base
            )
        return c, ev, delta

    for _ in range(50):
        made = 0
        pairs = [(int(a), int(b)) for a, b in state.grid_pairs() if active[a] and active[b] and searched[[a, b]].any()]
        for g, h in pairs:
            if moves >= max_moves:
                break
            if state.count[g] <= 1:
                continue
            c, ev, delta = candidates(g, h)
            if c.size == 0:
                continue
            r = ratio_with(state.W, g, h, ev["wg"], ev["wh"])
            ok = (delta < -1e-6) & (r <= tol) & above_floor(ev, g, h)
            done = False
            for idx in np.flatnonzero(ok)[np.lexsort((c[ok], delta[ok]))][: opt.max_checks]:
                i = int(c[idx])
                if state.stays_connected(i):
                    state.move(i, h)
                    made += 1
                    moves += 1
                    searched[[g, h]] = True
                    done = True
                    break
            if done:
                continue
            # swaps: the most helpful moves g -> h, each paired with the best return h -> g
            good = np.flatnonzero((delta < -1e-6) & above_floor(ev, g, h))
            for idx in good[np.lexsort((c[good], delta[good]))][:top]:
                i = int(c[idx])
                if not state.stays_connected(i):
                    continue
                obj0 = float(inv_pp(state.agg[[g, h], 3], state.agg[[g, h], 8]).sum())
                state.move(i, h)
                c2, ev2, delta2 = candidates(h, g)
                c2mask = c2 != i
                if c2.size:
                    r2 = ratio_with(state.W, h, g, ev2["wg"], ev2["wh"])
                    obj1 = float(inv_pp(state.agg[[g, h], 3], state.agg[[g, h], 8]).sum())
                    total = obj1 + delta2 - obj0
                    ok2 = c2mask & (total < -1e-6) & (r2 <= tol) & above_floor(ev2, h, g)
                    accepted = False
                    for j_idx in np.flatnonzero(ok2)[np.lexsort((c2[ok2], total[ok2]))][:top]:
                        j = int(c2[j_idx])
                        if state.stays_connected(j):
                            state.move(j, g)
                            accepted = True
                            break
                    if accepted:
                        made += 2
                        moves += 2
                        searched[[g, h]] = True
                        done = True
                        break
                state.move(i, g)  # undo
        if made == 0 or moves >= max_moves:
            break
    return moves


# --------------------------------------------------------------------------------------------
# Re-splitting two neighbouring grids (large moves)
# --------------------------------------------------------------------------------------------

#: straight cut directions tried when re-splitting two grids (every 180 / this degrees)
RESPLIT_ANGLES = 16
#: cuts (the most compact first) re-balanced per pair of grids (more: slower, no better on Monaco and the demo)
RESPLIT_TRIES = 1
#: how far a cut's max/min may exceed the current one before the repair re-balances it
RESPLIT_LOOSEN = 1.10
#: cuts repaired at most by one re-split search (Monaco's 4 grids take about 10, the demo's 12 about 40)
RESPLIT_MAX_CUTS = 60
#: the repair of a cut moves units among grids at most this many grids away from the two cut
RESPLIT_REACH = 3


def compactness_key(pp: NDArray[np.float64]) -> tuple[float, float]:
    """Order of partitions by compactness, best lowest: the least compact grid's ``1 / PP``, then ``sum(1 / PP)``."""
    inv = 1.0 / np.maximum(pp, 1e-12)
    return float(inv.max()), float(inv.sum())


def _better(worst: Any, total: Any, old: tuple[float, float]) -> Any:
    """Whether compactness keys ``(worst, total)`` beat ``old`` (relative margin 1e-6 on each part); vectorised."""
    eps = 1e-6
    return (worst < old[0] * (1 - eps)) | ((worst <= old[0] * (1 + eps)) & (total < old[1] * (1 - eps)))


def _connected(state: SearchState, members: NDArray[np.int64]) -> bool:
    """Whether ``members`` form one piece on the unit adjacency."""
    from scipy import sparse
    from scipy.sparse import csgraph

    pos = np.full(state.u.n, -1)
    pos[members] = np.arange(members.size)
    a, b = pos[state.u.edges[:, 0]], pos[state.u.edges[:, 1]]
    inside = (a >= 0) & (b >= 0)
    graph = sparse.coo_matrix((np.ones(int(inside.sum())), (a[inside], b[inside])), shape=(members.size,) * 2)
    return bool(csgraph.connected_components(graph, directed=False)[0] == 1)


def _cuts(state: SearchState, g: int, h: int, limit: float, angles: int) -> list[tuple[tuple[float, ...], Any]]:
    """Cuts of grids g and h together into two pieces, each one piece, max/min <= ``limit``, more compact than now.

    Units are ordered along a direction (``angles`` straight cuts) or by distance from a centre of
    g or h (their stops' and their area's: circular cuts); a cut takes the first units of an order
    for one grid and the rest for the other (either way round; between equally compact cuts, the one
    leaving more units in their grid). Per-grid sums of every cut come from prefix sums, perimeters
    from the shared boundaries inside each side. Returns ``(key, (first, second, grid of first,
    grid of second))`` best first, at most two per order and way round.
    """
    members = np.flatnonzero((state.lab == g) | (state.lab == h))
    m = members.size
    xy, cols = state.u.xy_m[members], state.cols[members]
    pos = np.full(state.u.n, -1)
    pos[members] = np.arange(m)
    ea, eb = pos[state.u.edges[:, 0]], pos[state.u.edges[:, 1]]
    inside = (ea >= 0) & (eb >= 0)
    ea, eb, shared = ea[inside], eb[inside], state.u.shared_m[inside]
    others = state.count > 0
    others[[g, h]] = False
    w_rest, inv_rest = state.W[others], 1.0 / np.maximum(state.compactness()[others], 1e-12)
    hi_rest = w_rest.max() if w_rest.size else 0.0
    lo_rest = w_rest.min() if w_rest.size else np.inf
    worst_rest = inv_rest.max() if inv_rest.size else 0.0
    pp = state.compactness()
    now = compactness_key(pp[[g, h]])
    now = (max(now[0], worst_rest), now[1])
    orders = [xy @ np.array([math.cos(math.pi * t / angles), math.sin(math.pi * t / angles)]) for t in range(angles)]
    for grid in (g, h):
        for col in (2, 3):  # around the grid's centre of stops, and of area
            if weight := state.agg[grid, col]:
                centre = state.agg[grid, 2 * col : 2 * col + 2] / weight
                orders.append(np.hypot(*(xy - centre).T))
    cut_at = np.arange(1, m)
    was_g = state.lab[members] == g
    n_g = int(was_g.sum())
    out: list[tuple[tuple[float, ...], Any]] = []
    for key in orders:
        order = np.argsort(key, kind="stable")
        rank = np.empty(m, dtype=np.int64)
        rank[order] = np.arange(m)
        head = np.concatenate([np.zeros((1, cols.shape[1])), np.cumsum(cols[order], axis=0)])[cut_at]
        tail = cols.sum(axis=0)[None, :] - head
        # a shared boundary is inside the head when both its units are, inside the tail likewise
        last, first = np.maximum(rank[ea], rank[eb]), np.minimum(rank[ea], rank[eb])
        head[:, 8] -= 2 * np.cumsum(np.bincount(last, weights=shared, minlength=m))[:-1]
        tail[:, 8] -= 2 * np.cumsum(np.bincount(first, weights=shared, minlength=m)[::-1])[::-1][1:]
        inv = 1.0 / np.maximum(polsby_popper_from_parts(np.stack([head[:, 3], tail[:, 3]]) * 1e6,
                                                        np.stack([head[:, 8], tail[:, 8]])), 1e-12)  # fmt: skip
        worst, total = np.maximum(inv.max(axis=0), worst_rest), inv.sum(axis=0)
        in_g = np.cumsum(was_g[order])[:-1]  # units of g in the head
        for a, b in ((g, h), (h, g)):
            wa, wb = state._workload(head, np.full(m - 1, a)), state._workload(tail, np.full(m - 1, b))
            ratio = np.maximum(np.maximum(wa, wb), hi_rest) / np.maximum(np.minimum(np.minimum(wa, wb), lo_rest), 1e-12)
            ok = (ratio <= limit) & _better(worst, total, now)
            kept = in_g + (m - n_g) - (cut_at - in_g) if a == g else (cut_at - in_g) + (n_g - in_g)
            found = 0
            for j in np.flatnonzero(ok)[np.lexsort((-kept[ok], total[ok], worst[ok]))][:4]:
                one, two = members[order[: cut_at[j]]], members[order[cut_at[j] :]]
                if _connected(state, one) and _connected(state, two):
                    out.append(((float(worst[j]), float(total[j]), -int(kept[j])), (one, two, a, b)))
                    found += 1
                    if found == 2:
                        break
    out.sort(key=lambda c: c[0])
    return out


def resplit(
    state: SearchState,
    opt: SearchOptions,
    repair: Callable[[SearchState, SearchOptions, NDArray[np.bool_]], int],
    *,
    angles: int = RESPLIT_ANGLES,
    tries: int = RESPLIT_TRIES,
    loosen: float = RESPLIT_LOOSEN,
    passes: int = 3,
    max_cuts: int = RESPLIT_MAX_CUTS,
) -> int:
    """Large moves: cut two neighbouring grids anew, repair, and keep the result if the grids got more compact.

    Boundary moves (:func:`balance`, :func:`smooth`, :func:`compact`) change a grid one unit at a
    time and stop in a local optimum: a grid reaching around its neighbour, or along a coast,
    cannot straighten out one unit at a time while the workloads stay within the tolerance. Here
    the units of two neighbouring grids (least compact first) are cut in two anew by straight or
    circular cuts (:func:`_cuts`: each side in one piece, max/min within ``loosen`` times the
    current one, more compact than now); the ``tries`` most compact cuts are each re-balanced by
    ``repair``, and the first whose grids are within the tolerance, in one piece each and more
    compact (:func:`compactness_key`: the least compact grid first) is kept. ``repair(state,
    options, grids)`` gets options closing every grid more than ``RESPLIT_REACH`` grids away from
    the two, and the mask of the two. Pairs with a unit that may not move or a closed grid are
    left alone; after ``max_cuts`` repairs the search stops (the least compact grids come first).

    Returns
    -------
    int
        Units that changed grid.
    """
    moved = tried = kept = 0
    fresh = np.ones(state.k, dtype=bool)  # grids changed since their pairs were last tried
    for _ in range(passes):
        made = 0
        pp = state.compactness()
        pairs = [(int(a), int(b)) for a, b in state.grid_pairs() if a < b and fresh[[a, b]].any()]
        pairs.sort(key=lambda e: (min(pp[e[0]], pp[e[1]]), e))
        fresh[:] = False
        for g, h in pairs:
            if tried >= max_cuts:
                break
            both = (state.lab == g) | (state.lab == h)
            if opt.closed_grids[[g, h]].any() or not opt.movable[both].all():
                continue
            if not ((state.lab[state.src] == g) & (state.lab[state.dst] == h)).any():
                continue  # no longer neighbours
            ratio = balance_ratio(state.W[state.count > 0])
            before, saved = compactness_key(state.compactness()), state.lab.copy()
            for _, (one, two, a, b) in _cuts(state, g, h, max(ratio, opt.tolerance) * loosen, angles)[:tries]:
                lab = saved.copy()
                lab[one], lab[two] = a, b
                state.set_labels(lab)
                cut = np.isin(np.arange(state.k), (g, h))
                near = cut.copy()  # the repair moves units among grids at most RESPLIT_REACH grids away
                for _ring in range(RESPLIT_REACH):
                    near[state.lab[state.dst[near[state.lab[state.src]]]]] = True
                repair(state, dataclasses.replace(opt, closed_grids=opt.closed_grids | ~near), cut)
                tried += 1
                fits = balance_ratio(state.W[state.count > 0]) <= max(ratio, opt.tolerance) + 1e-12
                if fits and _better(*compactness_key(state.compactness()), before):
                    changed = state.lab != saved
                    fresh[state.lab[changed]] = fresh[saved[changed]] = True
                    made += int(changed.sum())
                    kept += 1
                    break
                state.set_labels(saved)
        moved += made
        if made == 0:
            break
    logger.debug("re-split: %d of %d cuts kept, %d units moved", kept, tried, moved)
    return moved
