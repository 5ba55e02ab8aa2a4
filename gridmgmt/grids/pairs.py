"""Staff pairs of the grids: who pairs with whom, how and from where they travel, which grid each serves.

A pair is one customer manager (marketing) and one monopoly officer with the same
``staff.grid_id`` (the staff table's pairing; staff left over pair up in staff_id order). Like a
patrol squad (:mod:`gridmgmt.patrol.squads`), a pair travels at its slower member's mode
(``walk`` < ``ebike`` < ``car``) from the officer's depot (the manager's when the officer has none).

:func:`match_pairs` gives each grid a pair by a minimum-cost assignment
(:func:`scipy.optimize.linear_sum_assignment`) on :func:`travel_cost`: the monthly travel minutes
of the grid if that pair served it (its mode's tour coefficient on the grid's stops and area, its
mode's depot speed over the distance from its own depot). Walkers, whose tour minutes per
sqrt(stop km2) are several times a car's, end up in compact dense grids near their depot and cars
in the large sparse ones; a pair never takes a grid across the district when a pair of the same
mode starts nearer to it (that swap would lower the total). Fixed pairs (pins, or pairs keeping
the grid of an earlier plan) are honoured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import minutes_of_day
from gridmgmt.grids.partition import PartitionResult, refine
from gridmgmt.grids.workload import DEFAULT_MODE, PairWorkload, WorkloadModel, workload_min

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from numpy.typing import NDArray

    from gridmgmt.config import Settings
    from gridmgmt.grids.unit_table import UnitTable

logger = logging.getLogger(__name__)

#: Rounds of matching and re-balancing at most (the demo settles in 2).
MAX_MATCHING_ROUNDS = 4
#: Travel modes from slowest to fastest (a pair travels together, at the slower member's pace).
MODE_ORDER = ("walk", "ebike", "car")
#: Staff columns of a grid row (ids and names of the pair, its depot and travel mode).
PAIR_COLUMNS = ["customer_manager", "customer_manager_name", "monopoly_officer", "monopoly_officer_name", "depot",
                "travel_mode"]  # fmt: skip
#: Minutes a pair saves by keeping its staff.grid_id number, so equal pairs (same depot and mode) keep it.
_TIE_BREAK_MIN = 1e-3


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def pair_mode(modes: Iterable[str]) -> str:
    """The slower of the members' travel modes (unknown or missing modes are ignored; default ebike)."""
    known = [m for m in (_text(v) for v in modes) if m in MODE_ORDER]
    return min(known, key=MODE_ORDER.index) if known else DEFAULT_MODE


def form_pairs(staff: pd.DataFrame, depot_ids: Iterable[str] = ()) -> pd.DataFrame:
    """The staff pairs: one customer manager and one monopoly officer each, with depot and travel mode.

    Members with the same ``grid_id`` form a pair (the first of each department, in staff_id
    order); staff without a grid id, or beyond the first, fill the pairs lacking their department
    in grid id order, then form new pairs in staff_id order.

    Parameters
    ----------
    staff : pandas.DataFrame
        staff_id, name, department (marketing | monopoly); optional grid_id, depot, travel_mode.
    depot_ids : iterable of str
        The district's depot ids, in the row order of its depots table.

    Returns
    -------
    pandas.DataFrame
        One row per pair: key (the pair's staff.grid_id, NaN for a pair formed from staff
        without one), customer_manager(+_name), monopoly_officer(+_name), depot (id, '' unknown),
        depot_index (row in ``depot_ids``, -1 unknown: the nearest depot is used) and travel_mode.
    """
    st = staff.copy()
    st["staff_id"] = st["staff_id"].astype(str)
    st = st.sort_values("staff_id", kind="stable")
    gid = pd.to_numeric(st["grid_id"], errors="coerce") if "grid_id" in st else pd.Series(np.nan, index=st.index)
    keys = sorted({int(g) for g in gid.dropna()})
    slots: list[dict[str, object]] = [{"key": float(g)} for g in keys]
    for dept, col in (("marketing", "customer_manager"), ("monopoly", "monopoly_officer")):
        rows = st.loc[st["department"] == dept]
        free: list[pd.Series] = []
        for (_, r), g in zip(rows.iterrows(), gid.loc[rows.index], strict=True):
            slot = slots[keys.index(int(g))] if pd.notna(g) else None
            if slot is not None and col not in slot:
                slot[col] = r
            else:
                free.append(r)
        for slot in slots:
            if col not in slot and free:
                slot[col] = free.pop(0)
        while free:
            slots.append({"key": np.nan, col: free.pop(0)})
    where = {str(d): i for i, d in enumerate(depot_ids)}
    out = []
    for slot in slots:
        mk, mo = slot.get("customer_manager"), slot.get("monopoly_officer")
        members = [r for r in (mk, mo) if isinstance(r, pd.Series)]
        depot = _text(mo.get("depot")) if isinstance(mo, pd.Series) else ""
        depot = depot or (_text(mk.get("depot")) if isinstance(mk, pd.Series) else "")
        out.append({
            "key": slot["key"],
            "customer_manager": _text(mk["staff_id"]) if isinstance(mk, pd.Series) else "",
            "customer_manager_name": _text(mk.get("name")) if isinstance(mk, pd.Series) else "",
            "monopoly_officer": _text(mo["staff_id"]) if isinstance(mo, pd.Series) else "",
            "monopoly_officer_name": _text(mo.get("name")) if isinstance(mo, pd.Series) else "",
            "depot": depot, "depot_index": where.get(depot, -1),
            "travel_mode": pair_mode(r.get("travel_mode") for r in members),
        })  # fmt: skip
    return pd.DataFrame(out, columns=["key", *PAIR_COLUMNS[:4], "depot", "depot_index", "travel_mode"])


def parse_pins(values: Iterable[str] | None) -> dict[str, int]:
    """``--pin`` values (``M03=5``, repeatable or comma-separated) as ``{staff_id: grid_id}``.

    Raises
    ------
    InputError
        A value not of the form ``STAFF=GRID`` with a whole grid number.
    """
    pins: dict[str, int] = {}
    for item in (p for v in (values or []) for p in str(v).split(",")):
        if not item.strip():
            continue
        staff_id, _, grid = item.partition("=")
        if not staff_id.strip() or not grid.strip().isdigit():
            hint = "pin a pair to a grid by one member's staff_id, e.g. --pin M03=5"
            raise InputError(
                Problem(file="--pin", field="pin", value=item.strip(), message="not STAFF=GRID", hint=hint)
            )
        pins[staff_id.strip()] = int(grid)
    return pins


def pinned_pairs(pairs: pd.DataFrame, pins: Mapping[str, int] | None, grid_ids: NDArray[np.int64]) -> dict[int, int]:
    """Pins ``{staff_id: grid_id}`` as ``{pair row: grid index}`` (index into ``grid_ids``).

    Raises
    ------
    InputError
        An unknown staff id or grid id, a pair pinned to two grids, or two pairs pinned to one grid.
    """
    fixed: dict[int, int] = {}
    problems: list[Problem] = []
    member = {sid: i for col in ("customer_manager", "monopoly_officer") for i, sid in enumerate(pairs[col]) if sid}
    pos = {int(g): i for i, g in enumerate(grid_ids)}
    for sid, gid in (pins or {}).items():
        p, g = member.get(str(sid)), pos.get(int(gid))
        if p is None:
            problems.append(Problem(file="pins", field="staff_id", value=sid, message="not a paired member of staff"))
        elif g is None:
            span = f"{int(grid_ids.min())}..{int(grid_ids.max())}"
            problems.append(
                Problem(file="pins", field="grid_id", value=gid, message=f"not a grid of this plan ({span})")
            )
        elif fixed.get(p, g) != g:
            problems.append(Problem(file="pins", field="grid_id", value=gid, message=f"the pair of {sid} is pinned "
                                    f"to grid {int(grid_ids[fixed[p]])} already"))  # fmt: skip
        elif g in fixed.values() and fixed.get(p) != g:
            problems.append(Problem(file="pins", field="grid_id", value=gid, message="two pairs pinned to one grid"))
        else:
            fixed[p] = g
    if problems:
        raise InputError(problems)
    return fixed


def grid_centres(units: UnitTable, labels: NDArray[np.int64], k: int) -> tuple[NDArray[np.float64], ...]:
    """Stops per month, area (km2) and work centre (x, y in metres; visit-weighted) of each grid."""
    stops = np.bincount(labels, weights=units.stops_per_month, minlength=k)
    area = np.bincount(labels, weights=units.area_km2, minlength=k)
    # weighted by visits; a grid without stops by area
    wt = np.where(stops[labels] > 0, units.stops_per_month, units.area_km2)
    tot = np.maximum(np.bincount(labels, weights=wt, minlength=k), 1e-12)
    cx = np.bincount(labels, weights=wt * units.xy_m[:, 0], minlength=k) / tot
    cy = np.bincount(labels, weights=wt * units.xy_m[:, 1], minlength=k) / tot
    return stops, area, cx, cy  # type: ignore[return-value]  # numpy stubs: bincount with weights is float


def travel_cost(
    pairs: pd.DataFrame, units: UnitTable, labels: NDArray[np.int64], k: int, models: Mapping[str, WorkloadModel]
) -> NDArray[np.float64]:
    """Monthly travel minutes of each grid if each pair served it, shape (pairs, k).

    ``c_tour(mode) * sqrt(n * a) + days * 2 * d / v(mode)``: the pair's mode's tour coefficient
    and depot speed (``models[mode]``, calibrated on routed tours), ``d`` the straight distance from
    the pair's depot (the nearest depot when unknown) to the grid's work centre.
    """
    stops, area, cx, cy = grid_centres(units, labels, k)
    dep = units.depot_xy_m
    if dep.shape[0]:
        d_all = np.hypot(cx[None, :] - dep[:, 0][:, None], cy[None, :] - dep[:, 1][:, None])  # (depots, k)
    else:
        d_all = np.zeros((1, k))
    cost = np.zeros((len(pairs), k))
    for p, (mode, di) in enumerate(zip(pairs["travel_mode"], pairs["depot_index"], strict=True)):
        m = models.get(str(mode)) or models[DEFAULT_MODE]
        d = d_all[int(di)] if 0 <= int(di) < d_all.shape[0] else d_all.min(axis=0)
        cost[p] = workload_min(0.0, 0.0, stops, area, d, c_tour_min=m.c_tour_min, days_per_month=m.days_per_month,
                               speed_kmh=m.speed_kmh)  # fmt: skip
    return cost


def match_pairs(
    cost: NDArray[np.float64], *, fixed: Mapping[int, int] | None = None, preferred: NDArray[np.int64] | None = None
) -> NDArray[np.int64]:
    """Pair of every grid by a minimum-cost assignment; ``fixed`` pairs (pair -> grid) are kept.

    Parameters
    ----------
    cost : numpy.ndarray, shape (pairs, k)
        Cost of pair ``p`` serving grid ``g`` (e.g. :func:`travel_cost`, minutes per month).
    fixed : mapping of int to int, optional
        Pair row -> grid index that must hold (pins, pairs keeping an earlier grid).
    preferred : numpy.ndarray of int, shape (pairs,), optional
        Grid index each pair keeps among equally good matchings (-1: none), e.g. its staff.grid_id.

    Returns
    -------
    numpy.ndarray of int, shape (k,)
        Pair row of every grid (-1: no pair left for it).
    """
    from scipy.optimize import linear_sum_assignment

    n_pairs, k = cost.shape
    out = np.full(k, -1, dtype=np.int64)
    fixed = dict(fixed or {})
    for p, g in fixed.items():
        out[g] = p
    rows = np.array([p for p in range(n_pairs) if p not in fixed], dtype=np.int64)
    cols = np.array([g for g in range(k) if g not in fixed.values()], dtype=np.int64)
    if rows.size and cols.size:
        c = cost[np.ix_(rows, cols)].copy()
        if preferred is not None:
            c -= _TIE_BREAK_MIN * (preferred[rows][:, None] == cols[None, :])
        r, q = linear_sum_assignment(c)
        out[cols[q]] = rows[r]
    return out


def pair_workload(
    pairs: pd.DataFrame, pair_of_grid: NDArray[np.int64], models: Mapping[str, WorkloadModel], base: WorkloadModel
) -> PairWorkload:
    """The workload function pricing every grid for its pair (a grid without one: ``base``, nearest depot)."""
    c, v, depot = [], [], []
    for p in pair_of_grid:
        if p < 0:
            c.append(base.c_tour_min)
            v.append(base.speed_kmh)
            depot.append(-1)
            continue
        m = models.get(str(pairs["travel_mode"].iloc[p])) or base
        c.append(m.c_tour_min)
        v.append(m.speed_kmh)
        depot.append(int(pairs["depot_index"].iloc[p]))
    return PairWorkload(np.asarray(c, dtype=float), np.asarray(v, dtype=float), np.asarray(depot, dtype=np.int64),
                        base.days_per_month)  # fmt: skip


def grid_staff(pairs: pd.DataFrame, pair_of_grid: NDArray[np.int64], grid_ids: NDArray[np.int64]) -> pd.DataFrame:
    """grid_id and the staff columns (:data:`PAIR_COLUMNS`) of each grid's pair ('' where none)."""
    out = pd.DataFrame({"grid_id": np.asarray(grid_ids, dtype=int)})
    for col in PAIR_COLUMNS:
        values = pairs[col].astype(str).to_numpy()
        out[col] = [values[p] if p >= 0 else "" for p in pair_of_grid]
    return out


def available_min(settings: Settings, staff: pd.DataFrame, grids: pd.DataFrame) -> NDArray[np.float64]:
    """Minutes per month each grid's pair can work (NaN for a grid without a pair).

    Each member works ``grids.working_days_per_month`` days of their shift (``staff.shift_start`` to
    ``shift_end``, else district.toml ``[shift]``) less the ``[shift] lunch_min`` break; a pair's
    minutes are its two members' (the grid workload counts both departments' minutes). With the
    defaults: 2 x 21.75 x (540 - 60) = 20,880 min.
    """
    shifts = staff.assign(staff_id=staff["staff_id"].astype(str)).set_index("staff_id")
    lunch, days = float(settings.shift.lunch_min), float(settings.grids.working_days_per_month)

    def member_min(sid: str) -> float:
        row = shifts.loc[sid] if sid in shifts.index else pd.Series(dtype=object)
        start = _text(row.get("shift_start")) or settings.shift.start
        end = _text(row.get("shift_end")) or settings.shift.end
        return days * max(minutes_of_day(end) - minutes_of_day(start) - lunch, 0.0)

    out = []
    for _, g in grids.iterrows():
        members = [s for s in (_text(g.get(col)) for col in ("customer_manager", "monopoly_officer")) if s]
        out.append(sum(member_min(s) for s in members) if members else np.nan)
    return np.asarray(out, dtype=float)


def pairs_of_grids(pairs: pd.DataFrame, grids: pd.DataFrame) -> NDArray[np.int64]:
    """Pair row of each row of a grids table, by its customer_manager or monopoly_officer (-1: none)."""
    member = {sid: i for col in ("customer_manager", "monopoly_officer") for i, sid in enumerate(pairs[col]) if sid}
    out = []
    for _, g in grids.iterrows():
        ids = [_text(g.get(col)) for col in ("monopoly_officer", "customer_manager")]
        out.append(next((member[s] for s in ids if s in member), -1))
    return np.asarray(out, dtype=np.int64)


def settle_pairs(
    units: UnitTable,
    labels: NDArray[np.int64],
    pairs: pd.DataFrame,
    models: Mapping[str, WorkloadModel],
    base: WorkloadModel,
    *,
    tolerance: float,
    fixed: Mapping[int, int] | None = None,
    preferred: NDArray[np.int64] | None = None,
    max_rounds: int = MAX_MATCHING_ROUNDS,
) -> tuple[PartitionResult, NDArray[np.int64], int]:
    """Settle grids and pairs together: match, re-balance for the matched pairs, match again, until stable.

    Each round matches pairs to the grids (:func:`match_pairs` on :func:`travel_cost`), then
    re-balances the grids with every grid priced for its pair (:func:`pair_workload`,
    :func:`~gridmgmt.grids.partition.refine`): a walking pair's grid shrinks, a car pair's grows.
    It stops when the matching of the new grids is the one they were balanced for, or after
    ``max_rounds`` (then the last balanced matching is kept).

    Returns
    -------
    (PartitionResult, numpy.ndarray of int, int)
        The grids (labels indexed like ``labels``), the pair row of every grid (-1: none) and the rounds run.
    """
    k = int(np.max(labels)) + 1
    pair_of_grid = match_pairs(travel_cost(pairs, units, labels, k, models), fixed=fixed, preferred=preferred)
    res: PartitionResult | None = None
    rounds = 0
    for rounds in range(1, max(1, max_rounds) + 1):
        fn = pair_workload(pairs, pair_of_grid, models, base)
        res = refine(units, labels, tolerance=tolerance, workload_fn=fn)
        labels = res.labels
        again = match_pairs(travel_cost(pairs, units, labels, k, models), fixed=fixed, preferred=preferred)
        logger.info("pairs round %d: max/min %.4f, %d grids change pair", rounds, res.balance,
                    int((again != pair_of_grid).sum()))  # fmt: skip
        if np.array_equal(again, pair_of_grid) or rounds >= max_rounds:
            break  # settled, or out of rounds: keep the matching the grids were balanced for
        pair_of_grid = again
    assert res is not None
    return res, pair_of_grid, rounds


def staff_in_grids(staff: pd.DataFrame, grids: pd.DataFrame | None) -> pd.DataFrame:
    """The staff table with each member's ``grid_id`` taken from a grid plan's pairs.

    A plan built by ``grids build`` names the pair serving each grid (``customer_manager`` and
    ``monopoly_officer`` staff ids, matched to the grids by travel); those members get that grid
    and the others none. Without such columns the staff table's own ``grid_id`` stands.
    """
    if grids is None or not {"grid_id", "customer_manager", "monopoly_officer"} <= set(grids.columns):
        return staff
    grid_of = {}
    for row in grids[["grid_id", "customer_manager", "monopoly_officer"]].itertuples(index=False):
        for member in (row.customer_manager, row.monopoly_officer):
            if isinstance(member, str) and member:
                grid_of[member] = int(row.grid_id)
    if not grid_of:
        return staff
    ids = staff["staff_id"].astype(str)
    return staff.assign(grid_id=pd.array([grid_of.get(i) for i in ids], dtype="Int64"))
