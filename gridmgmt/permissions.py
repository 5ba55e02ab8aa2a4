"""Who may do what: the one permission model of the API, the pages and the CLI.

Two parts. :data:`PERMISSIONS` says which roles may open which views and start which jobs.
The write rules say who may record which event type for which retailer and who may correct
which event; they are derived from :mod:`gridmgmt.vocab` (an event type's ``recorded_by`` and
``department``) and take the retailer's grid relation to the user: :data:`OWN` (the user is one
of today's pair of its grid), :data:`OTHER` (another grid) or :data:`NO_GRID` (in no grid).

- *record*: a role in the type's ``recorded_by``; a department's own work (inspection,
  violation, visit, marketing report) for the retailers of the user's own grids only, reports
  that either department files (tip-off, complaint) for any retailer.
- *correct*: the corrected event's department in its own grid (a customer manager corrects a
  visit of their grid, an officer an inspection or violation of theirs), or a squad leader or
  manager for any grid; never one department over the other's event. A correction belongs to
  the corrected event's department and retailer: the store refuses anything else on every path
  (:func:`gridmgmt.store.validate.correction_problem`).

The read rules (:data:`TASK_READ`) say which tasks each role may read, on the Tasks page and in
``/api/tasks`` alike: a pair their own grids' tasks, squad leaders, planners and managers every
task, a mediator complaints and what the public filed (:data:`MEDIATION_KINDS`), the reports a
mediation case may be opened from.

This module imports only :mod:`gridmgmt.vocab`: the store and small commands use it without pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridmgmt.vocab import DEPARTMENTS, EVENT_TYPES_BY_NAME, ROLE_DEPARTMENT, ROLES, TASK_TYPES

#: grid relations of a retailer to a user
OWN, OTHER, NO_GRID = "own grid", "other grid", "no grid"
RELATIONS: tuple[str, ...] = (OWN, OTHER, NO_GRID)
#: roles scoped to the grids of their pair (the staff roles)
GRID_SCOPED = frozenset(ROLE_DEPARTMENT)
#: roles that may correct any event of the district
SUPERVISORS = frozenset({"squad_leader", "manager"})
#: what an officer may also record at a stop: a visit whose result is no finding (``x_result``)
ATTEMPT_RESULTS: tuple[str, ...] = ("not_found", "closed")


@dataclass(frozen=True)
class TaskRead:
    """What a role may read of the tasks: only its own grids' or all, and which ``(task type, department)``
    kinds (the department of the event that opened the task)."""

    own_grids_only: bool
    kinds: frozenset[tuple[str, str]]


#: every kind of task: (task type, department of the event that opened it)
ALL_TASK_KINDS = frozenset((t, d) for t in TASK_TYPES for d in DEPARTMENTS)
#: what a mediator reads and opens cases from: complaints, and any report the public filed
MEDIATION_KINDS = frozenset((t, d) for t, d in ALL_TASK_KINDS if t == "complaint" or d == "public")
#: role -> what it may read of the tasks (roles not listed read none; ``admin`` reads every task)
TASK_READ: dict[str, TaskRead] = {
    **{role: TaskRead(True, ALL_TASK_KINDS) for role in sorted(GRID_SCOPED)},
    **{role: TaskRead(False, ALL_TASK_KINDS) for role in ("squad_leader", "planner", "manager", "admin")},
    "mediator": TaskRead(False, MEDIATION_KINDS),
}

#: permission -> roles that hold it (``admin`` holds every view; recording is for staff only)
PERMISSIONS: dict[str, frozenset[str]] = {
    "today:view": frozenset({"marketing", "monopoly", "squad_leader"}),
    "tasks:view": frozenset({"marketing", "monopoly", "squad_leader", "manager", "planner"}),
    "tasks:list": frozenset(r for r in TASK_READ if r != "admin"),
    "tasks:desk": frozenset({"squad_leader", "manager", "mediator"}),
    "retailers:search": frozenset({"marketing", "monopoly", "squad_leader", "manager", "planner", "mediator"}),
    **{f"record:{name}": t.recorded_by for name, t in EVENT_TYPES_BY_NAME.items()},
    "events:view_all": frozenset({"manager", "squad_leader", "planner"}),
    "plan:generate": frozenset({"squad_leader"}),
    "plan:view": frozenset({"squad_leader", "manager"}),
    "grids:view": frozenset({"planner", "manager", "squad_leader"}),
    "grids:publish": frozenset({"planner"}),
    "overview:view": frozenset({"manager"}),
    "assessment:view": frozenset({"manager"}),
    "mediation:view": frozenset({"manager", "mediator"}),
    "mediation:edit": frozenset({"mediator"}),
    "audit:view": frozenset({"admin"}),
    "users:view": frozenset({"admin"}),
}
#: where each role lands after logging in
HOME = {
    "marketing": "/today",
    "monopoly": "/today",
    "squad_leader": "/plan",
    "planner": "/grids",
    "manager": "/overview",
    "mediator": "/mediation",
    "admin": "/audit",
}


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permissions are refused; admin records nothing)."""
    if permission not in PERMISSIONS:
        return False
    return role in PERMISSIONS[permission] or (role == "admin" and not permission.startswith("record:"))


def task_read(role: str) -> TaskRead | None:
    """What ``role`` may read of the tasks (None: nothing)."""
    return TASK_READ.get(role)


def may_read_task(role: str, task_type: str, department: str, relation: str) -> bool:
    """Whether ``role`` may read a ``task_type`` task opened by a ``department`` event of a retailer in ``relation``."""
    rule = TASK_READ.get(role)
    if rule is None or (task_type, department) not in rule.kinds:
        return False
    return relation == OWN or not rule.own_grids_only


def case_refusal(role: str, task_type: str, department: str) -> str | None:
    """Why ``role`` may not open a mediation case from a ``task_type`` task opened by a ``department`` event;
    None when it may (the task must also be one the user may read: :func:`may_read_task`)."""
    if not allowed(role, "mediation:edit"):
        return f"a {role} user may not open mediation cases (a mediator opens them)"
    if (task_type, department) not in MEDIATION_KINDS:
        return f"a mediation case opens from a complaint or a public report, not a {department} {task_type}"
    return None


def department_of(role: str) -> str:
    """The department an event recorded by ``role`` belongs to (``public`` for roles without one)."""
    return ROLE_DEPARTMENT.get(role, "public")


def record_refusal(role: str, event_type: str, relation: str, *, attempt: bool = False) -> str | None:
    """Why ``role`` may not record an ``event_type`` event for a retailer in ``relation``; None when it may.

    ``attempt``: a visit recording a stop without a finding (:data:`ATTEMPT_RESULTS`), which an
    officer may record too.
    """
    kind = EVENT_TYPES_BY_NAME.get(event_type)
    if kind is None:
        return f"unknown event type {event_type!r}"
    staff_attempt = attempt and event_type == "visit" and role in GRID_SCOPED
    if role not in kind.recorded_by and not staff_attempt:
        who = " or ".join(ROLES[r][1] for r in sorted(kind.recorded_by))
        return f"a {role} user may not record {event_type} events (a {who} records them)"
    if kind.department is not None and relation != OWN:
        return f"the retailer is in {relation}: {event_type} events are recorded for your own grids' retailers only"
    return None


def correct_refusal(role: str, department: str, relation: str) -> str | None:
    """Why ``role`` may not correct a ``department`` event of a retailer in ``relation``; None when it may."""
    own_department = ROLE_DEPARTMENT.get(role) == department
    if role in SUPERVISORS or (own_department and relation == OWN):
        return None
    if own_department:
        where = f"the event's retailer is in {relation}"
    else:
        where = f"a {role} user may not correct a {department} event"
    return f"{where}: only its department in its own grid, a squad leader or a manager may correct it"


def write_table() -> str:
    """The write rules as a Markdown table (the README's): per action, the grids each role may write for."""
    staff_roles = [r for r in ROLES if r != "admin"]
    lines = ["| action | " + " | ".join(staff_roles) + " |", "|---" * (len(staff_roles) + 1) + "|"]
    for name in EVENT_TYPES_BY_NAME:
        cells = [_scope([r for r in RELATIONS if record_refusal(role, name, r) is None]) for role in staff_roles]
        lines.append(f"| record {name} | " + " | ".join(cells) + " |")
    for department in DEPARTMENTS:
        cells = [_scope([r for r in RELATIONS if correct_refusal(role, department, r) is None]) for role in staff_roles]
        lines.append(f"| correct a {department} event | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _scope(relations: list[str]) -> str:
    """How a table cell says where a role may write: any grid, own grid or nowhere."""
    if len(relations) == len(RELATIONS):
        return "any grid"
    return ", ".join(relations) or "-"
