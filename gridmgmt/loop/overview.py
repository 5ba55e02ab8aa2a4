"""The managers' overview: one self-contained HTML page (offline, zh/en, escaped).

It gathers grid balance, cycle coverage, open and overdue tasks, response times to tip-offs,
the monthly trend of violations and reports, risk levels and hotspots, and links to the risk
and grid maps. Charts are inline SVG, so the page needs no script and no other file. Labels are
registered under ``overview.`` in :mod:`gridmgmt.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import SupportsFloat

import numpy as np
import pandas as pd

from gridmgmt.labels import LABELS, label, register_labels
from gridmgmt.maps.escape import esc

_PREFIX = "overview."
register_labels(
    {
        "title": {"zh": "网格化协同管理总览", "en": "Joint grid management overview"},
        "as_of": {"zh": "截至", "en": "as of"},
        "maps": {"zh": "地图", "en": "Maps"},
        "risk_map": {"zh": "风险地图", "en": "Risk map"},
        "grid_map": {"zh": "网格地图", "en": "Grid map"},
        "route_map": {"zh": "巡查路线图", "en": "Patrol route map"},
        "route_sheets": {"zh": "巡查路线单", "en": "Route sheets"},
        "balance": {"zh": "网格工作量均衡", "en": "Grid workload balance"},
        "balance_ratio": {"zh": "最大/最小工作量", "en": "max/min workload"},
        "grid": {"zh": "网格", "en": "Grid"},
        "retailers": {"zh": "零售户", "en": "Retailers"},
        "workload_h": {"zh": "月工作量(小时)", "en": "Workload (h/month)"},
        "service_h": {"zh": "服务(小时)", "en": "Service (h)"},
        "travel_h": {"zh": "路程(小时)", "en": "Travel (h)"},
        "pair": {"zh": "责任人(客户经理/专卖专员)", "en": "Pair (customer manager / monopoly officer)"},
        "coverage": {"zh": "周期覆盖", "en": "Cycle coverage"},
        "inspected_in_cycle": {"zh": "检查周期内", "en": "inspected within cycle"},
        "visited_in_cycle": {"zh": "走访周期内", "en": "visited within cycle"},
        "outside_grids": {"zh": "未划入网格的零售户", "en": "retailers outside any grid"},
        "grids_without_pair": {"zh": "缺少责任人的网格", "en": "grids without a full pair"},
        "tasks": {"zh": "联合任务", "en": "Joint tasks"},
        "open": {"zh": "待办", "en": "open"},
        "overdue": {"zh": "已超期", "en": "overdue"},
        "closed_on_time": {"zh": "按期办结率(近90天)", "en": "closed on time (last 90 days)"},
        "response": {"zh": "举报响应时间(工作日,近90天)", "en": "Tip-off response (working days, last 90 days)"},
        "median": {"zh": "中位数", "en": "median"},
        "p90": {"zh": "90%分位", "en": "90th percentile"},
        "trend": {"zh": "月度趋势", "en": "Monthly trend"},
        "violation": {"zh": "违规", "en": "violations"},
        "tip_off": {"zh": "举报", "en": "tip-offs"},
        "complaint": {"zh": "投诉", "en": "complaints"},
        "marketing_report": {"zh": "营销反馈", "en": "marketing reports"},
        "risk": {"zh": "风险等级", "en": "Risk levels"},
        "risk_trend": {"zh": "风险趋势", "en": "Risk trend"},
        "mean_score": {"zh": "平均风险分", "en": "mean risk score"},
        "high_count": {"zh": "高风险零售户数", "en": "retailers at high risk"},
        "date": {"zh": "日期", "en": "Date"},
        "high": {"zh": "高", "en": "high"},
        "medium": {"zh": "中", "en": "medium"},
        "low": {"zh": "低", "en": "low"},
        "hotspots": {"zh": "违规热点(Gi*, FDR)", "en": "Violation hotspots (Gi*, FDR)"},
        "hot_cells": {"zh": "热点网格单元(95%以上)", "en": "hot cells (95%+)"},
        "overdue_tasks_list": {"zh": "超期任务", "en": "Overdue tasks"},
        "task": {"zh": "任务", "en": "Task"},
        "type": {"zh": "类型", "en": "Type"},
        "deadline": {"zh": "期限", "en": "Deadline"},
        "none": {"zh": "无", "en": "none"},
    },
    prefix=_PREFIX,
)


def t(key: str, lang: str) -> str:
    """Escaped overview label ``key`` in ``lang`` (zh or en)."""
    return esc(label(_PREFIX + key, lang))


def _text(key: str, lang: str) -> str:
    """Unescaped overview label (for the charts, which escape their texts)."""
    return label(_PREFIX + key, lang)


def _cell(value: object) -> str:
    """A value on the page, escaped: '-' when missing."""
    return esc(value, blank="-")


def _number(value: SupportsFloat | str) -> str:
    number = float(value)
    return f"{int(number)}" if number.is_integer() else f"{number:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(series: Mapping[str, float], *, width: int = 360, unit: str = "") -> str:
    """Horizontal SVG bar chart of label -> value."""
    items = list(series.items())
    if not items:
        return ""
    top = max(float(v) for _, v in items) or 1.0
    row = 22
    parts = [f'<svg class="bars" width="{width + 220}" height="{row * len(items) + 4}" role="img">']
    for i, (name, value) in enumerate(items):
        w = max(1.0, width * float(value) / top)
        y = i * row + 2
        parts.append(
            f'<text x="0" y="{y + 15}">{_cell(name)}</text>'
            f'<rect x="110" y="{y + 3}" width="{w:.1f}" height="15"></rect>'
            f'<text x="{116 + w:.1f}" y="{y + 15}">{_cell(_number(value))}{_cell(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _lines(frame: pd.DataFrame, labels: Mapping[str, str], *, width: int = 640, height: int = 180) -> str:
    """Multi-series SVG line chart of a frame indexed by month (columns = series)."""
    if frame.empty:
        return ""
    colours = ["#d7301f", "#2166ac", "#fc8d59", "#1a9850"]
    top = float(frame.to_numpy().max()) or 1.0
    n = len(frame)
    step = (width - 60) / max(n - 1, 1)
    parts = [f'<svg class="lines" width="{width + 40}" height="{height + 40}" role="img">']
    for j, column in enumerate(frame.columns):
        points = " ".join(
            f"{40 + i * step:.1f},{10 + height * (1 - v / top):.1f}"
            for i, v in enumerate(frame[column].to_numpy(float))
        )
        colour = colours[j % len(colours)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"></polyline>')
        parts.append(
            f'<text x="{40 + j * 150}" y="{height + 38}" fill="{colour}">{_cell(labels.get(column, column))}</text>'
        )
    for i, month in enumerate(frame.index):
        if i % 2 == 0:
            parts.append(f'<text class="tick" x="{40 + i * step:.1f}" y="{height + 22}">{_cell(month)}</text>')
    parts.append(
        f'<text class="tick" x="0" y="18">{_cell(int(top))}</text><text class="tick" x="0" y="{height + 10}">0'
        "</text></svg>"
    )
    return "".join(parts)


STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;border-bottom:2px solid #c00;padding-bottom:3px;margin-top:28px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.kpi b{display:block;font-size:22px}.kpi span{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
svg text{font-size:12px} svg .tick{fill:#666;font-size:11px} svg.bars rect{fill:#4575b4}
.warn b{color:#c00} a{color:#1a5fb4}
"""


def overview_html(
    *,
    as_of: str,
    lang: str = "zh",
    district_name: str = "",
    grids: pd.DataFrame | None = None,
    coverage: Mapping[str, float] | None = None,
    tasks: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    risk: pd.DataFrame | None = None,
    hotspot_cells: pd.DataFrame | None = None,
    responsibility_totals: Mapping[str, int] | None = None,
    links: Mapping[str, str] | None = None,
    risk_trend: pd.DataFrame | None = None,
) -> str:
    """The overview page as one HTML string; every data text is escaped.

    Sections in order: title and links, key figures, grid balance, tip-off response and
    overdue tasks, monthly trend, risk levels, risk trend, hotspots; a section whose data is
    None (or empty) is left out.

    Parameters
    ----------
    grids
        Grid table (grid_id, retailers, workload_min, service_min, travel_min, customer_manager,
        monopoly_officer), or None before grids exist.
    coverage
        Shares (0-1): ``inspected_in_cycle``, ``visited_in_cycle``.
    tasks
        From :func:`gridmgmt.loop.tasks.task_table`.
    events
        The event log, for the monthly trend (last 12 months before ``as_of``).
    risk
        Risk table with ``level``.
    hotspot_cells
        Gi* cells with ``hotspot_class``.
    responsibility_totals
        :attr:`gridmgmt.loop.responsibility.ResponsibilityReport.totals`.
    links
        ``{"risk_map": "risk_map.html", ...}`` relative links to the other pages.
    risk_trend
        Scores over time: date, mean_score, high (retailers at high risk).
    """
    as_of_ts = pd.Timestamp(as_of)
    has_grids = grids is not None and len(grids)
    parts = [_head(as_of, lang, district_name, links)]
    parts.append(
        _key_figures(lang, as_of_ts, coverage, tasks, responsibility_totals or {}, grids if has_grids else None)
    )
    if has_grids:
        parts.append(_balance_section(grids, lang))
    if tasks is not None:
        parts.append(_tasks_section(tasks, lang, as_of_ts))
    if events is not None and len(events):
        parts.append(_trend_section(events, lang, as_of_ts))
    if risk is not None and len(risk):
        parts.append(_risk_section(risk, lang))
    if risk_trend is not None and len(risk_trend):
        parts.append(_risk_trend_section(risk_trend, lang))
    if hotspot_cells is not None and len(hotspot_cells):
        parts.append(_hotspot_section(hotspot_cells, lang))
    parts.append("</body></html>")
    return "".join(parts)


def _head(as_of: str, lang: str, district_name: str, links: Mapping[str, str] | None) -> str:
    """Document head, title, date and the links to the map pages."""
    parts = [
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{t('title', lang)} · {_cell(district_name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{t('title', lang)} · {_cell(district_name)}</h1><p>{t('as_of', lang)} {_cell(as_of)}</p>",
    ]
    if links:
        anchors = " · ".join(
            f'<a href="{esc(href)}">{t(key, lang)}</a>' for key, href in links.items() if _PREFIX + key in LABELS
        )
        parts.append(f"<p>{t('maps', lang)}: {anchors}</p>")
    return "".join(parts)


def _key_figures(
    lang: str,
    as_of_ts: pd.Timestamp,
    coverage: Mapping[str, float] | None,
    tasks: pd.DataFrame | None,
    totals: Mapping[str, int],
    grids: pd.DataFrame | None,
) -> str:
    """The row of key figures (coverage, tasks, responsibility gaps, balance); warnings in red."""
    kpis = []
    if coverage:
        for key in ("inspected_in_cycle", "visited_in_cycle"):
            if key in coverage:
                kpis.append((f"{coverage[key] * 100:.1f}%", t(key, lang), False))
    if tasks is not None:
        n_open = int(tasks["status"].isin(("open", "overdue")).sum())
        n_over = int((tasks["status"] == "overdue").sum())
        recent = tasks.loc[tasks["opened"] >= as_of_ts - pd.Timedelta(days=90)]
        done = recent.loc[recent["status"].isin(("closed", "closed_late"))]
        on_time = (done["status"] == "closed").mean() if len(done) else np.nan
        kpis += [
            (str(n_open), f"{t('tasks', lang)}: {t('open', lang)}", False),
            (str(n_over), f"{t('tasks', lang)}: {t('overdue', lang)}", n_over > 0),
            ("-" if np.isnan(on_time) else f"{on_time * 100:.0f}%", t("closed_on_time", lang), False),
        ]
    if totals:
        for key, total in (("outside_grids", "retailers_outside_grids"), ("grids_without_pair", "grids_without_pair")):
            kpis.append((str(totals.get(total, 0)), t(key, lang), totals.get(total, 0) > 0))
    if grids is not None:
        ratio = grids["workload_min"].max() / max(grids["workload_min"].min(), 1e-9)
        kpis.append((f"{ratio:.3f}", t("balance_ratio", lang), ratio > 1.05))
    boxes = "".join(
        f'<div class="kpi{" warn" if warn else ""}"><b>{_cell(v)}</b><span>{text}</span></div>'
        for v, text, warn in kpis
    )
    return f'<div class="kpis">{boxes}</div>'


def _balance_section(grids: pd.DataFrame, lang: str) -> str:
    """Workload per grid: a table (hours, staff pair) and a bar chart."""
    ordered = list(grids.sort_values("grid_id").itertuples())
    rows = [
        [
            int(g.grid_id),
            int(g.retailers),
            round(g.workload_min / 60, 1),
            round(g.service_min / 60, 1),
            round(g.travel_min / 60, 1),
            f"{getattr(g, 'customer_manager_name', g.customer_manager)} / "
            f"{getattr(g, 'monopoly_officer_name', g.monopoly_officer)}",
        ]
        for g in ordered
    ]
    headers = [t(key, lang) for key in ("grid", "retailers", "workload_h", "service_h", "travel_h", "pair")]
    bars = _bars({f"{t('grid', lang)} {int(g.grid_id)}": g.workload_min / 60 for g in ordered}, unit=" h")
    return f"<h2>{t('balance', lang)}</h2>" + _table(headers, rows) + bars


def _tasks_section(tasks: pd.DataFrame, lang: str, as_of_ts: pd.Timestamp) -> str:
    """Tip-off response times in the last 90 days, then the overdue tasks (first 50 by deadline)."""
    recent_tips = tasks.loc[(tasks["type"] == "tip_off") & (tasks["opened"] >= as_of_ts - pd.Timedelta(days=90))]
    days = recent_tips["response_working_days"].dropna()
    parts = [
        f"<h2>{t('response', lang)}</h2>",
        _table(
            [t("median", lang), t("p90", lang), t("tip_off", lang)],
            [[days.median() if len(days) else "-", days.quantile(0.9) if len(days) else "-", len(recent_tips)]],
        ),
    ]
    late = tasks.loc[tasks["status"] == "overdue"].sort_values("deadline")
    parts.append(f"<h2>{t('overdue_tasks_list', lang)}</h2>")
    if len(late):
        parts.append(
            _table(
                [t("task", lang), t("retailers", lang), t("type", lang), t("deadline", lang)],
                [
                    [r.task_id, r.retailer_id, t(r.type, lang), f"{r.deadline:%Y-%m-%d}"]
                    for r in late.head(50).itertuples()
                ],
            )
        )
    else:
        parts.append(f"<p>{t('none', lang)}</p>")
    return "".join(parts)


def _trend_section(events: pd.DataFrame, lang: str, as_of_ts: pd.Timestamp) -> str:
    """Violations and reports per month over the 12 months before ``as_of``, as a line chart."""
    times = pd.to_datetime(events["time"])
    window = events.loc[(times < as_of_ts) & (times >= as_of_ts - pd.DateOffset(months=12))]
    kinds = ["violation", "tip_off", "complaint", "marketing_report"]
    monthly = (
        window.loc[window["type"].isin(kinds)]
        .assign(month=pd.to_datetime(window["time"]).dt.strftime("%Y-%m"))
        .pivot_table(index="month", columns="type", values="event_id", aggfunc="count")
        .reindex(columns=kinds)
        .fillna(0)
    )
    return f"<h2>{t('trend', lang)}</h2>" + _lines(monthly, {k: _text(k, lang) for k in kinds})


def _risk_section(risk: pd.DataFrame, lang: str) -> str:
    """Retailers per risk level, as bars."""
    counts = risk["level"].value_counts()
    return f"<h2>{t('risk', lang)}</h2>" + _bars(
        {_text(k, lang): int(counts.get(k, 0)) for k in ("high", "medium", "low")}
    )


def _risk_trend_section(risk_trend: pd.DataFrame, lang: str) -> str:
    """Mean score and retailers at high risk over time: two line charts (each on its own scale) and a table."""
    parts = [f"<h2>{t('risk_trend', lang)}</h2>"]
    frame = risk_trend.set_index("date")
    for column, key in (("mean_score", "mean_score"), ("high", "high_count")):
        parts.append(_lines(frame[[column]], {column: _text(key, lang)}, height=120))
    parts.append(
        _table(
            [t("date", lang), t("mean_score", lang), t("high_count", lang)],
            risk_trend[["date", "mean_score", "high"]].to_numpy().tolist(),
        )
    )
    return "".join(parts)


def _hotspot_section(hotspot_cells: pd.DataFrame, lang: str) -> str:
    """How many cells are hot at 95% or more."""
    hot = hotspot_cells.loc[hotspot_cells["hotspot_class"].isin(("hot_95", "hot_99"))]
    return f"<h2>{t('hotspots', lang)}</h2><p>{t('hot_cells', lang)}: <b>{len(hot)}</b></p>"
