"""The managers' overview: one self-contained HTML page (offline, zh/en, escaped).

It gathers grid balance, cycle coverage, open and overdue tasks, response times to tip-offs,
the monthly trend of violations and reports, risk levels and hotspots, and links to the risk
and grid maps. Charts are inline SVG, so the page needs no script and no other file.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

TEXT = {
    "title": ("网格化协同管理总览", "Joint grid management overview"),
    "as_of": ("截至", "as of"),
    "maps": ("地图", "Maps"),
    "risk_map": ("风险地图", "Risk map"),
    "grid_map": ("网格地图", "Grid map"),
    "route_map": ("巡查路线图", "Patrol route map"),
    "route_sheets": ("巡查路线单", "Route sheets"),
    "balance": ("网格工作量均衡", "Grid workload balance"),
    "balance_ratio": ("最大/最小工作量", "max/min workload"),
    "grid": ("网格", "Grid"),
    "retailers": ("零售户", "Retailers"),
    "workload_h": ("月工作量(小时)", "Workload (h/month)"),
    "service_h": ("服务(小时)", "Service (h)"),
    "travel_h": ("路程(小时)", "Travel (h)"),
    "pair": ("责任人(客户经理/专卖专员)", "Pair (customer manager / monopoly officer)"),
    "coverage": ("周期覆盖", "Cycle coverage"),
    "inspected_in_cycle": ("检查周期内", "inspected within cycle"),
    "visited_in_cycle": ("走访周期内", "visited within cycle"),
    "outside_grids": ("未划入网格的零售户", "retailers outside any grid"),
    "grids_without_pair": ("缺少责任人的网格", "grids without a full pair"),
    "tasks": ("联合任务", "Joint tasks"),
    "open": ("待办", "open"),
    "overdue": ("已超期", "overdue"),
    "closed_on_time": ("按期办结率(近90天)", "closed on time (last 90 days)"),
    "response": ("举报响应时间(工作日,近90天)", "Tip-off response (working days, last 90 days)"),
    "median": ("中位数", "median"),
    "p90": ("90%分位", "90th percentile"),
    "trend": ("月度趋势", "Monthly trend"),
    "violation": ("违规", "violations"),
    "tip_off": ("举报", "tip-offs"),
    "complaint": ("投诉", "complaints"),
    "marketing_report": ("营销反馈", "marketing reports"),
    "risk": ("风险等级", "Risk levels"),
    "risk_trend": ("风险趋势", "Risk trend"),
    "mean_score": ("平均风险分", "mean risk score"),
    "high_count": ("高风险零售户数", "retailers at high risk"),
    "date": ("日期", "Date"),
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
    "hotspots": ("违规热点(Gi*, FDR)", "Violation hotspots (Gi*, FDR)"),
    "hot_cells": ("热点网格单元(95%以上)", "hot cells (95%+)"),
    "overdue_tasks_list": ("超期任务", "Overdue tasks"),
    "task": ("任务", "Task"),
    "type": ("类型", "Type"),
    "deadline": ("期限", "Deadline"),
    "none": ("无", "none"),
}


def t(key: str, lang: str) -> str:
    """Escaped label in ``lang`` (zh or en)."""
    zh, en = TEXT[key]
    return html.escape(zh if lang == "zh" else en)


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return html.escape(str(value))


def _number(value: object) -> str:
    number = float(value)
    return f"{int(number)}" if number.is_integer() else f"{number:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
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
            f'<text x="0" y="{y + 15}">{_e(name)}</text>'
            f'<rect x="110" y="{y + 3}" width="{w:.1f}" height="15"></rect>'
            f'<text x="{116 + w:.1f}" y="{y + 15}">{_e(_number(value))}{_e(unit)}</text>'
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
            f'<text x="{40 + j * 150}" y="{height + 38}" fill="{colour}">{_e(labels.get(column, column))}</text>'
        )
    for i, month in enumerate(frame.index):
        if i % 2 == 0:
            parts.append(f'<text class="tick" x="{40 + i * step:.1f}" y="{height + 22}">{_e(month)}</text>')
    parts.append(
        f'<text class="tick" x="0" y="18">{_e(int(top))}</text><text class="tick" x="0" y="{height + 10}">0'
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
    parts = [
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{t('title', lang)} · {_e(district_name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{t('title', lang)} · {_e(district_name)}</h1><p>{t('as_of', lang)} {_e(as_of)}</p>",
    ]
    if links:
        anchors = " · ".join(
            f'<a href="{html.escape(href, quote=True)}">{t(key, lang)}</a>'
            for key, href in links.items()
            if key in TEXT
        )
        parts.append(f"<p>{t('maps', lang)}: {anchors}</p>")

    kpis = []
    totals = responsibility_totals or {}
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
        kpis += [
            (
                str(totals.get("retailers_outside_grids", 0)),
                t("outside_grids", lang),
                totals.get("retailers_outside_grids", 0) > 0,
            ),
            (
                str(totals.get("grids_without_pair", 0)),
                t("grids_without_pair", lang),
                totals.get("grids_without_pair", 0) > 0,
            ),
        ]
    if grids is not None and len(grids):
        ratio = grids["workload_min"].max() / max(grids["workload_min"].min(), 1e-9)
        kpis.append((f"{ratio:.3f}", t("balance_ratio", lang), ratio > 1.05))
    parts.append(
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi{" warn" if warn else ""}"><b>{_e(v)}</b><span>{label}</span></div>'
            for v, label, warn in kpis
        )
        + "</div>"
    )

    if grids is not None and len(grids):
        parts.append(f"<h2>{t('balance', lang)}</h2>")
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
            for g in grids.sort_values("grid_id").itertuples()
        ]
        parts.append(
            _table(
                [
                    t("grid", lang),
                    t("retailers", lang),
                    t("workload_h", lang),
                    t("service_h", lang),
                    t("travel_h", lang),
                    t("pair", lang),
                ],
                rows,
            )
        )
        parts.append(
            _bars(
                {
                    f"{t('grid', lang)} {int(g.grid_id)}": g.workload_min / 60
                    for g in grids.sort_values("grid_id").itertuples()
                },
                unit=" h",
            )
        )

    if tasks is not None:
        recent_tips = tasks.loc[(tasks["type"] == "tip_off") & (tasks["opened"] >= as_of_ts - pd.Timedelta(days=90))]
        days = recent_tips["response_working_days"].dropna()
        parts.append(f"<h2>{t('response', lang)}</h2>")
        parts.append(
            _table(
                [t("median", lang), t("p90", lang), t("tip_off", lang)],
                [[days.median() if len(days) else "-", days.quantile(0.9) if len(days) else "-", len(recent_tips)]],
            )
        )
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

    if events is not None and len(events):
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
        parts.append(f"<h2>{t('trend', lang)}</h2>")
        parts.append(_lines(monthly, {k: TEXT[k][0 if lang == "zh" else 1] for k in kinds}))

    if risk is not None and len(risk):
        counts = risk["level"].value_counts()
        parts.append(f"<h2>{t('risk', lang)}</h2>")
        parts.append(
            _bars({TEXT[k][0 if lang == "zh" else 1]: int(counts.get(k, 0)) for k in ("high", "medium", "low")})
        )
    if risk_trend is not None and len(risk_trend):
        parts.append(f"<h2>{t('risk_trend', lang)}</h2>")
        frame = risk_trend.set_index("date")
        for column, key in (("mean_score", "mean_score"), ("high", "high_count")):  # each on its own scale
            parts.append(_lines(frame[[column]], {column: TEXT[key][0 if lang == "zh" else 1]}, height=120))
        parts.append(
            _table(
                [t("date", lang), t("mean_score", lang), t("high_count", lang)],
                risk_trend[["date", "mean_score", "high"]].to_numpy().tolist(),
            )
        )
    if hotspot_cells is not None and len(hotspot_cells):
        hot = hotspot_cells.loc[hotspot_cells["hotspot_class"].isin(("hot_95", "hot_99"))]
        parts.append(f"<h2>{t('hotspots', lang)}</h2><p>{t('hot_cells', lang)}: <b>{len(hot)}</b></p>")
    parts.append("</body></html>")
    return "".join(parts)
