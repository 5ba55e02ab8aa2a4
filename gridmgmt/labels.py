"""The one zh/en label registry: every text a person reads on a gridmgmt map, page or sheet.

Shared labels are listed here: the maps' common words, the service pages' words (under
``page.``) and the record's words from :mod:`gridmgmt.vocab` (under ``event.``, ``department.``,
``outcome.``, ``severity.``, ``violation_kind.``, ``role.``). Domain modules add theirs with
:func:`register_labels`, usually under a prefix naming the page (``"overview."``, ``"sheet."``),
and read them with :func:`label`, for a whole page with :func:`labels_of`, or on the service's
pages with :func:`translator`. The label languages are :data:`gridmgmt.vocab.LANGS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from gridmgmt.vocab import LANGS, WORD_LABELS

#: keys a page asked :func:`translator` for that have no label (shown as the key itself; tests check it stays empty)
UNLABELLED: set[str] = set()

LABELS: dict[str, dict[str, str]] = {
    "retailers": {"zh": "零售户", "en": "Retailers"},
    "retailer": {"zh": "零售户", "en": "Retailer"},
    "retailer_id": {"zh": "许可证号", "en": "Licence no."},
    "name": {"zh": "名称", "en": "Name"},
    "address": {"zh": "地址", "en": "Address"},
    "business_type": {"zh": "业态", "en": "Business type"},
    "customer_class": {"zh": "客户档位", "en": "Customer class"},
    "subdistrict": {"zh": "街道", "en": "Subdistrict"},
    "grid": {"zh": "网格", "en": "Grid"},
    "grids": {"zh": "网格", "en": "Grids"},
    "grid_id": {"zh": "网格编号", "en": "Grid no."},
    "risk": {"zh": "风险", "en": "Risk"},
    "risk_score": {"zh": "风险分", "en": "Risk score"},
    "risk_level": {"zh": "风险等级", "en": "Risk level"},
    "hotspots": {"zh": "热点", "en": "Hotspots"},
    "heat": {"zh": "热力图", "en": "Heat map"},
    "route": {"zh": "路线", "en": "Route"},
    "routes": {"zh": "巡查路线", "en": "Patrol routes"},
    "depot": {"zh": "驻点", "en": "Depot"},
    "schools": {"zh": "学校", "en": "Schools"},
    "boundary": {"zh": "辖区边界", "en": "District boundary"},
    "legend": {"zh": "图例", "en": "Legend"},
    "basemap": {"zh": "底图", "en": "Base map"},
    "open_time": {"zh": "营业时间", "en": "Opening hours"},
    "workload_min": {"zh": "工作量（分钟）", "en": "Workload (min)"},
    "count": {"zh": "数量", "en": "Count"},
    "high": {"zh": "高", "en": "High"},
    "medium": {"zh": "中", "en": "Medium"},
    "low": {"zh": "低", "en": "Low"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "exit_fullscreen": {"zh": "退出全屏", "en": "Exit full screen"},
    **{
        f"{kind}.{word}": dict(zip(LANGS, texts, strict=True))
        for kind, words in WORD_LABELS.items()
        for word, texts in words.items()
    },
}

#: the service pages' words: key -> (zh, en), registered as ``page.<key>``
_PAGE_TEXT: dict[str, tuple[str, str]] = {
    "app": ("网格化管理平台", "Grid management"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong user name or password"),
    "too_many": ("尝试次数过多，请稍后再试", "Too many attempts; try again later"),
    "today": ("今日", "Today"),
    "report": ("上报", "Report"),
    "plan": ("排班计划", "Plan"),
    "overview": ("总览", "Overview"),
    "risk_map": ("风险地图", "Risk map"),
    "responsibility": ("责任落实", "Responsibility"),
    "assessment": ("月度考核", "Monthly assessment"),
    "mediation": ("调解中心", "Mediation"),
    "public": ("投诉举报", "Complaints and tip-offs"),
    "audit": ("审计日志", "Audit log"),
    "route_today": ("今日路线", "Today's route"),
    "no_plan": ("今日计划尚未发布", "No plan published yet for today"),
    "open_tasks": ("网格待办任务", "Open tasks of the grid"),
    "no_tasks": ("没有待办任务", "No open tasks"),
    "purpose": ("事由", "Purpose"),
    "arrival": ("到达", "Arrival"),
    "deadline": ("期限", "Deadline"),
    "status": ("状态", "Status"),
    "type": ("类型", "Type"),
    "opened": ("开启", "Opened"),
    "record": ("记录", "Record"),
    "inspection_ok": ("检查正常", "Inspection ok"),
    "violation": ("违法违规", "Violation"),
    "not_found": ("未找到", "Not found"),
    "closed": ("已停业", "Closed"),
    "visited": ("已走访", "Visited"),
    "kind": ("违法类型", "Kind"),
    "severity": ("严重程度", "Severity"),
    "note": ("备注", "Note"),
    "recorded": ("已记录", "Recorded"),
    "search": ("搜索", "Search"),
    "search_hint": ("名称、许可证号或地址", "Name, licence number or address"),
    "submit": ("提交", "Submit"),
    "task_opened": ("已开启联合任务", "Joint task opened"),
    "generate": ("生成路线", "Generate routes"),
    "date": ("日期", "Date"),
    "squads": ("中队", "Squads"),
    "all_squads": ("全部（留空）", "all (leave empty)"),
    "progress": ("进度", "Progress"),
    "review": ("审核", "Review"),
    "publish": ("发布", "Publish"),
    "published": ("已发布", "Published"),
    "drafts": ("待审核计划", "Plans to review"),
    "stops": ("站点", "Stops"),
    "preview": ("预览调整", "Preview rebalance"),
    "moves": ("调整的零售户", "Retailers moved"),
    "k_grids": ("网格数", "Number of grids"),
    "lock_grids": ("锁定网格", "Locked grids"),
    "month": ("月份", "Month"),
    "per_pair": ("按组", "Per pair"),
    "per_person": ("按人", "Per person"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "public_intro": (
        "向烟草专卖局投诉或举报。可以匿名。我们不会公开任何个人信息。",
        "File a complaint or a tip-off with the tobacco monopoly bureau. Anonymous is fine; "
        "no personal data is ever shown.",
    ),
    "what_happened": ("发生了什么", "What happened"),
    "or_point": ("或在地图上点选位置", "or pick the place on the map"),
    "contact_optional": ("联系方式（可选，不公开）", "Contact (optional, never shown)"),
    "tracking_code": ("查询码", "Tracking code"),
    "keep_code": ("请保存查询码，用于查询处理进度", "Keep this code to check the progress"),
    "check_status": ("查询进度", "Check status"),
    "received": ("已受理", "Received"),
    "assigned": ("已分派", "Assigned"),
    "handled": ("已处理", "Handled"),
    "unknown_code": ("查询码不存在", "Unknown tracking code"),
    "too_fast": ("提交过快，请稍候再试", "Submitted too fast; please wait a moment and try again"),
    "cases": ("案件", "Cases"),
    "new_case": ("新建案件", "New case"),
    "subject": ("事由", "Subject"),
    "parties": ("当事人", "Parties"),
    "notes": ("记录", "Notes"),
    "add_note": ("添加记录", "Add note"),
    "outcome": ("结果", "Outcome"),
    "close_case": ("结案", "Close case"),
    "forbidden": ("无权访问", "Forbidden"),
    "error": ("出错了", "Something went wrong"),
    "field_too_long": ("“{field}”过长：最多 {limit} 个字符", "{field} is too long: at most {limit} characters"),
    "field_missing": ("请填写“{field}”", "{field} is missing"),
    "field_invalid": ("“{field}”的值无效", "{field} is not valid"),
    "risk_reason": ("风险原因", "Risk reasons"),
    "score": ("风险分", "Score"),
    "corrections": ("更正", "Correction"),
    "open": ("进行中", "Open"),
    "overdue": ("已逾期", "Overdue"),
    "closed_late": ("逾期关闭", "Closed late"),
    "job_failed": ("任务失败", "Job failed"),
    "running": ("进行中", "Running"),
    "queued": ("排队中", "Queued"),
    "done": ("完成", "Done"),
    "failed": ("失败", "Failed"),
    "tasks": ("任务", "Tasks"),
    "task": ("任务", "Task"),
    "task_closed": ("已办结", "Closed"),
    "text": ("内容", "Text"),
    "pair": ("责任人", "Responsible pair"),
    "history": ("经过", "History"),
    "any": ("全部", "Any"),
    "filter": ("筛选", "Filter"),
    "search_tasks": ("查询码、许可证号、名称或内容", "Tracking code, licence number, name or text"),
    "shown_of": ("显示 {shown} 条，共 {total} 条", "{shown} of {total} shown"),
    "no_match": ("没有符合条件的任务", "No task matches"),
    "closed_by": ("办结检查", "Closed by inspection"),
    "not_closed": ("尚未办结", "Not closed yet"),
    "open_case": ("发起调解", "Open a mediation case"),
    "case_from": ("案件来源", "Opened from"),
    "linked_cases": ("调解案件", "Mediation cases"),
}


def label(key: str, lang: str = "zh") -> str:
    """The label of ``key`` in ``lang`` (``"zh"`` or ``"en"``), unescaped.

    Raises
    ------
    KeyError
        For an unknown key (add it with :func:`register_labels`) or language.
    """
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    try:
        return LABELS[key][lang]
    except KeyError:
        raise KeyError(f"no {lang!r} label for {key!r}; add it with gridmgmt.labels.register_labels") from None


def register_labels(labels: Mapping[str, Mapping[str, str]], *, prefix: str = "") -> None:
    """Add labels ``{"key": {"zh": "...", "en": "..."}}`` (both languages required) as ``prefix + key``.

    Registering a key again with the same texts is allowed (modules may be reloaded).

    Raises
    ------
    ValueError
        When a label lacks a language, or when the key is already registered with other texts
        (give the new label its own key, or a ``prefix``).
    """
    for key, texts in labels.items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            raise ValueError(f"label {key!r} lacks {', '.join(missing)}")
        entry = {lang: str(texts[lang]) for lang in LANGS}
        full_key = prefix + key
        if LABELS.get(full_key, entry) != entry:
            raise ValueError(
                f"label {full_key!r} is already registered as {LABELS[full_key]}; give {entry} another key or a prefix"
            )
        LABELS[full_key] = entry


def labels_of(prefix: str, lang: str = "zh") -> dict[str, str]:
    """Every label whose key starts with ``prefix``, in ``lang``, keyed without the prefix (unescaped).

    Raises
    ------
    KeyError
        For an unknown language.
    """
    if lang not in LANGS:
        raise KeyError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return {key[len(prefix) :]: texts[lang] for key, texts in LABELS.items() if key.startswith(prefix)}


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` in ``lang`` for the service's pages: the page's word ``page.<key>``, else the shared
    label ``key``, else the record's word ``key`` (an event type, severity, ...; English starting with
    a capital), else ``key`` itself (noted in :data:`UNLABELLED`)."""
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        key = str(key)
        shown = LABELS.get(f"page.{key}") or LABELS.get(key)
        if shown:
            return shown[LANGS[index]]
        for words in WORD_LABELS.values():
            if key in words:
                text = words[key][index]
                return text[:1].upper() + text[1:]
        UNLABELLED.add(key)
        return key

    return t


register_labels({key: dict(zip(LANGS, texts, strict=True)) for key, texts in _PAGE_TEXT.items()}, prefix="page.")

#: table columns the service's pages show -> (zh, en), registered as ``column.<name>``
_COLUMN_TEXT: dict[str, tuple[str, str]] = {
    **{status: texts for status, texts in WORD_LABELS["status"].items()},  # a grid's tasks counted by status
    "grid_id": ("网格", "Grid"),
    "retailer_id": ("许可证号", "Licence no."),
    "task_id": ("任务编号", "Task no."),
    "type": ("类型", "Type"),
    "opened": ("开启", "Opened"),
    "deadline": ("期限", "Deadline"),
    "customer_manager": ("客户经理", "Customer manager"),
    "monopoly_officer": ("专卖管理员", "Monopoly officer"),
    "retailers": ("零售户数", "Retailers"),
    "inspection_coverage": ("检查覆盖率", "Inspection coverage"),
    "visit_coverage": ("走访覆盖率", "Visit coverage"),
    "cycle_coverage": ("周期覆盖率", "Cycle coverage"),
    "tasks_due": ("到期任务", "Tasks due"),
    "tasks_on_time": ("按时办结率", "Tasks on time"),
    "tip_off_response_days": ("举报响应（工作日）", "Tip-off response (working days)"),
    "violations_found": ("查获违法", "Violations found"),
    "corrections": ("更正", "Corrections"),
    "violations_withdrawn": ("撤销的违法", "Violations withdrawn"),
    "inspections": ("检查次数", "Inspections"),
    "visits": ("走访次数", "Visits"),
    "work_done": ("完成次数", "Work done"),
    "staff_id": ("工号", "Staff no."),
    "name": ("名称", "Name"),
    "department": ("部门", "Department"),
    "id": ("序号", "No."),
    "time": ("时间", "Time"),
    "username": ("用户名", "User name"),
    "action": ("操作", "Action"),
    "outcome": ("结果", "Outcome"),
    "detail": ("详情", "Detail"),
    "address": ("地址", "Address"),
    "squad_id": ("中队", "Squad"),
    "members": ("成员", "Members"),
    "travel_mode": ("出行方式", "Travel mode"),
    "depot": ("驻点", "Depot"),
    "leave": ("出发", "Leave"),
    "back": ("返回", "Back"),
    "day_min": ("工作时长（分钟）", "Day (min)"),
    "travel_min": ("路上（分钟）", "Travel (min)"),
    "service_min": ("检查（分钟）", "At shops (min)"),
    "wait_min": ("等候（分钟）", "Waiting (min)"),
    "lunch": ("午休", "Lunch"),
    "lunch_min": ("午休（分钟）", "Lunch (min)"),
    "own_grid_stops": ("本网格站点", "Own-grid stops"),
    "own_grid_share": ("本网格占比", "Own-grid share"),
    "from_grid": ("原网格", "From grid"),
    "to_grid": ("新网格", "To grid"),
    "reason": ("原因", "Reason"),
    "purpose": ("事由", "Purpose"),
    "mandatory": ("必查", "Mandatory"),
    "priority": ("优先级", "Priority"),
    "seq": ("顺序", "Order"),
    "arrival": ("到达", "Arrival"),
    "run": ("批次", "Run"),
    "date": ("日期", "Date"),
    "kind": ("类别", "Kind"),
    "by": ("操作人", "By"),
    "created": ("创建时间", "Created"),
    "solution_limit": ("求解次数上限", "Solution limit"),
}
#: columns whose cells are words of a kind (``<kind>.<code>`` labels): column -> kind
COLUMN_WORDS: dict[str, str] = {
    "type": "event",
    "status": "status",
    "purpose": "purpose",
    "travel_mode": "mode",
    "mode": "mode",
    "level": "level",
    "risk_level": "level",
    "department": "department",
    "role": "role",
    "severity": "severity",
    "violation_kind": "violation_kind",
}
#: the service's other words of a kind: stored runs (``run.``) and audit outcomes (``audit.``)
_KIND_TEXT: dict[str, tuple[str, str]] = {
    "run.plan_draft": ("草稿", "draft"),
    "run.plan": ("已发布", "published"),
    "audit.ok": ("成功", "ok"),
    "audit.refused": ("被拒绝", "refused"),
    "audit.failed_login": ("登录失败", "failed login"),
    "audit.unauthenticated": ("未登录", "not logged in"),
    "audit.forbidden": ("无权限", "forbidden"),
    "audit.rate_limited": ("过于频繁", "rate limited"),
}
#: what a permission lets one do (``permission.<name>``, in refusals) -> (zh, en)
_PERMISSION_TEXT: dict[str, tuple[str, str]] = {
    "today:view": ("查看今日路线", "open today's route"),
    "tasks:view": ("查看任务", "view tasks"),
    "tasks:list": ("列出任务", "list tasks"),
    "tasks:desk": ("使用任务台", "use the task desk"),
    "retailers:search": ("查找零售户", "search retailers"),
    "events:view_all": ("查看全部事件", "view every event"),
    "plan:generate": ("生成排班计划", "plan the day"),
    "plan:view": ("查看排班计划", "view the day plans"),
    "grids:view": ("查看网格", "view the grids"),
    "grids:publish": ("发布网格", "publish grids"),
    "overview:view": ("查看总览", "view the overview"),
    "assessment:view": ("查看月度考核", "view the monthly assessment"),
    "mediation:view": ("查看调解", "view mediation cases"),
    "mediation:edit": ("办理调解", "handle mediation cases"),
    "audit:view": ("查看审计日志", "view the audit log"),
    "users:view": ("查看用户", "view the users"),
    **{f"record:{name}": (f"记录{zh}", f"record {en}s") for name, (zh, en) in WORD_LABELS["event"].items()},
}
#: sentences the server writes in English (a job's progress lines, refusals; kept so in logs, the job table and
#: the API) -> (as written, zh, en) for pages; a field's value ``v`` shows as the label ``<field>.<v>`` if any
_SAID_TEXT: dict[str, tuple[str, str, str]] = {
    **{
        key: (en, zh, en)
        for key, (zh, en) in {
            "read_log": ("读取事件日志", "reading the event log"),
            "read_grids": ("读取今日网格", "reading today's grids"),
            "score_risk": ("计算风险", "scoring risk"),
            "candidates": ("筛选走访对象", "selecting visit candidates"),
            "plan_mode": (
                "规划 {n} 个{mode}中队，候选 {candidates} 家",
                "planning {n} {mode} squad(s) from {candidates} candidates",
            ),
            "planned": (
                "已安排 {visits} 次走访，{unplanned} 次未安排，用时 {seconds} 秒",
                "planned {visits} visits, {unplanned} unplanned, in {seconds} s",
            ),
            "search_failed": (
                "路线搜索失败：{failure}；其他中队已在草稿中",
                "route search failed: {failure}; the other squads are in the draft",
            ),
            "store_draft": ("保存草稿", "storing the draft"),
            "draft": (
                "草稿 {run_id}：{stops} 个站点，{left_out} 个未安排",
                "draft {run_id}: {stops} stops, {left_out} left out",
            ),
            "rebalance": ("调整网格", "rebalancing"),
            "moves": ("{moves} 家零售户将调整网格", "{moves} retailers would move"),
        }.items()
    },
    "lacks": (
        "role {role} lacks {permission}",
        "您的角色（{role}）无权{permission}",
        "Your role ({role}) may not {permission}",
    ),
    # the refusals of gridmgmt.permissions (recording, correcting, opening a case)
    "may_not_record": (
        "a {role} user may not record {event} events (a {who} records them)",
        "您的角色（{role}）不能记录{event}",
        "Your role ({role}) may not record {event} events (a {who} records them)",
    ),
    "own_grids_only": (
        "the retailer is in {relation}: {event} events are recorded for your own grids' retailers only",
        "该零售户{relation}：{event}只能记录本人网格的零售户",
        "The retailer is in {relation}: {event} events are recorded for your own grids' retailers only",
    ),
    "may_not_correct_relation": (
        "the event's retailer is in {relation}: only its department in its own grid, a squad leader or a manager "
        "may correct it",
        "该事件的零售户{relation}：只有本网格的本部门人员、中队长或管理者可以更正",
        "The event's retailer is in {relation}: only its department in its own grid, a squad leader or a manager "
        "may correct it",
    ),
    "may_not_correct_department": (
        "a {role} user may not correct a {department} event: only its department in its own grid, a squad leader "
        "or a manager may correct it",
        "您的角色（{role}）不能更正{department}的事件：只有本网格的本部门人员、中队长或管理者可以更正",
        "Your role ({role}) may not correct a {department} event: only its department in its own grid, a squad "
        "leader or a manager may correct it",
    ),
    "may_not_open_case": (
        "a {role} user may not open mediation cases (a mediator opens them)",
        "您的角色（{role}）不能发起调解（由调解员发起）",
        "Your role ({role}) may not open mediation cases (a mediator opens them)",
    ),
    "case_from": (
        "a mediation case opens from a complaint or a public report, not a {department} {event}",
        "调解案件只能由投诉或公众举报发起，不能由{department}的{event}发起",
        "A mediation case opens from a complaint or a public report, not a {department} {event}",
    ),
}
#: a retailer's grid relation to a user (``relation.<relation>``, in refusals) -> (zh, en)
_RELATION_TEXT: dict[str, tuple[str, str]] = {
    "own grid": ("在本人网格", "own grid"),
    "other grid": ("在其他网格", "another grid"),
    "no grid": ("不在任何网格", "no grid"),
}
register_labels({key: dict(zip(LANGS, texts, strict=True)) for key, texts in _COLUMN_TEXT.items()}, prefix="column.")
register_labels({key: dict(zip(LANGS, texts, strict=True)) for key, texts in _KIND_TEXT.items()})
register_labels(
    {key: dict(zip(LANGS, texts, strict=True)) for key, texts in _PERMISSION_TEXT.items()}, prefix="permission."
)
register_labels({key: {"zh": zh, "en": en} for key, (_written, zh, en) in _SAID_TEXT.items()}, prefix="said.")
register_labels(
    {key: dict(zip(LANGS, texts, strict=True)) for key, texts in _RELATION_TEXT.items()}, prefix="relation."
)


def _template_pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching ``template`` formatted with any fields (each ``{name}`` a group)."""
    parts = re.split(r"{(\w+)}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)) + r"\Z", re.DOTALL
    )


_SAID_PATTERNS = {key: _template_pattern(texts[0]) for key, texts in _SAID_TEXT.items()}


def word(kind: str, codes: object, lang: str) -> str:
    """The label of each comma-separated code of ``kind`` in ``codes`` (``"tip_off,routine"`` -> ``举报、常规检查``).

    A code without a label is shown as itself and noted in :data:`UNLABELLED` (numbers and blanks are data).
    """
    text = "" if codes is None else str(codes)
    shown = []
    for code in (c.strip() for c in text.split(",") if c.strip()):
        entry = LABELS.get(f"{kind}.{code}")
        if entry is None and not code.replace(".", "", 1).lstrip("-").isdigit():
            UNLABELLED.add(f"{kind}.{code}")
        shown.append(entry[lang] if entry else code)
    return ("、" if lang == "zh" else ", ").join(shown)


def said(line: object, lang: str) -> str:
    """A sentence the server wrote in English (a job's progress line, a refusal) in ``lang``; a sentence of no
    known form is shown as written and noted in :data:`UNLABELLED`."""
    text = str(line)
    for key, pattern in _SAID_PATTERNS.items():
        found = pattern.match(text)
        if found:
            fields = {
                name: LABELS.get(f"{name}.{value}", {}).get(lang, value) for name, value in found.groupdict().items()
            }
            return LABELS[f"said.{key}"][lang].format(**fields)
    UNLABELLED.add(text)
    return text


register_labels({"show": {"zh": "显示", "en": "Show"}}, prefix="page.")
