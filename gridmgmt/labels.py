"""The one zh/en label registry: every text a person reads on a gridmgmt map, page or sheet.

Shared labels are listed here: the maps' common words, the service pages' words (under
``page.``) and the record's words from :mod:`gridmgmt.vocab` (under ``event.``, ``department.``,
``outcome.``, ``severity.``, ``violation_kind.``, ``role.``). Domain modules add theirs with
:func:`register_labels`, usually under a prefix naming the page (``"overview."``, ``"sheet."``),
and read them with :func:`label`, for a whole page with :func:`labels_of`, or on the service's
pages with :func:`translator`. The label languages are :data:`gridmgmt.vocab.LANGS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gridmgmt.vocab import LANGS, WORD_LABELS

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
    a capital), else ``key`` itself."""
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
        return key

    return t


register_labels({key: dict(zip(LANGS, texts, strict=True)) for key, texts in _PAGE_TEXT.items()}, prefix="page.")
