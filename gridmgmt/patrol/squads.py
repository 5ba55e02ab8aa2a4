"""Joint patrol squads from the staff table: who goes out together, how, from where and when.

A squad is the marketing customer manager and the monopoly officer of the same grid: a
joint visit needs both. Rules (documented choices):

- **travel mode**: the slower of the two members' modes (``walk`` < ``ebike`` < ``car``), since
  they travel together;
- **depot**: the monopoly officer's depot (the law-enforcement side leads the visit); the
  marketing member's depot when the officer has none;
- **shift**: the intersection of the two members' shifts (each defaults to the district.toml
  shift); an empty intersection is an input error;
- **lunch**: from district.toml ``[shift]``: a break of ``lunch_min`` minutes lying entirely
  within ``lunch_earliest`` .. ``lunch_latest`` (so it starts by ``lunch_latest - lunch_min``).

A grid with only one member present (the other absent, or never staffed) has **no squad**
that day: one person cannot make a joint visit. Its retailers are then served by the other
squads (the planner's own-grid preference simply has no owner for them) and the plan's
``notes`` say so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.config import TRAVEL_MODES, Settings, minutes_of_day

log = logging.getLogger(__name__)

#: Travel modes from slowest to fastest (the slower member sets the squad's pace).
MODE_ORDER = ("walk", "ebike", "car")


@dataclass(frozen=True)
class Squad:
    """One joint squad.

    Attributes
    ----------
    squad_id : str
        ``"G<grid>"``, e.g. ``"G03"``.
    grid_id : int
        The grid the pair is responsible for.
    members : tuple of str
        ``(marketing staff_id, monopoly staff_id)``.
    member_names : tuple of str
        Their names, same order.
    depot : str
        Depot id the squad starts and ends at.
    travel_mode : str
        ``walk``, ``ebike`` or ``car``.
    shift_start_min, shift_end_min : int
        Shift, minutes after midnight.
    lunch_earliest_min, lunch_latest_min : int
        The lunch break lies within this window, minutes after midnight.
    lunch_min : int
        Length of the lunch break, minutes.
    """

    squad_id: str
    grid_id: int
    members: tuple[str, str]
    member_names: tuple[str, str]
    depot: str
    travel_mode: str
    shift_start_min: int
    shift_end_min: int
    lunch_earliest_min: int
    lunch_latest_min: int
    lunch_min: int

    @property
    def lunch_latest_start_min(self) -> int:
        """Latest start of the lunch break, minutes after midnight."""
        return max(self.lunch_earliest_min, self.lunch_latest_min - self.lunch_min)


@dataclass(frozen=True)
class SquadRoster:
    """Squads available on a day and the grids left without one, with why."""

    squads: tuple[Squad, ...]
    uncovered: tuple[tuple[int, str], ...] = ()  # (grid_id, reason)

    def frame(self) -> pd.DataFrame:
        """The squads as a table (one row each)."""
        rows = [
            {
                "squad_id": s.squad_id,
                "grid_id": s.grid_id,
                "members": "+".join(s.members),
                "member_names": "、".join(s.member_names),
                "depot": s.depot,
                "travel_mode": s.travel_mode,
                "shift_start_min": s.shift_start_min,
                "shift_end_min": s.shift_end_min,
                "lunch_min": s.lunch_min,
            }
            for s in self.squads
        ]
        return pd.DataFrame(rows)


def slower_mode(a: str, b: str) -> str:
    """The slower of two travel modes (``walk`` < ``ebike`` < ``car``)."""
    for mode in (a, b):
        if mode not in TRAVEL_MODES:
            raise ValueError(f"unknown travel mode {mode!r}; use one of {', '.join(TRAVEL_MODES)}")
    return min(a, b, key=MODE_ORDER.index)


def build_squads(
    staff: pd.DataFrame,
    settings: Settings,
    *,
    squads: Iterable[str | int] | None = None,
    absent: Iterable[str] = (),
    file: str = "staff",
) -> SquadRoster:
    """Pair the staff into joint squads, one per grid with both departments present.

    Parameters
    ----------
    staff : DataFrame
        ``staff_id``, ``name``, ``department``, ``grid_id``, ``depot``, ``travel_mode``, optional
        ``shift_start``/``shift_end`` (HH:MM or empty).
    settings : Settings
        Default shift and the lunch break.
    squads : iterable of str or int, optional
        Plan only these squads (squad ids like ``"G03"`` or grid ids like ``3``).
    absent : iterable of str
        Staff ids (or whole squad ids) absent today. A squad with a member absent is dropped.
    file : str
        Name of the staff file for error messages.

    Returns
    -------
    SquadRoster
        Squads in grid order and the grids left without a squad, with the reason.

    Raises
    ------
    InputError
        When a pair's shifts do not overlap, or an id in ``squads``/``absent`` is unknown.
    """
    staff = staff.copy()
    staff["staff_id"] = staff["staff_id"].astype(str)
    staff["_row"] = range(2, len(staff) + 2)
    absent_set = {str(a) for a in absent}
    problems: list[Problem] = []
    known_staff = set(staff["staff_id"])
    grids = sorted(int(g) for g in staff["grid_id"].dropna().unique())
    squad_ids = {f"G{g:02d}": g for g in grids}
    for a in sorted(absent_set - known_staff - set(squad_ids)):
        problems.append(
            Problem(
                file, "unknown staff or squad id in the absent list", field="staff_id", value=a, hint="use a staff_id"
            )
        )
    wanted: set[int] | None = None
    if squads is not None:
        wanted = set()
        for s in squads:
            key = str(s)
            g = squad_ids.get(key) if key in squad_ids else (int(key) if key.isdigit() else None)
            if g is None or g not in grids:
                problems.append(
                    Problem(
                        file, "unknown squad", field="grid_id", value=key, hint=f"use one of {', '.join(squad_ids)}"
                    )
                )
            else:
                wanted.add(g)
    default_start, default_end = settings.shift.start, settings.shift.end
    lunch_earliest = minutes_of_day(settings.shift.lunch_earliest)
    lunch_latest = minutes_of_day(settings.shift.lunch_latest)
    out: list[Squad] = []
    uncovered: list[tuple[int, str]] = []
    for g in grids:
        if wanted is not None and g not in wanted:
            continue
        sid = f"G{g:02d}"
        members = staff.loc[staff["grid_id"] == g]
        pair = {}
        for dept in ("marketing", "monopoly"):
            rows = members.loc[members["department"] == dept]
            if len(rows) > 1:
                log.warning("grid %s has %d %s members; using %s", g, len(rows), dept, rows["staff_id"].iloc[0])
            pair[dept] = rows.iloc[0] if len(rows) else None
        mk, mo = pair["marketing"], pair["monopoly"]
        if mk is None or mo is None:
            missing = [d for d, r in pair.items() if r is None]
            uncovered.append((g, f"no {' or '.join(missing)} member in the staff table"))
            continue
        away = [r["staff_id"] for r in (mk, mo) if r["staff_id"] in absent_set]
        if sid in absent_set or away:
            who = ", ".join(away) if away else "whole squad"
            uncovered.append((g, f"absent: {who}; one member alone cannot make a joint visit"))
            continue
        starts = [minutes_of_day(_or(r.get("shift_start"), default_start)) for r in (mk, mo)]
        ends = [minutes_of_day(_or(r.get("shift_end"), default_end)) for r in (mk, mo)]
        start, end = max(starts), min(ends)
        if start >= end:
            problems.append(
                Problem(
                    file,
                    f"the shifts of {mk['staff_id']} and {mo['staff_id']} (grid {g}) do not overlap",
                    row=int(mo["_row"]),
                    field="shift_start",
                    value=f"{_or(mk.get('shift_start'), default_start)}-{_or(mk.get('shift_end'), default_end)} / "
                    f"{_or(mo.get('shift_start'), default_start)}-{_or(mo.get('shift_end'), default_end)}",
                    hint="give the pair overlapping shifts",
                )
            )
            continue
        depot = _or(mo.get("depot"), _or(mk.get("depot"), ""))
        if mk.get("depot") and mo.get("depot") and mk["depot"] != mo["depot"]:
            log.info("grid %s: members start from different depots; the squad uses the officer's %s", g, depot)
        out.append(
            Squad(
                squad_id=sid,
                grid_id=g,
                members=(str(mk["staff_id"]), str(mo["staff_id"])),
                member_names=(str(mk["name"]), str(mo["name"])),
                depot=str(depot),
                travel_mode=slower_mode(str(mk["travel_mode"]), str(mo["travel_mode"])),
                shift_start_min=start,
                shift_end_min=end,
                lunch_earliest_min=lunch_earliest,
                lunch_latest_min=lunch_latest,
                lunch_min=int(settings.shift.lunch_min),
            )
        )
    if problems:
        raise InputError(problems)
    return SquadRoster(tuple(out), tuple(uncovered))


def _or(value: object, default: str) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or str(value).strip() == "":
        return default
    return str(value)
