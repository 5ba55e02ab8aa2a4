"""Route sheets and plan files: what a squad prints in the morning, and what the office keeps.

:func:`route_sheets_html` renders one printable page per squad (A4, CSS page breaks), in
Chinese or English, every value escaped with :func:`html.escape`. :func:`write_plan` writes a
:class:`gridmgmt.patrol.plan.PatrolPlan` as files (stops.csv, unplanned.csv, summary.csv,
routes.geojson, route_sheets.html, route_map.html) and into the store, each write atomic.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridmgmt import io

log = logging.getLogger(__name__)

TEXT = {
    "zh": {
        "title": "联合巡查路线单",
        "date": "日期",
        "squad": "小组",
        "members": "成员",
        "mode": "交通方式",
        "depot": "出发站点",
        "day": "出发/返回",
        "lunch": "午休",
        "visits": "走访数",
        "travel": "路上时间",
        "seq": "序",
        "retailer": "零售户",
        "address": "地址",
        "purpose": "事由",
        "arrive": "到达",
        "leave": "离开",
        "check": "检查要点",
        "done": "完成",
        "deadline": "期限",
        "mandatory": "必查",
        "min": "分钟",
        "no_visits": "今日无走访安排。",
        "unplanned": "未安排的走访",
        "reason": "原因",
        "notes": "说明",
        "signature": "签字(专卖)__________  (营销)__________",
        "modes": {"walk": "步行", "ebike": "电动车", "car": "汽车"},
        "purposes": {
            "tip_off": "举报",
            "complaint": "投诉",
            "marketing_report": "营销反馈",
            "routine": "常规检查",
            "high_risk": "高风险",
        },
    },
    "en": {
        "title": "Joint patrol route sheet",
        "date": "Date",
        "squad": "Squad",
        "members": "Members",
        "mode": "Travel mode",
        "depot": "Depot",
        "day": "Leave/return",
        "lunch": "Lunch",
        "visits": "Visits",
        "travel": "Travel",
        "seq": "#",
        "retailer": "Retailer",
        "address": "Address",
        "purpose": "Purpose",
        "arrive": "Arrive",
        "leave": "Leave",
        "check": "What to check",
        "done": "Done",
        "deadline": "Deadline",
        "mandatory": "must",
        "min": "min",
        "no_visits": "No visits planned today.",
        "unplanned": "Visits not planned",
        "reason": "Reason",
        "notes": "Notes",
        "signature": "Signatures (monopoly) __________  (marketing) __________",
        "modes": {"walk": "walk", "ebike": "e-bike", "car": "car"},
        "purposes": {
            "tip_off": "tip-off",
            "complaint": "complaint",
            "marketing_report": "marketing report",
            "routine": "routine",
            "high_risk": "high risk",
        },
    },
}

_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; font-size: 10.5pt; margin: 0; }
.sheet { padding: 12mm; page-break-after: always; break-after: page; }
.sheet:last-child { page-break-after: auto; break-after: auto; }
h1 { font-size: 15pt; margin: 0 0 4mm 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #666; padding: 1.5mm; vertical-align: top; text-align: left; }
th { background: #eee; }
table.head td { border: none; padding: 0.5mm 3mm 0.5mm 0; }
.must { color: #b00; font-weight: bold; }
.box { width: 6mm; }
.sig { margin-top: 8mm; }
@page { size: A4; margin: 8mm; }
@media print { .sheet { padding: 0; } }
"""


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def _purpose(text: str, lang: str) -> str:
    names = TEXT[lang]["purposes"]
    return ", ".join(names.get(p, p) for p in str(text).split(",") if p)


def route_sheets_html(plan: Any, *, lang: str = "zh") -> str:
    """One printable HTML document, one page per squad, every value escaped.

    Parameters
    ----------
    plan : PatrolPlan
    lang : str
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        The HTML document.
    """
    if lang not in TEXT:
        raise ValueError(f"unknown language {lang!r}; use zh or en")
    t = TEXT[lang]
    check_col = "checklist_zh" if lang == "zh" else "checklist_en"
    pages = []
    for row in plan.summary.itertuples():
        stops = plan.stops.loc[plan.stops["squad_id"] == row.squad_id].sort_values("seq")
        head = (
            f"<h1>{_e(t['title'])} · {_e(t['squad'])} {_e(row.squad_id)}</h1>"
            '<table class="head"><tr>'
            f"<td>{_e(t['date'])}: {_e(plan.date)}</td><td>{_e(t['members'])}: {_e(row.members)}</td>"
            f"<td>{_e(t['mode'])}: {_e(t['modes'].get(row.travel_mode, row.travel_mode))}</td>"
            f"<td>{_e(t['depot'])}: {_e(row.depot)}</td></tr><tr>"
            f"<td>{_e(t['day'])}: {_e(row.leave)}–{_e(row.back)}</td>"
            f"<td>{_e(t['lunch'])}: {_e(row.lunch)}</td><td>{_e(t['visits'])}: {_e(row.visits)}</td>"
            f"<td>{_e(t['travel'])}: {_e(row.travel_min)} {_e(t['min'])}</td></tr></table>"
        )
        if stops.empty:
            body = f"<p>{_e(t['no_visits'])}</p>"
        else:
            cells = []
            for s in stops.itertuples():
                must = f' <span class="must">[{_e(t["mandatory"])}]</span>' if s.mandatory else ""
                deadline = f"<br>{_e(t['deadline'])}: {_e(s.deadline)}" if s.mandatory else ""
                lunch = (
                    f"<tr><td></td><td colspan='7'>{_e(t['lunch'])} {_e(row.lunch)}</td></tr>" if s.lunch_before else ""
                )
                cells.append(
                    f"{lunch}<tr><td>{_e(s.seq)}</td><td>{_e(s.name)}<br><small>{_e(s.retailer_id)}</small></td>"
                    f"<td>{_e(s.address)}</td><td>{_e(_purpose(s.purpose, lang))}{must}{deadline}</td>"
                    f"<td>{_e(s.start)}</td><td>{_e(s.departure)}</td><td>{_e(getattr(s, check_col))}</td>"
                    '<td class="box">☐</td></tr>'
                )
            body = (
                f"<table><thead><tr><th>{_e(t['seq'])}</th><th>{_e(t['retailer'])}</th><th>{_e(t['address'])}</th>"
                f"<th>{_e(t['purpose'])}</th><th>{_e(t['arrive'])}</th><th>{_e(t['leave'])}</th>"
                f"<th>{_e(t['check'])}</th><th>{_e(t['done'])}</th></tr></thead><tbody>"
                + "".join(cells)
                + "</tbody></table>"
            )
        pages.append(f'<section class="sheet">{head}{body}<p class="sig">{_e(t["signature"])}</p></section>')
    if len(plan.unplanned) or plan.notes:
        must_tag = f' <span class="must">[{_e(t["mandatory"])}]</span>'
        rows = "".join(
            f"<tr><td>{_e(u.retailer_id)}</td><td>{_e(u.name)}</td><td>{_e(_purpose(u.purpose, lang))}"
            f"{must_tag if u.mandatory else ''}</td><td>{_e(u.reason)}</td></tr>"
            for u in plan.unplanned.itertuples()
        )
        notes = "".join(f"<li>{_e(n)}</li>" for n in plan.notes)
        pages.append(
            f'<section class="sheet"><h1>{_e(t["unplanned"])} · {_e(plan.date)}</h1>'
            + (f"<h2>{_e(t['notes'])}</h2><ul>{notes}</ul>" if notes else "")
            + f"<table><thead><tr><th>ID</th><th>{_e(t['retailer'])}</th><th>{_e(t['purpose'])}</th>"
            f"<th>{_e(t['reason'])}</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    title = f"{t['title']} {plan.date}"
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>" + "".join(pages) + "</body></html>"
    )


def plan_tables(plan: Any) -> dict[str, pd.DataFrame]:
    """The plan's tables as written to CSV: stops, unplanned and the per-squad summary."""
    return {"stops": plan.stops, "unplanned": plan.unplanned, "summary": plan.summary}


def write_plan(
    plan: Any,
    out_dir: str | Path,
    *,
    depots: pd.DataFrame,
    lang: str = "zh",
    tiles: str = "none",
    store: str | Path | None = None,
) -> list[Path]:
    """Write a plan's files into ``out_dir`` and its layers into ``store`` (default ``out_dir/store.gpkg``).

    Files: ``stops.csv``, ``unplanned.csv``, ``summary.csv``, ``routes.geojson``,
    ``route_sheets.html`` (one page per squad), ``route_map.html`` (offline folium map); store
    layers ``patrol_stops`` (points) and ``patrol_routes`` (lines). Everything is rendered
    in memory first, then each file is written atomically, so a failure leaves earlier files
    intact.

    Parameters
    ----------
    plan : PatrolPlan
    out_dir : str or Path
    depots : DataFrame
        ``depot_id``, ``name``, ``lon``, ``lat`` for the map.
    lang : str
        ``"zh"`` or ``"en"`` for the route sheets and the map.
    tiles : str
        Map background (``"none"``: offline).

    Returns
    -------
    list of Path
        Paths written.

    Raises
    ------
    GridMgmtError
        When the day has no visit candidates at all (nothing is written).
    """
    from gridmgmt._errors import GridMgmtError
    from gridmgmt.maps import to_offline_html
    from gridmgmt.patrol.route_map import patrol_map
    from gridmgmt.store import Store

    if plan.candidates.empty:
        raise GridMgmtError(
            f"no visits to plan on {plan.date}: no open tasks, due inspections or high-risk retailers; nothing written"
        )
    out = Path(out_dir)
    tables = plan_tables(plan)
    sheets = route_sheets_html(plan, lang=lang)
    page = to_offline_html(
        patrol_map(plan, pd.DataFrame(depots).drop(columns="geometry", errors="ignore"), lang=lang, tiles=tiles)
    )
    routes = plan.routes if len(plan.routes) else gpd.GeoDataFrame(plan.routes, geometry="geometry", crs="EPSG:4326")
    stops_layer = gpd.GeoDataFrame(
        tables["stops"].assign(date=plan.date),
        geometry=gpd.points_from_xy(tables["stops"]["lon"].astype(float), tables["stops"]["lat"].astype(float)),
        crs="EPSG:4326",
    )
    written = [
        io.write_csv(tables["stops"], out / "stops.csv"),
        io.write_csv(tables["unplanned"], out / "unplanned.csv"),
        io.write_csv(tables["summary"], out / "summary.csv"),
        io.write_vector(routes, out / "routes.geojson"),
        io.write_text(sheets, out / "route_sheets.html"),
        io.write_text(page, out / "route_map.html"),
    ]
    target = Store(store if store is not None else out / "store.gpkg")
    target.write({"patrol_stops": stops_layer, "patrol_routes": routes.assign(date=plan.date)})
    written.append(target.path)
    log.info("wrote the plan of %s to %s", plan.date, out)
    return written
