"""What each role may do: one table of permissions, checked on every request.

Scope comes on top: a customer manager or an officer acts only on the retailers of the grids
where they are one of the pair today (see :mod:`gridmgmt.service.live`).
"""

from __future__ import annotations

#: permission -> roles that hold it (``admin`` holds all)
PERMISSIONS: dict[str, frozenset[str]] = {
    "today:view": frozenset({"marketing", "monopoly"}),
    "tasks:view": frozenset({"marketing", "monopoly", "squad_leader", "manager", "planner"}),
    "tasks:view_all": frozenset({"squad_leader", "manager", "planner"}),
    "retailers:search": frozenset({"marketing", "monopoly", "squad_leader", "manager", "planner", "mediator"}),
    "record:visit": frozenset({"marketing"}),
    "record:marketing_report": frozenset({"marketing"}),
    "record:inspection": frozenset({"monopoly"}),
    "record:violation": frozenset({"monopoly"}),
    "record:tip_off": frozenset({"marketing", "monopoly"}),
    "record:complaint": frozenset({"marketing", "monopoly"}),
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
#: the department an event recorded by a role belongs to
DEPARTMENT = {"marketing": "marketing", "monopoly": "monopoly"}
#: roles scoped to the grids of their pair
GRID_SCOPED = frozenset({"marketing", "monopoly"})
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
    """Whether ``role`` holds ``permission`` (unknown permissions are refused)."""
    if permission not in PERMISSIONS:
        return False
    return role == "admin" or role in PERMISSIONS[permission]
