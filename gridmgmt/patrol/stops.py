"""From solved routing runs to the day's tables: stops with clock times, squad summaries, reasons.

The solver works in seconds after midnight; these tables show ``HH:MM`` and minutes.
"""

from __future__ import annotations

import re

import pandas as pd

from gridmgmt.patrol.day_model import SolverRun
from gridmgmt.patrol.model import diagnose_visit
from gridmgmt.patrol.squads import Squad

__all__ = [
    "COVER_TEXT",
    "NO_CAPACITY",
    "STOP_COLUMNS",
    "clock",
    "cover_reason",
    "explain_dropped",
    "hhmm",
    "idle_summary",
    "own_grid_shares",
    "stops_of",
]

STOP_COLUMNS = [
    "squad_id",
    "seq",
    "retailer_id",
    "grid_id",
    "name",
    "address",
    "purpose",
    "mandatory",
    "deadline",
    "cross_grid_reason",
    "arrival",
    "start",
    "departure",
    "travel_min",
    "wait_min",
    "service_min",
    "lunch_before",
    "window_open",
    "window_close",
    "lon",
    "lat",
    "checklist_zh",
    "checklist_en",
]
#: Reason for an optional visit the solver left out.
NO_CAPACITY = "no capacity left today: the squads' days are full with higher-priority visits"

#: Why a squad visits a retailer outside its own grid, by kind (the only reasons allowed).
COVER_TEXT = {
    "absent": "squad absent",
    "no_squad": "no squad for this grid",
    "not_planned": "its squad is not in this plan",
    "deadline": "deadline today, own squad full",
}

_SECONDS_RE = re.compile(r"\b(\d{4,6})\b")


def hhmm(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` (rounded down to the minute)."""
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def clock(minutes: float) -> str:
    """Minutes after midnight as ``HH:MM``."""
    return hhmm(float(minutes) * 60)


def cover_reason(grid_id: int, kind: str) -> str:
    """The ``cross_grid_reason`` of a stop in another squad's grid, e.g. "covering for grid 7: squad absent".

    Parameters
    ----------
    grid_id : int
        The grid the visited retailer belongs to.
    kind : str
        A key of :data:`COVER_TEXT`.
    """
    return f"covering for grid {int(grid_id)}: {COVER_TEXT[kind]}"


def explain_dropped(run: SolverRun, mandatory: set[str], reasons: dict[str, str]) -> None:
    """Record in ``reasons`` why each visit the solver left out was not planned by this mode.

    Parameters
    ----------
    run : SolverRun
        The solved problem of one mode.
    mandatory : set of str
        Retailer ids whose visit is mandatory (the others are optional).
    reasons : dict
        ``retailer_id -> reason``, updated in place.
    """
    for d in run.result.dropped:
        rid = run.node_retailer.get(d.node)
        if rid is None:
            continue
        if rid in mandatory:
            why = _readable(diagnose_visit(run.problem, d.node))
            reasons[rid] = f"mandatory, not served by the {run.mode} squads: {why}"
        else:
            reasons[rid] = NO_CAPACITY


def _readable(reason: str) -> str:
    """Solver reasons use seconds after midnight; show them as HH:MM."""
    return _SECONDS_RE.sub(lambda m: hhmm(int(m.group(1))) if int(m.group(1)) < 86400 else m.group(1), reason)


def stops_of(run: SolverRun, cands: pd.DataFrame, group: list[Squad]) -> tuple[pd.DataFrame, list[dict]]:
    """Stops (with clock times) and per-squad summaries from one solver run.

    Parameters
    ----------
    run : SolverRun
        The solved problem of one mode.
    cands : DataFrame
        Visit candidates indexed by ``retailer_id``.
    group : list of Squad
        The mode's squads.

    Returns
    -------
    stops : DataFrame
        :data:`STOP_COLUMNS` plus ``arrival_s``, ``start_s``, ``departure_s`` (seconds after midnight).
    summaries : list of dict
        One row per squad (see :func:`idle_summary` for the columns), minutes.
    """
    dur = run.problem.duration_matrix
    rows: list[dict] = []
    summaries: list[dict] = []
    by_id = {s.squad_id: s for s in group}
    for route in run.result.routes:
        squad = by_id[run.vehicle_squad[route.vehicle]]
        if not route.is_used():
            summaries.append(idle_summary(squad))
            continue
        lunch = [b for b in route.breaks if b.name == "lunch"]
        lunch_start = lunch[0].start if lunch else None
        prev_node, prev_departure = route.start_depot, route.start_time
        travel_total = service_total = wait_total = 0
        for seq, st in enumerate(route.stops, start=1):
            c = cands.loc[run.node_retailer[st.node]]
            grid = c["grid_id"]
            travel = int(dur[prev_node, st.node])
            lunch_here = lunch_start is not None and prev_departure <= lunch_start < st.start
            gap = st.start - prev_departure - travel - (lunch[0].end - lunch[0].start if lunch_here else 0)
            rows.append(
                {
                    "squad_id": squad.squad_id,
                    "seq": seq,
                    "retailer_id": run.node_retailer[st.node],
                    "grid_id": grid,
                    "name": c["name"],
                    "address": c["address"],
                    "purpose": c["purpose"],
                    "mandatory": bool(c["mandatory"]),
                    "deadline": pd.Timestamp(c["deadline"]).date().isoformat() if pd.notna(c["deadline"]) else "",
                    "cross_grid_reason": _cross_grid_reason(grid, c["cover_reason"], squad),
                    "arrival": hhmm(st.arrival),
                    "start": hhmm(st.start),
                    "departure": hhmm(st.departure),
                    "travel_min": round(travel / 60, 1),
                    "wait_min": round(max(gap, 0) / 60, 1),
                    "service_min": round((st.departure - st.start) / 60, 1),
                    "lunch_before": bool(lunch_here),
                    "window_open": clock(c["window_open_min"]),
                    "window_close": clock(c["window_close_min"]),
                    "lon": float(c["lon"]),
                    "lat": float(c["lat"]),
                    "checklist_zh": c["checklist_zh"],
                    "checklist_en": c["checklist_en"],
                    "arrival_s": st.arrival,
                    "start_s": st.start,
                    "departure_s": st.departure,
                }
            )
            travel_total += travel
            service_total += st.departure - st.start
            wait_total += max(gap, 0)
            prev_node, prev_departure = st.node, st.departure
        travel_total += int(dur[prev_node, route.end_depot])
        summaries.append(
            {
                "squad_id": squad.squad_id,
                "grid_id": squad.grid_id,
                "members": "、".join(squad.member_names),
                "travel_mode": squad.travel_mode,
                "depot": squad.depot,
                "visits": len(route.stops),
                "leave": hhmm(route.start_time),
                "back": hhmm(route.end_time),
                "day_min": round(route.duration / 60, 1),
                "travel_min": round(travel_total / 60, 1),
                "service_min": round(service_total / 60, 1),
                "wait_min": round(wait_total / 60, 1),
                "lunch": f"{hhmm(lunch[0].start)}-{hhmm(lunch[0].end)}" if lunch else "",
                "lunch_min": round((lunch[0].end - lunch[0].start) / 60, 1) if lunch else 0.0,
            }
        )
    return pd.DataFrame(rows), summaries


def _cross_grid_reason(grid: float | None, orphan_reason: str, squad: Squad) -> str:
    """Why ``squad`` visits a retailer of ``grid`` ('' in its own grid or without grids).

    A grid without a squad today carries its reason from the candidates (``orphan_reason``);
    any other grid's squad is out today, so the visit can only be a mandatory one its own
    squad had no room for (the routing model allows nothing else).
    """
    if grid is None or pd.isna(grid) or int(grid) == squad.grid_id:
        return ""
    return orphan_reason or cover_reason(int(grid), "deadline")


def own_grid_shares(stops: pd.DataFrame, squads: list[Squad]) -> pd.DataFrame:
    """Stops in the squad's own grid, count and share, per squad (share empty without stops or grids).

    Parameters
    ----------
    stops : DataFrame
        The day's stops (``squad_id``, ``grid_id``).
    squads : list of Squad

    Returns
    -------
    DataFrame
        ``squad_id``, ``own_grid_stops``, ``own_grid_share`` (0-1, rounded to 3 places).
    """
    rows = []
    for s in squads:
        mine = stops.loc[stops["squad_id"] == s.squad_id, "grid_id"] if len(stops) else pd.Series(dtype=float)
        known = pd.to_numeric(mine, errors="coerce").dropna()
        own = int((known == s.grid_id).sum())
        share = round(own / len(mine), 3) if len(mine) and len(known) else float("nan")
        rows.append({"squad_id": s.squad_id, "own_grid_stops": own, "own_grid_share": share})
    return pd.DataFrame(rows, columns=["squad_id", "own_grid_stops", "own_grid_share"])


def idle_summary(squad: Squad) -> dict:
    """The summary row of a squad without any stop (its times empty, its minutes 0)."""
    return {
        "squad_id": squad.squad_id,
        "grid_id": squad.grid_id,
        "members": "、".join(squad.member_names),
        "travel_mode": squad.travel_mode,
        "depot": squad.depot,
        "visits": 0,
        "leave": "",
        "back": "",
        "day_min": 0.0,
        "travel_min": 0.0,
        "service_min": 0.0,
        "wait_min": 0.0,
        "lunch": "",
        "lunch_min": 0.0,
    }
