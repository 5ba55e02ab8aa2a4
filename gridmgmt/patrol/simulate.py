"""Coverage simulation: plan consecutive working days, mark the planned visits done, measure.

Each simulated day: plan with :func:`gridmgmt.patrol.plan.plan_day` on an in-memory copy of
the event log, then append one synthetic ``inspection`` event (outcome ``ok``, monopoly) per
planned stop at its start time, so open tasks close and inspection cycles restart. New
tip-offs, complaints and marketing reports arrive between plans at the district's rate over
the last year (Poisson, seeded; retailers drawn with weights rising with their risk score), so
deadlines are tested on fresh work, not only on the backlog.

The report gives, over the period: the share of retailers within their inspection cycle
(each day and at the end), the share of task deadlines met, day lengths, and blind spots
(retailers never visited and overdue at the end). When a target is missed it says which
capacity is missing, in squad-days.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridmgmt.loop.cycles import inspection_cycle_days
from gridmgmt.loop.tasks import deadlines, open_tasks
from gridmgmt.patrol.plan import PatrolPlan, PlanOptions, plan_day
from gridmgmt.patrol.visits import visit_candidates
from gridmgmt.risk.district_risk import score_risk
from gridmgmt.vocab import TASK_TYPES, default_department

log = logging.getLogger(__name__)


@dataclass
class SimulationReport:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    daily : DataFrame
        One row per planned day: date, candidates, mandatory, planned, mandatory_unplanned,
        overdue (retailers past their cycle at the start of the day), within_cycle_share,
        mean_day_min, max_day_min, travel_min, own_grid_share (share of the day's stops in the
        squad's own grid; NaN without grids), cross_grid_stops, runtime_s.
    tasks : DataFrame
        Every task open during the period: event_id, retailer_id, type, opened, deadline,
        visited (date or NaT), status (met | missed | open: deadline after the period |
        late_at_start: deadline already past on the first day, not counted in ``deadlines_met``).
    blind_spots : DataFrame
        Retailers never visited during the period and past their cycle at its end, with a reason.
    within_cycle_end : float
        Share of retailers within their inspection cycle after the last day.
    deadlines_met : float
        Share of tasks whose deadline fell in the period that were visited by it (1.0 if none).
    capacity_note : str
        Plain-language verdict against the targets, naming missing capacity if any.
    runtime_s : float
        Wall-clock time of the whole simulation, seconds.
    """

    start: str
    days: int
    daily: pd.DataFrame
    tasks: pd.DataFrame
    blind_spots: pd.DataFrame
    within_cycle_end: float
    deadlines_met: float
    capacity_note: str
    runtime_s: float
    events: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def summary(self) -> str:
        """A short text report."""
        d = self.daily
        lines = [
            f"Simulated {self.days} working days from {self.start} in {self.runtime_s:.0f} s.",
            f"Visits planned: {int(d['planned'].sum())} ({d['planned'].mean():.0f} per day).",
            f"Within inspection cycle: {self.within_cycle_end:.1%} at the end "
            f"(first day {d['within_cycle_share'].iloc[0]:.1%}, worst {d['within_cycle_share'].min():.1%}).",
            f"Task deadlines met: {self.deadlines_met:.1%} of "
            f"{int(self.tasks['status'].isin(['met', 'missed']).sum())} due in the period "
            f"({int((self.tasks['status'] == 'missed').sum())} missed; "
            f"{int((self.tasks['status'] == 'late_at_start').sum())} were already late on the first day).",
            f"Day length: mean {d['mean_day_min'].mean():.0f} min, longest {d['max_day_min'].max():.0f} min.",
            f"Blind spots (never visited, overdue at the end): {len(self.blind_spots)}.",
            self.capacity_note,
        ]
        return "\n".join(lines)


def working_days(start: str | pd.Timestamp, days: int) -> list[pd.Timestamp]:
    """The first ``days`` working days (Mon-Fri) from ``start`` on (inclusive)."""
    first = np.datetime64(pd.Timestamp(start).date())
    return [pd.Timestamp(np.busday_offset(first, k, roll="forward")) for k in range(days)]


def simulate(
    district: Any,
    start: str | pd.Timestamp,
    days: int = 20,
    *,
    risk: pd.DataFrame | None = None,
    grids: Any = None,
    squads: Iterable[str | int] | None = None,
    absent: Iterable[str] = (),
    new_tasks: bool = True,
    time_limit_s: float | None = 6.0,
    solution_limit: int | None = None,
    seed: int = 0,
    cycle_target: float = 0.95,
    progress: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Plan ``days`` consecutive working days from ``start`` and measure coverage.

    Parameters
    ----------
    district : District
        Loaded district; its event log is copied, never changed.
    start : str or Timestamp
        First day (rolled forward to a working day); must be after the event history.
    days : int
        Working days to simulate.
    risk : DataFrame, optional
        Risk table, fixed for the period; default: scored once as of ``start``.
    grids : GeoDataFrame or DataFrame, optional
        Grids as for :func:`gridmgmt.patrol.plan.plan_day` (default: the retailers' ``grid_id``).
    squads, absent
        As for :class:`gridmgmt.patrol.plan.PlanOptions` (the same every day).
    new_tasks : bool
        Let new tip-offs, complaints and marketing reports arrive at the historical rate.
    time_limit_s, solution_limit
        Per day, as for :class:`gridmgmt.patrol.plan.PlanOptions` (keep them small: the
        simulation plans many days). Keep a time limit: a solution limit alone can take minutes
        on a day with few candidates (measured: 5 solutions took 130-150 s on some demo days).
    seed : int
        Seed of the new tasks and the solver.
    cycle_target : float
        Target share of retailers within their cycle (for the capacity note).
    progress : callable, optional
        Called with a short text per day.

    Returns
    -------
    SimulationReport
    """
    started = time.perf_counter()
    say = progress or (lambda text: log.info("%s", text))
    dates = working_days(start, days)
    if risk is None:
        risk = score_risk(district, str(dates[0].date()))
    options = PlanOptions(
        squads=None if squads is None else tuple(squads),
        absent=tuple(absent),
        time_limit_s=time_limit_s,
        solution_limit=solution_limit,
        seed=seed,
        geometry=False,
    )
    state = _SimulationState.start(district, risk, dates[0], seed)
    daily: list[dict] = []
    plan: PatrolPlan | None = None
    for k, day in enumerate(dates):
        until = dates[k + 1] if k + 1 < len(dates) else day + pd.Timedelta(days=1)
        plan = _simulate_day(district, state, day, until, risk=risk, grids=grids, options=options, new_tasks=new_tasks)
        daily.append(_day_row(plan, day, len(state.ids)))
        say(
            f"{day.date()}: {len(plan.stops)} visits of {len(plan.candidates)} candidates, "
            f"{daily[-1]['overdue']} retailers overdue, {plan.runtime_s:.1f} s"
        )
    assert plan is not None  # dates[0] exists (used above), so the loop ran
    return _report(district, state, dates, risk, pd.DataFrame(daily), plan, cycle_target, started)


# ----------------------------------------------------------------------------- steps of simulate


@dataclass
class _SimulationState:
    """What the simulation carries from day to day: the growing event log and who was visited."""

    events: pd.DataFrame
    rng: np.random.Generator
    rates: dict[str, float]
    weights: np.ndarray
    ids: np.ndarray
    initial_tasks: pd.DataFrame
    new_rows: list[dict] = field(default_factory=list)
    visited: dict[str, pd.Timestamp] = field(default_factory=dict)

    @classmethod
    def start(cls, district: Any, risk: pd.DataFrame, first: pd.Timestamp, seed: int) -> _SimulationState:
        """The state before the first day: a copy of the event log, task rates and weights."""
        events = district.events.copy()
        return cls(
            events=events,
            rng=np.random.default_rng(seed),
            rates=_daily_rates(events, first),
            weights=_task_weights(district.retailers, risk),
            ids=district.retailers["retailer_id"].astype(str).to_numpy(),
            initial_tasks=open_tasks(events, before=first, settings=district.settings),
        )


def _simulate_day(
    district: Any,
    state: _SimulationState,
    day: pd.Timestamp,
    until: pd.Timestamp,
    *,
    risk: pd.DataFrame,
    grids: Any,
    options: PlanOptions,
    new_tasks: bool,
) -> PatrolPlan:
    """Plan one day, mark its stops done, and let the next tasks arrive (until ``until``, exclusive)."""
    plan = plan_day(district, day, risk=risk, grids=grids, events=state.events, options=options)
    for row in plan.stops.itertuples():
        state.visited.setdefault(row.retailer_id, day)
    parts = [state.events, _inspections(plan.stops, day)]
    if new_tasks:
        arrivals = _new_tasks(state.rng, state.rates, state.ids, state.weights, day, until)
        state.new_rows += arrivals.to_dict("records")
        parts.append(arrivals)
    state.events = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return plan


def _inspections(stops: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """One synthetic ``inspection`` event (outcome ``ok``, monopoly) per planned stop, at its start time."""
    return pd.DataFrame(
        {
            "event_id": [f"SIM-{day:%Y%m%d}-{i:04d}" for i in range(len(stops))],
            "retailer_id": stops["retailer_id"].astype(str).to_numpy(),
            "time": pd.to_datetime([f"{day:%Y-%m-%d}T{t}" for t in stops["start"]]),
            "type": "inspection",
            "department": "monopoly",
            "outcome": "ok",
            "severity": "",
            "note": "simulated joint visit",
        }
    )


def _day_row(plan: PatrolPlan, day: pd.Timestamp, n_retailers: int) -> dict:
    """One row of the daily table (see :attr:`SimulationReport.daily`)."""
    cands = plan.candidates
    overdue = int(((cands["days_overdue"] > 0) & cands["purpose"].str.contains("routine")).sum())
    summary = plan.summary.loc[plan.summary["visits"] > 0]
    return {
        "date": str(day.date()),
        "candidates": len(cands),
        "mandatory": int(cands["mandatory"].sum()),
        "planned": len(plan.stops),
        "mandatory_unplanned": len(plan.mandatory_unplanned()),
        "overdue": overdue,
        "within_cycle_share": 1.0 - overdue / n_retailers,
        "mean_day_min": float(summary["day_min"].mean()) if len(summary) else 0.0,
        "max_day_min": float(summary["day_min"].max()) if len(summary) else 0.0,
        "travel_min": float(summary["travel_min"].sum()),
        "own_grid_share": _own_grid_share(plan),
        "cross_grid_stops": int((plan.stops["cross_grid_reason"] != "").sum()) if len(plan.stops) else 0,
        "runtime_s": round(plan.runtime_s, 2),
    }


def _own_grid_share(plan: PatrolPlan) -> float:
    """Share of the day's stops in the visiting squad's own grid (NaN without stops or grids)."""
    stops = plan.stops
    if not len(stops) or not stops["grid_id"].notna().any():
        return float("nan")
    return float(plan.summary["own_grid_stops"].sum()) / len(stops)


def _report(
    district: Any,
    state: _SimulationState,
    dates: list[pd.Timestamp],
    risk: pd.DataFrame,
    daily: pd.DataFrame,
    last_plan: PatrolPlan,
    cycle_target: float,
    started: float,
) -> SimulationReport:
    """Measure the period: cycle coverage the next working day, task deadlines, blind spots, capacity."""
    settings = district.settings
    n = len(state.ids)
    end = pd.Timestamp(np.busday_offset(np.datetime64(dates[-1].date()), 1))
    final = visit_candidates(district.retailers, state.events, date=end, settings=settings, risk=risk)
    overdue_end = final.loc[(final["days_overdue"] > 0) & final["purpose"].str.contains("routine"), "retailer_id"]
    within_end = 1.0 - len(overdue_end) / n
    tasks = _task_outcomes(state.initial_tasks, state.new_rows, state.events, settings, dates)
    due = tasks.loc[tasks["status"].isin(["met", "missed"])]
    met = float((due["status"] == "met").mean()) if len(due) else 1.0
    evening = set(final.loc[final["window_open_min"] > final["window_close_min"], "retailer_id"])
    blind = _blind_spots(district, final, set(overdue_end) - set(state.visited), evening)
    # deadlines at evening-only shops cannot be met by day squads: judged apart (note below)
    day_due = due.loc[~due["retailer_id"].isin(evening)]
    met_day = float((day_due["status"] == "met").mean()) if len(day_due) else 1.0
    note = _capacity_note(district, risk, daily, len(last_plan.squads.squads), within_end, met_day, cycle_target)
    note += _evening_note(tasks, blind, evening)
    return SimulationReport(
        start=str(dates[0].date()),
        days=len(dates),
        daily=daily,
        tasks=tasks,
        blind_spots=blind.reset_index(drop=True),
        within_cycle_end=within_end,
        deadlines_met=met,
        capacity_note=note,
        runtime_s=time.perf_counter() - started,
        events=state.events,
    )


def _blind_spots(district: Any, final: pd.DataFrame, never_visited: set[str], evening: set[str]) -> pd.DataFrame:
    """Retailers overdue at the end and never visited, with the reason."""
    blind = district.retailers.loc[
        district.retailers["retailer_id"].isin(never_visited),
        ["retailer_id", "name", "address", "lon", "lat", "customer_class"],
    ].merge(final[["retailer_id", "days_overdue"]], on="retailer_id", how="left")
    blind["reason"] = np.where(
        blind["retailer_id"].isin(evening),
        "open only outside the shift: needs an evening patrol",
        "not reached: squads' days were full with higher-priority visits",
    )
    return blind


def _evening_note(tasks: pd.DataFrame, blind: pd.DataFrame, evening: set[str]) -> str:
    """What the capacity note adds about shops open only outside the day shift ('' when none)."""
    note = ""
    missed = tasks.loc[tasks["status"] == "missed", "retailer_id"]
    missed_evening = int(missed.isin(evening).sum())
    if missed_evening:
        note += f" {missed_evening} of the {len(missed)} missed deadline(s) are at shops open only outside the shift."
    n_evening = int(blind["retailer_id"].isin(evening).sum())
    if n_evening:
        note += (
            f" {n_evening} overdue retailer(s) open only outside the day shift (e.g. 19:00-24:00): "
            "no day squad can inspect them; schedule an evening patrol."
        )
    return note


def _daily_rates(events: pd.DataFrame, before: pd.Timestamp, window_days: int = 365) -> dict[str, float]:
    """Tasks per calendar day over the last ``window_days`` before ``before``, by type."""
    times = pd.to_datetime(events["time"])
    recent = events.loc[(times < before) & (times >= before - pd.Timedelta(days=window_days))]
    span = max(1.0, min(window_days, (before - times.min()).days if len(times) else window_days))
    return {t: float((recent["type"] == t).sum()) / span for t in TASK_TYPES}


def _task_weights(retailers: pd.DataFrame, risk: pd.DataFrame) -> np.ndarray:
    score = risk.set_index("retailer_id")["score"].reindex(retailers["retailer_id"]).fillna(0.0).to_numpy(float)
    w = 1.0 + np.clip(score, 0, None) / 10.0
    return w / w.sum()


def _new_tasks(
    rng: np.random.Generator,
    rates: dict[str, float],
    ids: np.ndarray,
    weights: np.ndarray,
    day: pd.Timestamp,
    until: pd.Timestamp,
) -> pd.DataFrame:
    """Tasks arriving after ``day``'s shift and on the calendar days up to ``until`` (exclusive)."""
    rows = []
    current = day
    while current < until:
        for kind, rate in rates.items():
            for j in range(rng.poisson(rate)):
                minute = int(rng.integers(17 * 60 + 40, 22 * 60))  # after the shift: known next morning
                rows.append(
                    {
                        "event_id": f"SIMT-{current:%Y%m%d}-{kind}-{j}",
                        "retailer_id": str(rng.choice(ids, p=weights)),
                        "time": f"{current:%Y-%m-%d}T{minute // 60:02d}:{minute % 60:02d}",
                        "type": kind,
                        "department": default_department(kind),
                        "outcome": "",
                        "severity": "",
                        "note": "simulated " + kind.replace("_", "-"),
                    }
                )
        current += pd.Timedelta(days=1)
    out = pd.DataFrame(rows)
    if len(out):
        out["time"] = pd.to_datetime(out["time"])
    return out


def _task_outcomes(
    initial: pd.DataFrame, new_rows: list[dict], events: pd.DataFrame, settings: Any, dates: list[pd.Timestamp]
) -> pd.DataFrame:
    new = pd.DataFrame(new_rows)
    cols = ["event_id", "retailer_id", "type", "time"]
    tasks = pd.concat([initial[cols], new[cols]] if len(new) else [initial[cols]], ignore_index=True)
    tasks["opened"] = pd.to_datetime(tasks["time"])
    tasks["deadline"] = deadlines(tasks["time"], tasks["type"], settings)
    sim = events.loc[events["event_id"].astype(str).str.startswith("SIM-")]
    visits = sim.assign(t=pd.to_datetime(sim["time"]))[["retailer_id", "t"]]
    merged = tasks.reset_index().merge(visits, on="retailer_id", how="left")
    merged = merged.loc[merged["t"] > merged["opened"]]
    first = merged.groupby("index")["t"].min()
    tasks["visited"] = first.reindex(tasks.index).dt.normalize()
    last_day = dates[-1]
    status = np.select(
        [
            tasks["deadline"] < dates[0],
            tasks["visited"].notna() & (tasks["visited"] <= tasks["deadline"]),
            tasks["deadline"] > last_day,
        ],
        ["late_at_start", "met", "open"],
        default="missed",
    )
    tasks["status"] = status
    return tasks.drop(columns="time")


def _capacity_note(
    district: Any, risk: pd.DataFrame, daily: pd.DataFrame, squads: int, within: float, met: float, target: float
) -> str:
    """Say whether the targets are met, and if not, roughly which capacity is missing."""
    level = risk.set_index("retailer_id")["level"].reindex(district.retailers["retailer_id"]).fillna("medium")
    cycle = inspection_cycle_days(district.retailers, level, district.settings)
    # routine visits needed per working day to keep everyone in cycle (5 working days a week)
    need = float((1.0 / cycle).sum()) * 7 / 5
    planned = float(daily["planned"].mean())
    per_squad = planned / max(squads, 1)
    ok_cycle, ok_deadline = within >= target, met >= 1.0
    if ok_cycle and ok_deadline:
        return (
            f"Targets met: {within:.1%} within cycle (target {target:.0%}), every deadline a day squad can "
            "reach was met. "
            f"Routine demand ~{need:.0f} visits per working day against {planned:.0f} planned."
        )
    parts = []
    if not ok_deadline:
        parts.append(
            f"{1 - met:.1%} of the deadlines at shops open during the shift missed: answer tip-offs and "
            "complaints before routine work, or keep a squad free for them"
        )
    if not ok_cycle:
        missing = max(0.0, need - planned)
        parts.append(
            f"only {within:.1%} within cycle (target {target:.0%}): routine demand ~{need:.0f} visits per working "
            f"day against {planned:.0f} planned; about {missing / max(per_squad, 1):.1f} more squad-days per day "
            "are needed, or longer cycles"
        )
    return "Targets missed: " + "; ".join(parts) + "."
