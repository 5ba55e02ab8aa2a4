"""The district as the service sees it: the store's event log, today's owners, tasks, risk and plan, live.

Everything is read from the shared store, so what one user records the next request of any
other user sees. Reading stays cheap under many users: the event log is fetched incrementally
(rows with a higher sequence number than the last read, one read shared by concurrent
requests), the task table is updated with the new events only, and other derived tables
(risk) are recomputed only when the log grew.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from gridmgmt._errors import InputError, StoreError
from gridmgmt.ops.patrol import PLAN_KIND
from gridmgmt.ops.service_views import District, live_risk, task_table, update_tasks
from gridmgmt.permissions import (
    ALL_TASK_KINDS,
    ATTEMPT_RESULTS,
    NO_GRID,
    OTHER,
    OWN,
    correct_refusal,
    department_of,
    record_refusal,
    task_read,
)
from gridmgmt.service.accounts import User
from gridmgmt.store import EVENT_COLUMNS, SharedStore
from gridmgmt.store.eventlog import rows_after

OWNER_TTL_S = 5.0  # grids and pairs change rarely (a publish); re-read them at most this often


BATCHES_KEPT = 512  # recent reads of the log kept for updating the task table without a rebuild
GAP_WAIT_S = 60.0  # how long a skipped seq number is looked for again (a slow commit on PostgreSQL)
MAX_GAPS = 10_000  # more skipped numbers at once than this: a jump of the sequence, not transactions


@dataclasses.dataclass(frozen=True)
class _Batch:
    """Events read from the log in one refresh, which made the view's ``version``."""

    version: int
    events: pd.DataFrame
    latest_before: pd.Timestamp  # the newest event time read before this batch


@dataclasses.dataclass(frozen=True)
class _Tasks:
    """The task table as of the view's ``version`` on ``day`` for one owners table."""

    day: str
    owners: pd.DataFrame
    version: int
    table: pd.DataFrame


class Forbidden(Exception):
    """The user's role or grid does not allow this (the app answers 403 and audits it)."""


def grid_key(value: object) -> str:
    """A grid id as text without a trailing ``.0`` (``3``, ``3.0`` and ``"3"`` are the same grid)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


class LiveDistrict:
    """One district and its shared store, read live for the web service.

    Parameters
    ----------
    district
        The loaded district (settings, retailers, staff, depots, road network for plans).
    store
        The shared store holding the event log, grids, pairs and runs.
    today
        Fix the service's day (``YYYY-MM-DD``; demos and tests); default the real date. Events
        recorded through the service get this day and the current clock time.
    """

    def __init__(self, district: District, store: SharedStore, *, today: str | None = None) -> None:
        self.district = district
        self.store = store
        self.fixed_today = today
        self._lock = threading.RLock()
        self._events = pd.DataFrame(columns=[*EVENT_COLUMNS])
        self._last_seq = 0  # the highest seq read
        self._version = 0  # +1 for every refresh that read events
        self._gaps: dict[int, float] = {}  # seq numbers skipped by a read -> when first missed (monotonic s)
        self._fetch_lock = threading.Lock()
        self._fetched_at = -math.inf  # when the last completed read of the log began (monotonic s)
        self._latest = pd.Timestamp.min  # the newest event time read so far
        self._unmerged: list[pd.DataFrame] = []  # batches read but not yet in self._events
        self._corrected_by: dict[str, str] = {}  # event_id -> the newest event correcting it
        self._batches: deque[_Batch] = deque(maxlen=BATCHES_KEPT)
        self._tasks: _Tasks | None = None
        self._tasks_of: dict[tuple, pd.DataFrame] = {}
        self._grid_of: dict[str, str] = {}
        self._grids_of: dict[Any, Any] = {}  # (id of pairs, staff id) -> grids
        self._routes: dict[tuple, Any] = {}  # (run id, squads) -> their stops; ("line", ...) -> their street line
        self._runs_read: dict[str, Any] = {}  # run id -> the stored run (runs never change)
        self._latest_run: dict[tuple, tuple] = {}  # (kind, day) -> (runs table, newest run of the day)
        self._derived: dict[str, tuple[Any, Any]] = {}
        self._owners: tuple[float, str, pd.DataFrame] | None = None
        self._pairs: tuple[float, str, pd.DataFrame] | None = None
        self._runs: dict[str, tuple[float, pd.DataFrame]] = {}
        self._retailers: pd.DataFrame | None = None
        self._staff_names: dict[str, str] | None = None

    # ------------------------------------------------------------------ clock

    def today(self) -> str:
        """The service's day, ``YYYY-MM-DD``."""
        return self.fixed_today or date.today().isoformat()

    def now(self) -> datetime:
        """Now on the service's day (the real clock time, to the microsecond: a task opened and closed
        within one second still has its events in order)."""
        clock = datetime.now()
        if self.fixed_today is None:
            return clock
        return datetime.combine(date.fromisoformat(self.fixed_today), clock.time())

    # ------------------------------------------------------------------ event log

    def refresh(self) -> int:
        """Read the events appended since the last read (any process may have added them); the view's version.

        Concurrent callers share one read: a caller that waited while another read ran returns
        at once if that read began after it asked. On PostgreSQL a transaction can commit after
        one with a higher ``seq``; the seq numbers a read skipped are asked for again by every
        later read for :data:`GAP_WAIT_S` seconds (after that the insert was rolled back).
        """
        asked = time.monotonic()
        with self._fetch_lock:
            if self._fetched_at >= asked:
                return self._version
            began = time.monotonic()
            rows = rows_after(self.store.engine, self.store.label, self._last_seq, list(self._gaps))
            self._fetched_at = began
            for missed in [k for k, since in self._gaps.items() if began - since > GAP_WAIT_S]:
                del self._gaps[missed]
            if rows:
                self._add_rows(rows, began)
            return self._version

    def _add_rows(self, rows: Sequence[Any], now: float) -> None:
        """Turn rows read from the log into a batch of the view (called with the fetch lock held)."""
        new = pd.DataFrame(rows, columns=["seq", *EVENT_COLUMNS, "extra"])
        new["time"] = pd.to_datetime(new["time"], format="ISO8601")
        new["corrects"] = new["corrects"].fillna("")
        extras = new.pop("extra")
        if extras.notna().any():
            parsed = pd.DataFrame([json.loads(x) if x else {} for x in extras], index=new.index)
            new = new.join(parsed.fillna(""))
        seqs = set(new.pop("seq").astype(int))
        top = max(seqs)
        for found in seqs & self._gaps.keys():
            del self._gaps[found]
        if top > self._last_seq and top - self._last_seq - len(seqs) < MAX_GAPS:
            for skipped in set(range(self._last_seq + 1, top)) - seqs:
                self._gaps[skipped] = now
        with self._lock:
            self._version += 1
            self._batches.append(_Batch(self._version, new, self._latest))
            self._unmerged.append(new)
            self._last_seq = max(self._last_seq, top)
            self._latest = max(self._latest, new["time"].max())

    def events(self) -> pd.DataFrame:
        """The whole event log (as :meth:`SharedStore.events_between` gives it), oldest first, kept current."""
        self.refresh()
        with self._lock:
            return self._merged_events()

    def _merged_events(self) -> pd.DataFrame:
        """The log as read so far, with the batches not yet merged (called with the lock held).

        ``corrected_by`` names the newest event correcting each event ('' when none).
        """
        if self._unmerged:
            for batch in self._unmerged:
                fixes = batch.loc[batch["corrects"] != ""]
                self._corrected_by.update(zip(fixes["corrects"], fixes["event_id"], strict=True))
            frames = [f for f in (self._events, *self._unmerged) if len(f)]
            merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
            if not merged["time"].is_monotonic_increasing:
                merged = merged.sort_values("time", kind="stable").reset_index(drop=True)
            merged["corrected_by"] = merged["event_id"].map(self._corrected_by).fillna("") if self._corrected_by else ""
            self._events = merged
            self._unmerged = []
        return self._events

    def derived(self, name: str, build: Callable[[pd.DataFrame], Any], *, key: Any = None) -> Any:
        """A table derived from the log, rebuilt only when the log (or ``key``) changed."""
        events = self.events()
        stamp = (self._version, len(events), self.today(), key)
        cached = self._derived.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        value = build(events)
        with self._lock:
            self._derived[name] = (stamp, value)
        return value

    # ------------------------------------------------------------------ who owns what

    def owners(self) -> pd.DataFrame:
        """Today's owners: ``retailer_id``, ``grid_id`` (text), ``customer_manager``, ``monopoly_officer`` (staff)."""
        today = self.today()
        cached = self._owners
        if cached is not None and cached[1] == today and time.monotonic() - cached[0] < OWNER_TTL_S:
            return cached[2]
        assignment = self.store.assignment_on(today)
        pairs = self.store.pairs_on(today)
        assignment["grid_id"] = assignment["grid_id"].map(grid_key)
        pairs["grid_id"] = pairs["grid_id"].map(grid_key)
        table = assignment.merge(pairs, on="grid_id", how="left").fillna(
            {"customer_manager": "", "monopoly_officer": ""}
        )
        if cached is not None and cached[1] == today and cached[2].equals(table):
            table = cached[2]  # unchanged: keep the object, so tables derived from it stay valid
        else:
            self._grid_of = dict(zip(table["retailer_id"], table["grid_id"], strict=True))
        self._owners = (time.monotonic(), today, table)
        return table

    def pairs(self) -> pd.DataFrame:
        """Today's pairs (``grid_id``, ``customer_manager``, ``monopoly_officer``), re-read every few seconds."""
        today = self.today()
        cached = self._pairs
        if cached is not None and cached[1] == today and time.monotonic() - cached[0] < OWNER_TTL_S:
            return cached[2]
        table = self.store.pairs_on(today)
        if cached is not None and cached[1] == today and cached[2].equals(table):
            table = cached[2]  # unchanged: keep the object (look-ups keyed on it stay valid)
        self._pairs = (time.monotonic(), today, table)
        return table

    def plan_runs(self, kind: str) -> pd.DataFrame:
        """Stored runs of ``kind``, newest first, re-read at most every few seconds (published plans are rare)."""
        cached = self._runs.get(kind)
        if cached is not None and time.monotonic() - cached[0] < OWNER_TTL_S:
            return cached[1]
        table = self.store.list_runs(kind=kind)
        self._runs[kind] = (time.monotonic(), table)
        return table

    def invalidate_owners(self) -> None:
        """Forget the cached owners, pairs and runs (after publishing grids or a plan)."""
        self._owners = None
        self._pairs = None
        self._runs = {}

    def grids_of(self, user: User) -> set[str]:
        """Grids where the user is one of today's pair (empty for roles without a grid)."""
        if not user.staff_id:
            return set()
        pairs = self.pairs()
        key = (id(pairs), user.staff_id)
        grids = self._grids_of.get(key)
        if grids is None:
            if len(self._grids_of) > 10_000 or self._grids_of.get("pairs") is not pairs:
                self._grids_of = {"pairs": pairs}  # keeps ``pairs`` alive, so its id stays its own
            mine = (pairs["customer_manager"] == user.staff_id) | (pairs["monopoly_officer"] == user.staff_id)
            grids = self._grids_of[key] = frozenset(grid_key(g) for g in pairs.loc[mine, "grid_id"])
        return set(grids)

    def relation(self, user: User, retailer_id: str) -> str:
        """The retailer's grid relation to the user today: own grid, other grid or no grid."""
        grid = self.grid_of_retailer(retailer_id)
        if not grid:
            return NO_GRID
        return OWN if grid in self.grids_of(user) else OTHER

    def event(self, event_id: str) -> dict[str, Any] | None:
        """One event of the log as a dict, or None."""
        frame = self.events()
        found = frame.loc[frame["event_id"] == event_id]
        return None if found.empty else found.iloc[-1].to_dict()

    def grid_of_retailer(self, retailer_id: str) -> str:
        """Today's grid of a retailer ('' when unassigned)."""
        self.owners()
        return str(self._grid_of.get(retailer_id, ""))

    def staff_names(self) -> dict[str, str]:
        """staff_id -> name."""
        if self._staff_names is None:
            staff = self.district.staff
            self._staff_names = dict(zip(staff["staff_id"].astype(str), staff["name"].astype(str), strict=True))
        return self._staff_names

    # ------------------------------------------------------------------ retailers

    def retailers(self) -> pd.DataFrame:
        """The stored retailers: ``retailer_id``, ``name``, ``address``, ``lon``, ``lat`` (read once)."""
        if self._retailers is None:
            frame = pd.DataFrame(self.store.retailers()).drop(columns="geometry", errors="ignore")
            keep = [c for c in ("retailer_id", "name", "address", "lon", "lat") if c in frame.columns]
            self._retailers = frame[keep].fillna("").astype({"retailer_id": str})
        return self._retailers

    def search_retailers(self, query: str, *, limit: int = 20) -> pd.DataFrame:
        """Retailers whose licence number, name or address contains ``query`` (case-insensitive)."""
        frame = self.retailers()
        text = query.strip().lower()
        if not text:
            return frame.head(0)
        hit = pd.Series(False, index=frame.index)
        for column in ("retailer_id", "name", "address"):
            if column in frame.columns:
                hit |= frame[column].astype(str).str.lower().str.contains(text, regex=False)
        return frame.loc[hit].head(limit)

    def nearest_retailer(self, lon: float, lat: float, *, max_m: float = 300.0) -> str | None:
        """The retailer nearest to a map point within ``max_m`` metres, else None."""
        frame = self.retailers()
        if frame.empty:
            return None
        dx = (frame["lon"].astype(float) - lon) * 111_320.0 * math.cos(math.radians(lat))
        dy = (frame["lat"].astype(float) - lat) * 110_540.0
        dist = (dx**2 + dy**2) ** 0.5
        best = dist.idxmin()
        return str(frame.at[best, "retailer_id"]) if dist.at[best] <= max_m else None

    # ------------------------------------------------------------------ tasks and risk

    def tasks(self) -> pd.DataFrame:
        """Every task as of now (today's events count), with today's owners; overdue only past the deadline day.

        Kept current incrementally after each event (:func:`update_tasks`); rebuilt from the whole
        log on a new day, new owners, a correction or a back-dated event.
        """
        owners = self.owners()
        version = self.refresh()
        day = self.today()
        state = self._tasks
        if state is not None and state.day == day and state.owners is owners and state.version == version:
            return state.table  # the usual case under load: nothing new for this process since the last read
        with self._lock:
            version = self._version
            state = self._tasks
            if state is not None and state.day == day and state.owners is owners and state.version == version:
                return state.table
            today = pd.Timestamp(day)
            as_of = today + pd.Timedelta(days=1)
            table = None
            if state is not None and state.day == day and state.owners is owners:
                batches = [b for b in self._batches if b.version > state.version]
                if batches and batches[0].version == state.version + 1:
                    new = pd.concat([b.events for b in batches], ignore_index=True)
                    table = update_tasks(
                        state.table,
                        new,
                        latest=batches[0].latest_before,
                        as_of=as_of,
                        settings=self.district.settings,
                        owners=owners,
                    )
            if table is None:
                events = self._merged_events()
                table = task_table(events, as_of=as_of, settings=self.district.settings, owners=owners)
            if state is None or table is not state.table:
                due_today = (table["status"] == "overdue") & (table["deadline"] >= today)
                table.loc[due_today, "status"] = "open"
                self._tasks_of = {}
            self._tasks = _Tasks(day, owners, version, table)
            return table

    def tasks_for(self, user: User, *, open_only: bool = True) -> pd.DataFrame:
        """The tasks a user may read (:data:`gridmgmt.permissions.TASK_READ`): their grids' (customer manager,
        officer), complaints and the public's reports (mediator), all (squad leaders, planners, managers)."""
        tasks = self.tasks()
        rule = task_read(user.role)
        if rule is None:
            return tasks.head(0)
        scope = frozenset(self.grids_of(user)) if rule.own_grids_only else None
        key = (id(tasks), scope, open_only, rule.kinds)
        cached = self._tasks_of.get(key)
        if cached is not None:
            return cached
        if open_only:
            tasks = tasks.loc[tasks["status"].isin(("open", "overdue"))]
        if scope is not None:
            tasks = tasks.loc[tasks["grid_id"].isin(scope)]
        if rule.kinds != ALL_TASK_KINDS:
            events = self.events()
            opened = events.loc[events["event_id"].isin(tasks["task_id"])]
            department = tasks["task_id"].map(dict(zip(opened["event_id"], opened["department"], strict=True)))
            kinds = pd.Series(list(zip(tasks["type"], department, strict=True)), index=tasks.index, dtype=object)
            tasks = tasks.loc[kinds.isin(rule.kinds)]
        self._tasks_of[key] = tasks
        return tasks

    def risk(self) -> pd.DataFrame:
        """Risk scores as of now (today's events count), recomputed when the log grew."""

        def build(events: pd.DataFrame) -> pd.DataFrame:
            tomorrow = (pd.Timestamp(self.today()) + pd.Timedelta(days=1)).date().isoformat()
            return live_risk(self.district, events, tomorrow)

        return self.derived("risk", build)

    def live_district(self) -> District:
        """The district with the store's event log (for plans, overview and reports)."""
        return dataclasses.replace(self.district, events=self.events())

    # ------------------------------------------------------------------ recording

    def record(self, user: User, fields: dict[str, Any], *, source: str = "web") -> list[dict[str, Any]]:
        """Record one event for ``user`` (a new id; see :meth:`record_once`); return the stored events."""
        return self.record_once(user, {**fields, "event_id": ""}, source=source)[0]

    def record_once(
        self, user: User, fields: dict[str, Any], *, source: str = "web"
    ) -> tuple[list[dict[str, Any]], bool]:
        """Record one event for ``user`` after checking :mod:`gridmgmt.permissions`; return the stored events
        and whether they were stored now.

        An ``event_id`` made by the sender (a phone's queue) is stored once: sent again with the same
        content, the stored events are returned (see :func:`gridmgmt.store.eventlog.append_once`).
        A correction (``corrects``) is checked against the corrected event (its department and
        today's grid of its retailer) and belongs to that event's department. An inspection with
        outcome ``violation`` also records the violation (kind, severity).

        Raises
        ------
        Forbidden
            The rules refuse it (role, event type, grid; who may correct the corrected event).
        InputError
            The event is invalid (unknown retailer, type, correction target, ...); ``EventIdConflict``
            (an InputError) when its id is stored with other content.
        """
        kind = str(fields.get("type", ""))
        target_id = str(fields.get("corrects", "") or "")
        if target_id:
            target = self.event(target_id)
            if target is None:
                raise InputError(f"no event {target_id} to correct", file="form")
            department = str(target["department"])
            relation = self.relation(user, str(target["retailer_id"]))
            refusal = correct_refusal(user.role, department, relation)
        else:
            department = department_of(user.role)
            attempt = fields.get("x_result") in ATTEMPT_RESULTS  # a stop without a finding
            refusal = record_refusal(
                user.role, kind, self.relation(user, str(fields.get("retailer_id", ""))), attempt=attempt
            )
        if refusal is not None:
            raise Forbidden(refusal)
        if kind == "inspection" and fields.get("outcome") not in ("ok", "violation"):
            raise InputError("an inspection's outcome is ok or violation", file="form")
        finding = kind == "violation" or fields.get("outcome") == "violation"
        if finding and fields.get("severity") not in ("minor", "serious", "criminal"):
            raise InputError("a violation needs a severity: minor, serious or criminal", file="form")
        row: dict[str, Any] = {c: str(fields.get(c, "") or "") for c in EVENT_COLUMNS if c != "time"}
        row["time"] = self.now()
        row["department"] = department
        row.update({k: v for k, v in fields.items() if k.startswith("x_") and v not in (None, "")})
        records = [row]
        if kind == "inspection" and row["outcome"] == "violation":
            # the finding is recorded twice, as the log's contract says (see gridmgmt.ops.events.implied_violations)
            violation = {
                **row,
                "type": "violation",
                "outcome": "",
                "severity": row["severity"] or "serious",
                "corrects": "",
                "event_id": f"{row['event_id']}.v" if row["event_id"] else "",  # the sender's id, derived
            }
            records = [{**row, "severity": "", "violation_kind": ""}, violation]
        added, stored_now = self.store.add_records_once(records, source=source, recorded_by=user.username)
        return [{**event, "time": event["time"].strftime("%Y-%m-%dT%H:%M:%S")} for event in added], stored_now

    # ------------------------------------------------------------------ day plans

    def latest_plan(self, *, kind: str = PLAN_KIND, day: str | None = None) -> Any | None:
        """The newest stored plan run of ``kind`` for ``day`` (default today), or None."""
        day = day or self.today()
        runs = self.plan_runs(kind)
        memo = self._latest_run.get((kind, day))
        if memo is not None and memo[0] is runs:
            return memo[1]
        found = None
        for run in runs.itertuples():
            if (run.parameters or {}).get("date") == day:
                found = self._runs_read.get(run.run_id)
                if found is None:
                    try:
                        found = self._runs_read[run.run_id] = self.store.read_run(run.run_id)
                    except StoreError:
                        return None
                break
        self._latest_run[(kind, day)] = (runs, found)  # until the runs are re-read (a few seconds)
        return found

    def squads_of(self, user: User) -> frozenset[str]:
        """The squads (``G01``, ...) of the user's grids: a squad is named after the grid it works."""
        return frozenset(f"G{int(g):02d}" for g in self.grids_of(user) if g.isdigit())

    def route_line_for(self, user: User) -> list[list[float]]:
        """Today's published route of the user's squads along the streets, as ``[lat, lon]`` points ([] if none).

        The plan's ``routes`` layer (depot -> stops -> depot along the road network); squads in
        stop order, so a pair with two grids gets one line per squad joined end to start.
        """
        run = self.latest_plan()
        if run is None or "routes" not in run.layers:
            return []
        squads = self.squads_of(user)
        key = ("line", run.run_id, squads)
        cached = self._routes.get(key)
        if cached is None:
            routes = run.layers["routes"]
            mine = routes.loc[routes["squad_id"].astype(str).isin(squads)].sort_values("squad_id")
            points: list[list[float]] = []
            for geometry in mine.geometry:
                parts = getattr(geometry, "geoms", [geometry])
                points += [[round(y, 6), round(x, 6)] for part in parts for x, y in part.coords]
            cached = self._routes[key] = points
        return cached

    def route_for(self, user: User) -> pd.DataFrame | None:
        """Today's published stops of the user's pair (None: no plan published for today)."""
        run = self.latest_plan()
        if run is None:
            return None
        squads = self.squads_of(user)
        key = (run.run_id, squads)
        cached = self._routes.get(key)
        if cached is None:
            stops = pd.DataFrame(run.layers.get("stops", pd.DataFrame())).drop(columns="geometry", errors="ignore")
            if not stops.empty:
                mine = stops["squad_id"].astype(str).isin(squads)
                stops = stops.loc[mine].sort_values(["squad_id", "seq"]).reset_index(drop=True)
            cached = self._routes[key] = stops
        return cached
