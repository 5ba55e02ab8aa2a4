"""The words of the shared record, each defined once: event types, departments, outcomes,
severities, violation kinds, roles and label languages.

Every list elsewhere (the store's checks, the event table's aliases, the service's types, the
CLI's choices, the permission table, the labels of maps, pages and sheets) derives from here, so
adding an event type is one entry in :data:`EVENT_TYPES` plus its rules (see the README's
"Adding an event type"). This module imports nothing but the standard library: small commands
load it without pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

#: label languages of maps, pages and sheets (``[district] lang``)
LANGS: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class EventType:
    """One kind of event in the log.

    ``department`` is the department whose work it records (``None``: either); ``recorded_by`` the
    staff roles that may record it; ``opens_task`` whether it opens a joint-visit task (closed by
    the next inspection); ``aliases`` other spellings accepted on input (Chinese labels included).
    """

    name: str
    zh: str
    en: str
    department: str | None
    recorded_by: frozenset[str]
    opens_task: bool = False
    aliases: tuple[str, ...] = ()


#: every event type, in the order lists show them
EVENT_TYPES_BY_NAME: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("inspection", "检查", "inspection", "monopoly", frozenset({"monopoly"}), aliases=("检查",)),
        EventType("violation", "违法", "violation", "monopoly", frozenset({"monopoly"}), aliases=("违法", "违规")),
        EventType(
            "complaint", "投诉", "complaint", None, frozenset({"marketing", "monopoly"}), True, aliases=("投诉",)
        ),
        EventType(
            "tip_off",
            "举报",
            "tip-off",
            None,
            frozenset({"marketing", "monopoly"}),
            True,
            aliases=("举报", "tip-off", "tipoff"),
        ),
        EventType(
            "marketing_report",
            "营销报告",
            "marketing report",
            "marketing",
            frozenset({"marketing"}),
            True,
            aliases=("营销报告",),
        ),
        EventType("visit", "走访", "visit", "marketing", frozenset({"marketing"}), aliases=("走访", "拜访")),
    )
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_TYPES_BY_NAME)
#: event types that open a joint-visit task
TASK_TYPES: tuple[str, ...] = tuple(t.name for t in EVENT_TYPES_BY_NAME.values() if t.opens_task)
#: other spellings of event types -> the type
EVENT_TYPE_ALIASES: dict[str, str] = {a: t.name for t in EVENT_TYPES_BY_NAME.values() for a in t.aliases}

#: departments that record events (``public``: the public channel)
DEPARTMENTS: tuple[str, ...] = ("monopoly", "marketing", "public")
#: departments staff belong to
STAFF_DEPARTMENTS: tuple[str, ...] = ("marketing", "monopoly")
DEPARTMENT_LABELS: dict[str, tuple[str, str]] = {
    "monopoly": ("专卖", "monopoly"),
    "marketing": ("营销", "marketing"),
    "public": ("公众", "public"),
}
#: Chinese labels of departments accepted on input -> the department
DEPARTMENT_ALIASES: dict[str, str] = {zh: name for name, (zh, _) in DEPARTMENT_LABELS.items()}

#: outcomes of an inspection
OUTCOMES: tuple[str, ...] = ("ok", "violation")
#: severities of a violation, mildest first
SEVERITIES: tuple[str, ...] = ("minor", "serious", "criminal")
VIOLATION_KINDS: tuple[str, ...] = ("counterfeit", "smuggled", "illegal_channel", "unlicensed", "minors", "other")

#: roles of service users: role -> (zh, en)
ROLES: dict[str, tuple[str, str]] = {
    "marketing": ("客户经理", "customer manager"),
    "monopoly": ("专卖管理员", "monopoly officer"),
    "squad_leader": ("中队长", "squad leader"),
    "planner": ("网格规划", "planner"),
    "manager": ("管理者", "manager"),
    "mediator": ("调解员", "mediator"),
    "admin": ("管理员", "administrator"),
}
#: the department of each staff role (the department its records belong to)
ROLE_DEPARTMENT: dict[str, str] = {"marketing": "marketing", "monopoly": "monopoly"}


def event_type_label(name: str, lang: str) -> str:
    """The label of event type ``name`` in ``lang`` (``zh`` or ``en``); unknown names unchanged."""
    t = EVENT_TYPES_BY_NAME.get(name)
    if t is None:
        return name
    return t.zh if lang == "zh" else t.en
