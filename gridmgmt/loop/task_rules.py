"""The task rules over plain rows: what opens, when it is due, what closes it (no pandas, no numpy).

Tasks are not stored state: they are derived from the append-only event log, so both
departments always see the same list. A task

- opens with an event whose type opens a task (:data:`gridmgmt.vocab.TASK_TYPES`: tip-offs,
  complaints, marketing reports) of a retailer;
- is due ``[deadlines_working_days]`` working days (Mon-Fri) after the day it opened;
- closes with the first ``inspection`` of that retailer after it opened (any outcome);
- is owned by the retailer's grid pair (customer manager and monopoly officer).

Only events before the ``as_of`` day count, and of those an event that another corrects is
replaced by its correction (as :func:`gridmgmt.inputs.events.effective_events` reads the log).
``tasks list`` uses these rules directly; :func:`gridmgmt.loop.tasks.task_table` builds its data
frame from :func:`derive_tasks`, so both give the same tasks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from gridmgmt.config import Settings
from gridmgmt.vocab import TASK_TYPES

TASK_WINDOW_DAYS = 365  # tasks opened longer ago than this are history, not work
CLOSING_TYPE = "inspection"
#: the types of event that open or close a task; others change the tasks only by correcting one
TASK_EVENT_TYPES = (*TASK_TYPES, CLOSING_TYPE)
#: the columns of a task, in order (then the owner's: grid_id, customer_manager, monopoly_officer)
TASK_COLUMNS = (
    "task_id",
    "retailer_id",
    "type",
    "opened",
    "deadline",
    "status",
    "closed_by",
    "closed_at",
    "response_working_days",
    "note",
)
OWNER_COLUMNS = ("grid_id", "customer_manager", "monopoly_officer")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Task:
    """One task: ``status`` is open, overdue, closed or closed_late; ``closed_*`` empty while open."""

    task_id: str
    retailer_id: str
    type: str
    opened: datetime
    deadline: date
    status: str
    closed_by: str
    closed_at: datetime | None
    response_working_days: int | None
    note: str


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


def add_working_days(day: date, days: int) -> date:
    """The day ``days`` working days (Mon-Fri) after ``day``; a weekend ``day`` counts from the Monday after."""
    while _weekend(day):
        day += _DAY
    step = _DAY if days >= 0 else -_DAY
    for _ in range(abs(days)):
        day += step
        while _weekend(day):
            day += step
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days (Mon-Fri) in ``[start, end)``; when ``end`` is before ``start``, minus those in ``(end, start]``."""
    if end < start:
        return -working_days_between(end + _DAY, start + _DAY)
    weeks, rest = divmod((end - start).days, 7)
    return weeks * 5 + sum(1 for k in range(rest) if (start.weekday() + k) % 7 < 5)


def deadline(opened: datetime | date, task_type: str, settings: Settings) -> date:
    """The day a task of ``task_type`` opened at ``opened`` is due."""
    day = opened.date() if isinstance(opened, datetime) else opened
    return add_working_days(day, int(getattr(settings.deadlines_working_days, task_type)))


def closed_status(closed_on: date, due: date) -> str:
    """A closed task's status: ``closed_late`` when closed after its deadline day, else ``closed``."""
    return "closed_late" if closed_on > due else "closed"


def midnight(day: date) -> datetime:
    """``day`` at 00:00, the start of the day."""
    return datetime.combine(day, time())


def effective(events: Iterable[Mapping], corrected: Iterable[str] = ()) -> list[Mapping]:
    """The events as the log now reads: those another event corrects are dropped.

    ``corrected`` adds the ids that events left out of ``events`` correct.
    """
    events = list(events)
    corrected = ({str(e.get("corrects") or "") for e in events} | set(corrected)) - {""}
    return [e for e in events if e["event_id"] not in corrected] if corrected else events


def derive_tasks(
    events: Iterable[Mapping], *, as_of: date, settings: Settings, corrected: Iterable[str] = ()
) -> list[Task]:
    """Every task known before ``as_of`` (00:00), oldest first, with its status on that day.

    ``events`` are rows of the shared log with ``event_id``, ``retailer_id``, ``type``, ``time``
    (a datetime), ``note`` and ``corrects``. Only those of :data:`TASK_EVENT_TYPES` open or close
    a task, so a caller may leave the others out and give, as ``corrected``, the ids they correct.
    A task still open past its deadline on ``as_of`` is ``overdue``; one closed after its
    deadline day is ``closed_late``.
    """
    start = midnight(as_of)
    known = effective((e for e in events if e["time"] < start), corrected)
    inspections: dict[str, tuple[list[datetime], list[Mapping]]] = {}
    for event in sorted((e for e in known if e["type"] == CLOSING_TYPE), key=lambda e: e["time"]):
        times, rows = inspections.setdefault(event["retailer_id"], ([], []))
        times.append(event["time"])
        rows.append(event)
    tasks = []
    for event in sorted((e for e in known if e["type"] in TASK_TYPES), key=lambda e: e["time"]):
        opened = event["time"]
        times, rows = inspections.get(event["retailer_id"], ([], []))
        k = bisect.bisect_right(times, opened)
        closing = rows[k] if k < len(rows) else None
        tasks.append(_task(event, closing, deadline(opened, event["type"], settings), as_of))
    return tasks


def _task(event: Mapping, closing: Mapping | None, due: date, as_of: date) -> Task:
    """The task ``event`` opened, due on ``due``, closed by the inspection ``closing`` (None: still open)."""
    opened = event["time"]
    if closing is None:
        status, closed_at, response = ("overdue" if due < as_of else "open"), None, None
    else:
        closed_at = closing["time"]
        status = closed_status(closed_at.date(), due)
        response = working_days_between(opened.date(), closed_at.date())
    return Task(
        task_id=event["event_id"],
        retailer_id=event["retailer_id"],
        type=event["type"],
        opened=opened,
        deadline=due,
        status=status,
        closed_by="" if closing is None else closing["event_id"],
        closed_at=closed_at,
        response_working_days=response,
        note=event["note"],
    )
