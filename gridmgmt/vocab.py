"""The words of the shared record, each defined once with its Chinese and English label: event
types, departments, outcomes, severities, violation kinds, roles, task states, visit purposes,
travel modes, risk levels and label languages.

Every list elsewhere (the store's checks, the event table's aliases, the service's types, the
CLI's choices, the permission table, the task rules, the risk components, the labels of maps,
pages and sheets) derives from here, so adding an event type is one entry in
:data:`EVENT_TYPES_BY_NAME` plus, for a task-opening or risk-counted type, its deadline and weight
in :mod:`gridmgmt.config` (see the README's "Adding an event type"). This module imports nothing
but the standard library: small commands load it without pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

#: label languages of maps, pages and sheets (``[district] lang``)
LANGS: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True)
class EventType:
    """One kind of event in the log.

    ``department`` is the department whose work it records (``None``: anyone's, the public's
    included, by default ``public``); ``recorded_by`` the staff roles that may record it;
    ``aliases`` other spellings accepted on input (Chinese labels included).

    A type with ``opens_task`` opens a joint-visit task (closed by the next inspection), due after
    ``[deadlines_working_days] <name>``; ``priority`` is its visit's points and ``checklist`` what
    the pair checks (zh, en; ``{note}`` is the event's note). A type with a ``risk_reason`` (zh, en;
    ``{n}`` is the decayed count) is a risk component worth ``[risk_weights] <name>`` points.
    """

    name: str
    zh: str
    en: str
    department: str | None
    recorded_by: frozenset[str]
    aliases: tuple[str, ...] = ()
    opens_task: bool = False
    priority: float = 0.0
    checklist: tuple[str, str] = ("", "")
    risk_reason: tuple[str, str] | None = None


_STAFF = frozenset({"marketing", "monopoly"})

#: every event type, in the order lists show them
EVENT_TYPES_BY_NAME: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("inspection", "检查", "inspection", "monopoly", frozenset({"monopoly"}), ("检查",)),
        EventType("violation", "违法", "violation", "monopoly", frozenset({"monopoly"}), ("违法", "违规")),
        EventType(
            "tip_off",
            "举报",
            "tip-off",
            None,
            _STAFF,
            ("举报", "tip-off", "tipoff"),
            opens_task=True,
            priority=100.0,
            checklist=("核查举报线索:{note}", "check the tip-off: {note}"),
            risk_reason=("近期举报{n:.1f}次", "{n:.1f} recent tip-offs"),
        ),
        EventType(
            "complaint",
            "投诉",
            "complaint",
            None,
            _STAFF,
            ("投诉",),
            opens_task=True,
            priority=70.0,
            checklist=("核查投诉:{note}", "check the complaint: {note}"),
            risk_reason=("近期投诉{n:.1f}次", "{n:.1f} recent complaints"),
        ),
        EventType(
            "marketing_report",
            "营销反馈",
            "marketing report",
            "marketing",
            frozenset({"marketing"}),
            ("营销报告",),
            opens_task=True,
            priority=60.0,
            checklist=("核查营销反馈异常:{note}", "check the marketing anomaly report: {note}"),
            risk_reason=("营销反馈异常{n:.1f}次", "{n:.1f} marketing anomaly reports"),
        ),
        EventType("visit", "走访", "visit", "marketing", frozenset({"marketing"}), ("走访", "拜访")),
    )
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_TYPES_BY_NAME)
#: event types that open a joint-visit task
TASK_TYPES: tuple[str, ...] = tuple(t.name for t in EVENT_TYPES_BY_NAME.values() if t.opens_task)
#: event types counted as a risk component of their own (decayed count)
RISK_REPORT_TYPES: tuple[str, ...] = tuple(t.name for t in EVENT_TYPES_BY_NAME.values() if t.risk_reason)
#: event types the public may file (the public channel): those of no one department
PUBLIC_TYPES: tuple[str, ...] = tuple(t.name for t in EVENT_TYPES_BY_NAME.values() if t.department is None)
#: other spellings of event types -> the type
EVENT_TYPE_ALIASES: dict[str, str] = {a: t.name for t in EVENT_TYPES_BY_NAME.values() for a in t.aliases}

#: departments that record events, -> (zh, en) (``public``: the public channel)
DEPARTMENT_LABELS: dict[str, tuple[str, str]] = {
    "monopoly": ("专卖", "monopoly"),
    "marketing": ("营销", "marketing"),
    "public": ("公众", "public"),
}
DEPARTMENTS: tuple[str, ...] = tuple(DEPARTMENT_LABELS)
#: departments staff belong to
STAFF_DEPARTMENTS: tuple[str, ...] = ("marketing", "monopoly")
#: Chinese labels of departments accepted on input -> the department
DEPARTMENT_ALIASES: dict[str, str] = {zh: name for name, (zh, _) in DEPARTMENT_LABELS.items()}

#: outcomes of an inspection -> (zh, en)
OUTCOME_LABELS: dict[str, tuple[str, str]] = {"ok": ("正常", "ok"), "violation": ("违法违规", "violation")}
OUTCOMES: tuple[str, ...] = tuple(OUTCOME_LABELS)
#: severities of a violation, mildest first -> (zh, en)
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "minor": ("轻微", "minor"),
    "serious": ("严重", "serious"),
    "criminal": ("涉刑", "criminal"),
}
SEVERITIES: tuple[str, ...] = tuple(SEVERITY_LABELS)
#: kinds of violation -> (zh, en)
VIOLATION_KIND_LABELS: dict[str, tuple[str, str]] = {
    "counterfeit": ("假烟", "counterfeit"),
    "smuggled": ("走私烟", "smuggled"),
    "illegal_channel": ("非法渠道", "illegal channel"),
    "unlicensed": ("无证经营", "unlicensed"),
    "minors": ("向未成年人售烟", "sales to minors"),
    "other": ("其他", "other"),
}
VIOLATION_KINDS: tuple[str, ...] = tuple(VIOLATION_KIND_LABELS)

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

#: states of a joint-visit task -> (zh, en)
TASK_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "open": ("待办", "open"),
    "overdue": ("已逾期", "overdue"),
    "closed": ("已完成", "closed"),
    "closed_late": ("逾期完成", "closed late"),
}
#: why a retailer is on a day's route (a stop's ``purpose``, comma-separated) -> (zh, en): a task's type,
#: a routine inspection due by cycle, a high-risk retailer not inspected lately
PURPOSE_LABELS: dict[str, tuple[str, str]] = {
    **{t.name: (t.zh, t.en) for t in EVENT_TYPES_BY_NAME.values() if t.opens_task},
    "routine": ("常规检查", "routine"),
    "high_risk": ("高风险", "high risk"),
}
#: squads' travel modes -> (zh, en)
MODE_LABELS: dict[str, tuple[str, str]] = {
    "walk": ("步行", "walk"),
    "ebike": ("电动车", "e-bike"),
    "car": ("汽车", "car"),
}
#: retailers' risk levels -> (zh, en)
RISK_LEVEL_LABELS: dict[str, tuple[str, str]] = {
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
}

#: every labelled word by kind: kind -> word -> (zh, en)
WORD_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "event": {t.name: (t.zh, t.en) for t in EVENT_TYPES_BY_NAME.values()},
    "department": DEPARTMENT_LABELS,
    "outcome": OUTCOME_LABELS,
    "severity": SEVERITY_LABELS,
    "violation_kind": VIOLATION_KIND_LABELS,
    "role": ROLES,
    "status": TASK_STATUS_LABELS,
    "purpose": PURPOSE_LABELS,
    "mode": MODE_LABELS,
    "level": RISK_LEVEL_LABELS,
}


def listed(words: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``, for help texts and hints."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def default_department(event_type: str) -> str:
    """The department an event of ``event_type`` belongs to when none is given (``public`` for anyone's)."""
    t = EVENT_TYPES_BY_NAME.get(event_type)
    return (t.department if t else None) or "public"
