"""Construction of a first partition: k-means++ seeding, capacitated Lloyd iterations, contiguity repair.

Each Lloyd step is a capacitated assignment of units to centres solved as an OR-Tools min-cost
flow (capacity = an equal share of the workload, cost = squared distance, where an edge across a
major road is longer by its crossing cost); contiguity repair then keeps each grid's main piece
and hands stray pieces to a neighbour.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridmgmt._errors import InfeasiblePlanError
from gridmgmt.grids.search import SearchState

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from gridmgmt.grids.unit_table import UnitTable
    from gridmgmt.grids.workload import WorkloadFn

logger = logging.getLogger(__name__)


def _crossing_graph(units: UnitTable) -> sparse.csr_matrix:
    """Adjacency weighted by crossing cost times the median edge length (a tiny floor keeps zero edges)."""
    e = units.edges
    length = np.hypot(*(units.xy_m[e[:, 0]] - units.xy_m[e[:, 1]]).T)
    typical = float(np.median(length)) if length.size else 1.0
    weight = units.crossing_cost * typical * _CROSSING_PENALTY + 1e-6 * np.maximum(length, 1e-3)
    n = units.n
    return sparse.coo_matrix((weight, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()


#: a unit of crossing cost counts as this many typical edge lengths of extra distance
_CROSSING_PENALTY = 3.0


def tour_shares(units: UnitTable, labels: NDArray[np.int64] | None, k: int, c_tour_min: float) -> NDArray[np.float64]:
    """Split each grid's tour term over its units (Euler: T = n dT/dn + a dT/da, so shares sum to T)."""
    n_, a_ = units.stops_per_month, units.area_km2
    if c_tour_min <= 0:
        return np.zeros(units.n)
    if labels is None:
        # before any grid exists: the stop density of a neighbourhood (<= 64 units) around each unit
        m = max(1, min(units.n, units.n // k, 64))
        _, nb = cKDTree(units.xy_m).query(units.xy_m, k=m)
        nb = nb.reshape(units.n, m)
        N, A = n_[nb].sum(axis=1), a_[nb].sum(axis=1)
    else:
        N = np.bincount(labels, weights=n_, minlength=k)[labels]
        A = np.bincount(labels, weights=a_, minlength=k)[labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((N > 0) & (A > 0), np.sqrt(A / np.where(N > 0, N, 1)), 0.0)
        share = 0.5 * c_tour_min * (n_ * r + a_ * np.where(r > 0, 1.0 / np.where(r > 0, r, 1), 0.0))
    return np.asarray(share)


def _kmeanspp(xy: NDArray[np.float64], w: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    n = len(xy)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    centres = [int(rng.choice(n, p=p))]
    d2 = ((xy - xy[centres[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        q = w * d2
        q[centres] = 0.0
        if q.sum() <= 0:
            q = np.ones(n)
            q[centres] = 0.0
        c = int(rng.choice(n, p=q / q.sum()))
        centres.append(c)
        d2 = np.minimum(d2, ((xy - xy[c]) ** 2).sum(axis=1))
    return np.asarray(centres, dtype=np.int64)


#: centres each unit may be assigned to in a Lloyd step (its cheapest); more grids than this only
#: thin out arcs a far centre would never win, and a step that finds no solution retries with all
NEAREST_CENTRES = 16


def capacitated_assign(
    supply: NDArray[np.int64], cost: NDArray[np.int64], caps: NDArray[np.int64], *, nearest: int | None = None
) -> NDArray[np.int64]:
    """Min-cost flow: every unit's supply to k centres with capacities; label = centre of largest flow.

    With ``nearest``, each unit only has arcs to its ``nearest`` cheapest centres (n x nearest
    arcs instead of n x k); if that leaves no solution, all arcs are used.
    """
    from ortools.graph.python import min_cost_flow

    n, k = cost.shape
    m = k if nearest is None or nearest >= k else int(nearest)
    cols = np.argpartition(cost, m - 1, axis=1)[:, :m] if m < k else np.tile(np.arange(k), (n, 1))
    mcf = min_cost_flow.SimpleMinCostFlow()
    tails = np.repeat(np.arange(n, dtype=np.int32), m)
    heads = (n + cols.reshape(-1)).astype(np.int32)
    unit_cost = np.take_along_axis(cost, cols, axis=1).reshape(-1)
    unit_arcs = mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, np.repeat(supply, m), unit_cost)
    sink = n + k
    mcf.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + k, dtype=np.int32), np.full(k, sink, dtype=np.int32), caps, np.zeros(k, dtype=np.int64)
    )
    mcf.set_nodes_supplies(np.arange(n + k + 1, dtype=np.int32), np.concatenate([supply, np.zeros(k, np.int64),
                                                                                  [-supply.sum()]]))  # fmt: skip
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        if m < k:
            return capacitated_assign(supply, cost, caps)
        raise InfeasiblePlanError(f"capacitated assignment failed (min-cost flow status {status})")
    flows = mcf.flows(unit_arcs).reshape(n, m)
    return np.take_along_axis(cols, np.argmax(flows, axis=1)[:, None], axis=1)[:, 0].astype(np.int64)


def lloyd(
    units: UnitTable, k: int, seed: int | list[int], max_iter: int, workload_fn: WorkloadFn
) -> tuple[NDArray[np.int64], int]:
    """Capacitated Lloyd iterations from a weighted k-means++ start.

    Parameters
    ----------
    units : UnitTable
    k : int
        Number of grids.
    seed : int or list of int
        Entropy of the k-means++ start.
    max_iter : int
        Iterations at most (stops earlier when labels or centres repeat).
    workload_fn : callable
        The workload function; its ``c_tour_min`` attribute, if any, spreads the tour term over units.

    Returns
    -------
    (numpy.ndarray of int, int)
        Grid index of every unit (not necessarily contiguous) and the iterations run.
    """
    # a per-grid model (grids priced for their pairs) spreads its mean tour coefficient: Lloyd's grids have no pairs yet
    c_tour = float(np.mean(getattr(workload_fn, "c_tour_min", 0.0)))
    base = units.service_min + units.access_min
    w = base + tour_shares(units, None, k, c_tour)
    rng = np.random.default_rng(seed)
    centres = _kmeanspp(units.xy_m, w + 1e-9, k, rng)
    # distance = straight line + a penalty per major road crossed on the way (street-graph path);
    # pure graph distance on a block lattice is Manhattan-like and gives diamond (non-compact) cells
    graph = _crossing_graph(units) if units.crossing_cost.any() else None
    labels = np.full(units.n, -1, dtype=np.int64)
    it = 0
    state: SearchState | None = None
    depot_term = np.zeros(k)
    for it in range(1, max_iter + 1):  # noqa: B007 (reported)
        dist = np.hypot(*(units.xy_m[None, :, :] - units.xy_m[centres][:, None, :]).transpose(2, 0, 1))
        if graph is not None:
            dist = dist + csgraph.dijkstra(graph, directed=False, indices=centres)  # (k, n) metres
        dmax = float(dist[np.isfinite(dist)].max()) or 1.0
        cost = np.round((dist.T / dmax) ** 2 * 1e6).astype(np.int64)
        scale = 1e6 / max(w.sum(), 1e-9)
        supply = np.maximum(np.round(w * scale), 1).astype(np.int64)
        # capacities: equal full workload, so grids far from a depot get less additive work
        target = (w.sum() + depot_term.sum()) / k
        share = np.clip(target - depot_term, 0.0, None)
        share = share / share.sum() if share.sum() > 0 else np.full(k, 1.0 / k)
        caps = np.ceil(share * supply.sum()).astype(np.int64) + 1
        new = capacitated_assign(supply, cost, caps, nearest=NEAREST_CENTRES)
        if state is None:
            state = SearchState(units, new, k, workload_fn)
        else:
            state.set_labels(new)
        depot_term = (
            state.W
            - np.bincount(new, weights=base, minlength=k)
            - np.bincount(new, weights=tour_shares(units, new, k, c_tour), minlength=k)
        )
        w = base + tour_shares(units, new, k, c_tour)
        # new centres: the member unit nearest the workload-weighted mean
        new_centres = centres.copy()
        for g in range(k):
            members = np.flatnonzero(new == g)
            if members.size == 0:
                continue
            ww = w[members] + 1e-9
            mxy = (units.xy_m[members] * ww[:, None]).sum(axis=0) / ww.sum()
            new_centres[g] = members[np.argmin(((units.xy_m[members] - mxy) ** 2).sum(axis=1))]
        converged = np.array_equal(new, labels) or np.array_equal(new_centres, centres)
        labels, centres = new, new_centres
        if converged:
            break
    return labels, it


def repair_contiguity(state: SearchState, movable: NDArray[np.bool_]) -> int:
    """Keep each grid's main piece (the one with locked units, else the heaviest); pieces join a neighbour."""
    moved = 0
    n, k = state.u.n, state.k
    weight = state.cols[:, 0] + state.cols[:, 1] + 1e-6
    for _ in range(50):
        lab = state.lab
        same = lab[state.src] == lab[state.dst]
        g = sparse.coo_matrix((np.ones(same.sum()), (state.src[same], state.dst[same])), shape=(n, n)).tocsr()
        ncomp, comp = csgraph.connected_components(g, directed=False)
        comp_w = np.bincount(comp, weights=weight, minlength=ncomp)
        comp_locked = np.bincount(comp, weights=(~movable).astype(float), minlength=ncomp)
        comp_lab = np.zeros(ncomp, dtype=np.int64)
        comp_lab[comp] = lab
        # main piece per grid: most locked units, then heaviest
        key = comp_locked * (comp_w.sum() + 1) + comp_w
        main = np.full(k, -1)
        best = np.full(k, -1.0)
        for c in range(ncomp):
            gl = comp_lab[c]
            if key[c] > best[gl]:
                best[gl], main[gl] = key[c], c
        is_main = np.zeros(ncomp, dtype=bool)
        is_main[main[main >= 0]] = True
        orphans = np.flatnonzero(~is_main)
        if orphans.size == 0:
            break
        changed = 0
        for c in orphans[np.argsort(comp_w[orphans], kind="stable")]:
            members = np.flatnonzero(comp == c)
            if comp_locked[c] > 0:
                logger.warning("grid %d has locked units in a separate piece; left as is", comp_lab[c])
                continue
            m = np.isin(state.src, members) & (comp[state.dst] != c) & is_main[comp[state.dst]]
            if not m.any():
                continue
            nl = state.lab[state.dst[m]]
            counts = np.bincount(nl, weights=state.eshared[m] + 1e-6, minlength=k)
            h = int(np.argmax(counts))
            lab = state.lab.copy()
            lab[members] = h
            state.set_labels(lab)
            moved += members.size
            changed += 1
            break  # components changed: recompute
        if changed == 0:
            break
    return moved
