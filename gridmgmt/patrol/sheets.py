"""Route sheets and plan files: what a squad prints in the morning, and what the office keeps.

:func:`route_sheets_html` renders one printable page per squad (A4, CSS page breaks), in
Chinese or English (labels under ``sheet.`` in :mod:`gridmgmt.labels`), every value escaped
with :func:`gridmgmt.maps.escape.esc`. :func:`write_plan` writes a
:class:`gridmgmt.patrol.plan.PatrolPlan` as files (stops.csv, unplanned.csv, summary.csv,
routes.geojson, route_sheets.html, route_map.html) and into the store, each write atomic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridmgmt import io
from gridmgmt._errors import GridMgmtError
from gridmgmt.coords import WGS84
from gridmgmt.labels import labels_of, register_labels
from gridmgmt.maps.escape import esc
from gridmgmt.patrol.stops import COVER_TEXT
from gridmgmt.vocab import EVENT_TYPES_BY_NAME, LANGS

log = logging.getLogger(__name__)

_PREFIX = "sheet."
register_labels(
    {
        "title": {"zh": "联合巡查路线单", "en": "Joint patrol route sheet"},
        "date": {"zh": "日期", "en": "Date"},
        "squad": {"zh": "小组", "en": "Squad"},
        "grid": {"zh": "责任网格", "en": "Own grid"},
        "own_share": {"zh": "本网格走访", "en": "In own grid"},
        "cover.absent": {"zh": "代管第{grid}网格：该组缺勤", "en": "covering for grid {grid}: squad absent"},
        "cover.no_squad": {"zh": "代管第{grid}网格：该网格无巡查组", "en": "covering for grid {grid}: no squad for it"},
        "cover.not_planned": {
            "zh": "代管第{grid}网格：该组不在本次计划中",
            "en": "covering for grid {grid}: its squad is not in this plan",
        },
        "cover.deadline": {
            "zh": "代管第{grid}网格：今日到期，该组排不下",
            "en": "covering for grid {grid}: deadline today, own squad full",
        },
        "members": {"zh": "成员", "en": "Members"},
        "mode": {"zh": "交通方式", "en": "Travel mode"},
        "depot": {"zh": "出发站点", "en": "Depot"},
        "day": {"zh": "出发/返回", "en": "Leave/return"},
        "lunch": {"zh": "午休", "en": "Lunch"},
        "visits": {"zh": "走访数", "en": "Visits"},
        "travel": {"zh": "路上时间", "en": "Travel"},
        "seq": {"zh": "序", "en": "#"},
        "retailer": {"zh": "零售户", "en": "Retailer"},
        "address": {"zh": "地址", "en": "Address"},
        "purpose": {"zh": "事由", "en": "Purpose"},
        "arrive": {"zh": "到达", "en": "Arrive"},
        "leave": {"zh": "离开", "en": "Leave"},
        "check": {"zh": "检查要点", "en": "What to check"},
        "done": {"zh": "完成", "en": "Done"},
        "deadline": {"zh": "期限", "en": "Deadline"},
        "mandatory": {"zh": "必查", "en": "must"},
        "min": {"zh": "分钟", "en": "min"},
        "no_visits": {"zh": "今日无走访安排。", "en": "No visits planned today."},
        "unplanned": {"zh": "未安排的走访", "en": "Visits not planned"},
        "reason": {"zh": "原因", "en": "Reason"},
        "notes": {"zh": "说明", "en": "Notes"},
        "signature": {
            "zh": "签字(专卖)__________  (营销)__________",
            "en": "Signatures (monopoly) __________  (marketing) __________",
        },
        "mode.walk": {"zh": "步行", "en": "walk"},
        "mode.ebike": {"zh": "电动车", "en": "e-bike"},
        "mode.car": {"zh": "汽车", "en": "car"},
        **{f"purpose.{t.name}": {"zh": t.zh, "en": t.en} for t in EVENT_TYPES_BY_NAME.values() if t.opens_task},
        "purpose.routine": {"zh": "常规检查", "en": "routine"},
        "purpose.high_risk": {"zh": "高风险", "en": "high risk"},
    },
    prefix=_PREFIX,
)

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
.cover { color: #06c; font-style: italic; }
.box { width: 6mm; }
.sig { margin-top: 8mm; }
@page { size: A4; margin: 8mm; }
@media print { .sheet { padding: 0; } }
"""


def _purpose(text: str, t: dict[str, str]) -> str:
    return ", ".join(t.get(f"purpose.{p}", p) for p in str(text).split(",") if p)


_COVER_RE = re.compile(r"^covering for grid (\d+): (.+)$")
_COVER_KIND = {text: kind for kind, text in COVER_TEXT.items()}


def _cover(reason: object, t: dict[str, str]) -> str:
    """A stop's ``cross_grid_reason`` in the sheet's language ('' in the squad's own grid)."""
    text = "" if pd.isna(reason) else str(reason)
    match = _COVER_RE.match(text)
    if not match or match.group(2) not in _COVER_KIND:
        return text
    return t[f"cover.{_COVER_KIND[match.group(2)]}"].format(grid=match.group(1))


def _grid_cell(row: Any, t: dict[str, str]) -> str:
    """Header cell naming the squad's grid and, when it has stops, the share of them in it."""
    share = getattr(row, "own_grid_share", float("nan"))
    text = f"{esc(t['grid'])}: {esc(row.grid_id)}"
    if pd.notna(share):
        text += f" ({esc(t['own_share'])} {round(100 * float(share))}%)"
    return f"<td>{text}</td>"


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
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use zh or en")
    t = labels_of(_PREFIX, lang)
    check_col = "checklist_zh" if lang == "zh" else "checklist_en"
    pages = []
    for row in plan.summary.itertuples():
        stops = plan.stops.loc[plan.stops["squad_id"] == row.squad_id].sort_values("seq")
        head = (
            f"<h1>{esc(t['title'])} · {esc(t['squad'])} {esc(row.squad_id)} · {esc(t['grid'])} {esc(row.grid_id)}</h1>"
            '<table class="head"><tr>'
            f"<td>{esc(t['date'])}: {esc(plan.date)}</td>{_grid_cell(row, t)}"
            f"<td>{esc(t['members'])}: {esc(row.members)}</td>"
            f"<td>{esc(t['mode'])}: {esc(t.get(f'mode.{row.travel_mode}', row.travel_mode))}</td>"
            f"<td>{esc(t['depot'])}: {esc(row.depot)}</td></tr><tr>"
            f"<td>{esc(t['day'])}: {esc(row.leave)}–{esc(row.back)}</td>"
            f"<td>{esc(t['lunch'])}: {esc(row.lunch)}</td><td>{esc(t['visits'])}: {esc(row.visits)}</td>"
            f"<td>{esc(t['travel'])}: {esc(row.travel_min)} {esc(t['min'])}</td></tr></table>"
        )
        if stops.empty:
            body = f"<p>{esc(t['no_visits'])}</p>"
        else:
            cells = []
            for s in stops.itertuples():
                must = f' <span class="must">[{esc(t["mandatory"])}]</span>' if s.mandatory else ""
                deadline = f"<br>{esc(t['deadline'])}: {esc(s.deadline)}" if s.mandatory else ""
                cover = _cover(getattr(s, "cross_grid_reason", ""), t)
                deadline += f'<br><span class="cover">{esc(cover)}</span>' if cover else ""
                lunch = (
                    f"<tr><td></td><td colspan='7'>{esc(t['lunch'])} {esc(row.lunch)}</td></tr>"
                    if s.lunch_before
                    else ""
                )
                cells.append(
                    f"{lunch}<tr><td>{esc(s.seq)}</td><td>{esc(s.name)}<br><small>{esc(s.retailer_id)}</small></td>"
                    f"<td>{esc(s.address)}</td><td>{esc(_purpose(s.purpose, t))}{must}{deadline}</td>"
                    f"<td>{esc(s.start)}</td><td>{esc(s.departure)}</td><td>{esc(getattr(s, check_col))}</td>"
                    '<td class="box">☐</td></tr>'
                )
            body = (
                f"<table><thead><tr><th>{esc(t['seq'])}</th><th>{esc(t['retailer'])}</th><th>{esc(t['address'])}</th>"
                f"<th>{esc(t['purpose'])}</th><th>{esc(t['arrive'])}</th><th>{esc(t['leave'])}</th>"
                f"<th>{esc(t['check'])}</th><th>{esc(t['done'])}</th></tr></thead><tbody>"
                + "".join(cells)
                + "</tbody></table>"
            )
        pages.append(f'<section class="sheet">{head}{body}<p class="sig">{esc(t["signature"])}</p></section>')
    if len(plan.unplanned) or plan.notes:
        must_tag = f' <span class="must">[{esc(t["mandatory"])}]</span>'
        rows = "".join(
            f"<tr><td>{esc(u.retailer_id)}</td><td>{esc(u.name)}</td><td>{esc(_purpose(u.purpose, t))}"
            f"{must_tag if u.mandatory else ''}</td><td>{esc(u.reason)}</td></tr>"
            for u in plan.unplanned.itertuples()
        )
        notes = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
        pages.append(
            f'<section class="sheet"><h1>{esc(t["unplanned"])} · {esc(plan.date)}</h1>'
            + (f"<h2>{esc(t['notes'])}</h2><ul>{notes}</ul>" if notes else "")
            + f"<table><thead><tr><th>ID</th><th>{esc(t['retailer'])}</th><th>{esc(t['purpose'])}</th>"
            f"<th>{esc(t['reason'])}</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    title = f"{t['title']} {plan.date}"
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>" + "".join(pages) + "</body></html>"
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
    streets: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write a plan's files into ``out_dir``.

    Files: ``stops.csv``, ``unplanned.csv``, ``summary.csv``, ``routes.geojson``,
    ``route_sheets.html`` (one page per squad), ``route_map.html`` (offline folium map).
    Everything is rendered in memory first, then each file is written atomically, so a failure
    leaves earlier files intact. :func:`plan_layers` gives the layers the shared store keeps.

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
    streets : dict, optional
        The district's street layer (:func:`gridmgmt.maps.street_bands`), drawn under the routes.

    Returns
    -------
    list of Path
        Paths written.

    Raises
    ------
    GridMgmtError
        When the day has no visit candidates at all (nothing is written).
    """
    # imported here, not at the top: the map pulls in folium, which only rendering needs
    from gridmgmt.maps import to_offline_html
    from gridmgmt.patrol.route_map import patrol_map

    if plan.candidates.empty:
        raise GridMgmtError(
            f"no visits to plan on {plan.date}: no open tasks, due inspections or high-risk retailers; nothing written"
        )
    out = Path(out_dir)
    tables = plan_tables(plan)
    sheets = route_sheets_html(plan, lang=lang)
    page = to_offline_html(
        patrol_map(
            plan,
            pd.DataFrame(depots).drop(columns="geometry", errors="ignore"),
            lang=lang,
            tiles=tiles,
            streets=streets,
        )
    )
    routes = _routes(plan)
    written = [
        io.write_csv(tables["stops"], out / "stops.csv"),
        io.write_csv(tables["unplanned"], out / "unplanned.csv"),
        io.write_csv(tables["summary"], out / "summary.csv"),
        io.write_vector(routes, out / "routes.geojson"),
        io.write_text(sheets, out / "route_sheets.html"),
        io.write_text(page, out / "route_map.html"),
    ]
    log.info("wrote the plan of %s to %s", plan.date, out)
    return written


def _routes(plan: Any) -> gpd.GeoDataFrame:
    return plan.routes if len(plan.routes) else gpd.GeoDataFrame(plan.routes, geometry="geometry", crs=WGS84)


def plan_layers(plan: Any) -> dict[str, gpd.GeoDataFrame]:
    """The day plan as store layers: ``patrol_stops`` (points) and ``patrol_routes`` (lines), each with its date."""
    stops = plan_tables(plan)["stops"]
    points = gpd.points_from_xy(stops["lon"].astype(float), stops["lat"].astype(float))
    return {
        "patrol_stops": gpd.GeoDataFrame(stops.assign(date=plan.date), geometry=points, crs=WGS84),
        "patrol_routes": _routes(plan).assign(date=plan.date),
    }
