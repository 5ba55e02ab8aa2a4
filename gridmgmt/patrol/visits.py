"""Visit candidates for a date: what each retailer needs today, and by when.

Sources, merged into at most one joint visit per retailer:

- open tasks: a tip-off, complaint or marketing report of an anomaly with no inspection of
  that retailer since; its deadline is the event's date plus the working days in
  ``[deadlines_working_days]``; mandatory once the deadline is today or past;
- routine inspections due by cycle: the last inspection plus the cycle of the retailer's risk
  level (``inspection_cycle_days.by_risk``), shortened for weak credit classes (``by_class``);
  due within ``lookahead_days`` or overdue;
- high-risk retailers not inspected in the last ``high_risk_gap_days``.

Each candidate gets a service time (joint visit minutes by business type), a time window
(opening hours intersected with the shift, minutes after midnight) and a priority in points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmgmt.config import Settings, minutes_of_day
from gridmgmt.loop.cycles import inspection_cycle_days
from gridmgmt.loop.tasks import TASK_TYPES, deadlines, open_tasks
from gridmgmt.text import text_or_blank
from gridmgmt.vocab import EVENT_TYPES_BY_NAME

__all__ = ["TASK_TYPES", "deadlines", "inspection_cycle_days", "open_tasks", "visit_candidates"]

CHECKLIST = {
    **{t.name: t.checklist for t in EVENT_TYPES_BY_NAME.values() if t.opens_task},
    "routine": (
        "常规检查:卷烟真伪、进货渠道、许可证、向未成年人售烟",
        "routine check: genuine cigarettes, supply channel, licence, no sales to minors",
    ),
    "high_risk": ("高风险重点检查:{note}", "high-risk check: {note}"),
}
PRIORITY = {
    **{t.name: t.priority for t in EVENT_TYPES_BY_NAME.values() if t.opens_task},
    "routine": 20.0,
    "high_risk": 40.0,
}


def visit_candidates(
    retailers: pd.DataFrame,
    events: pd.DataFrame,
    *,
    date: str | pd.Timestamp,
    settings: Settings,
    risk: pd.DataFrame | None = None,
    lookahead_days: int = 3,
    high_risk_gap_days: int = 14,
) -> pd.DataFrame:
    """Candidates for a joint visit on ``date``, one row per retailer.

    Parameters
    ----------
    retailers, events
        As loaded for the district.
    date
        The day to plan; only events before it are known.
    settings
        Deadlines, cycles, service minutes and the shift.
    risk
        Optional risk table (retailer_id, level, score); without it every retailer is "medium".

    Returns
    -------
    DataFrame: retailer_id, purpose (comma-separated), mandatory, deadline, days_overdue,
    service_min, open_min, close_min (opening hours, minutes after midnight; close may be 1440),
    window_open_min, window_close_min (earliest and latest start of service: opening hours
    intersected with the shift, minus the service time at the close; empty when open > close),
    priority, checklist_zh, checklist_en, source_events.
    """
    date = pd.Timestamp(date).normalize()
    ids = retailers["retailer_id"].astype(str)
    level = risk.set_index("retailer_id")["level"].reindex(ids) if risk is not None else pd.Series("medium", index=ids)
    level = level.fillna("medium")
    rows: list[dict] = []

    tasks = open_tasks(events, before=date, settings=settings)
    for task in tasks.itertuples():
        overdue = int(np.busday_count(np.datetime64(task.deadline.date()), np.datetime64(date.date())))
        note = text_or_blank(getattr(task, "note", ""))
        rows.append(
            {
                "retailer_id": task.retailer_id,
                "purpose": task.type,
                "mandatory": task.deadline <= date,
                "deadline": task.deadline,
                "days_overdue": max(overdue, 0),
                "priority": PRIORITY[task.type] * (1 + max(-overdue, 0) ** -1 if overdue < 0 else 2 + overdue),
                "checklist_zh": CHECKLIST[task.type][0].format(note=note),
                "checklist_en": CHECKLIST[task.type][1].format(note=note),
                "source_events": task.event_id,
            }
        )

    times = pd.to_datetime(events["time"])
    inspections = events.loc[(events["type"] == "inspection") & (times < date)]
    last = pd.to_datetime(inspections.groupby("retailer_id")["time"].max()).reindex(ids)
    cycle = inspection_cycle_days(retailers, level, settings)
    licensed = pd.to_datetime(retailers.set_index("retailer_id").get("licence_date"), errors="coerce")
    since = last.fillna(licensed.reindex(ids) if licensed is not None else pd.NaT).fillna(date - pd.Timedelta(days=365))
    due = since.dt.normalize() + pd.to_timedelta(cycle.reindex(ids).to_numpy(), unit="D")
    days_to_due = (due - date).dt.days
    for rid in days_to_due.index[days_to_due <= lookahead_days]:
        overdue = int(-days_to_due[rid])
        rows.append(
            {
                "retailer_id": rid,
                "purpose": "routine",
                "mandatory": False,
                "deadline": due[rid],
                "days_overdue": max(overdue, 0),
                "priority": PRIORITY["routine"] * (1 + max(overdue, 0) / 7)
                if overdue >= 0
                else PRIORITY["routine"] * 0.5,
                "checklist_zh": CHECKLIST["routine"][0],
                "checklist_en": CHECKLIST["routine"][1],
                "source_events": "",
            }
        )

    if risk is not None:
        gap = (date - last).dt.days.fillna(10_000)
        for rid in level.index[(level == "high") & (gap >= high_risk_gap_days)]:
            reason = risk.set_index("retailer_id").loc[rid]
            rows.append(
                {
                    "retailer_id": rid,
                    "purpose": "high_risk",
                    "mandatory": False,
                    "deadline": date,
                    "days_overdue": 0,
                    "priority": PRIORITY["high_risk"] * (1 + float(reason["score"]) / 100),
                    "checklist_zh": CHECKLIST["high_risk"][0].format(note=text_or_blank(reason.get("reason_1_zh"))),
                    "checklist_en": CHECKLIST["high_risk"][1].format(note=text_or_blank(reason.get("reason_1_en"))),
                    "source_events": "",
                }
            )

    columns = [
        "retailer_id",
        "purpose",
        "mandatory",
        "deadline",
        "days_overdue",
        "priority",
        "checklist_zh",
        "checklist_en",
        "source_events",
    ]
    raw = pd.DataFrame(rows, columns=columns)
    if raw.empty:
        return raw.assign(service_min=[], open_min=[], close_min=[], window_open_min=[], window_close_min=[])
    merged = (
        raw.sort_values(["retailer_id", "priority"], ascending=[True, False])
        .groupby("retailer_id")
        .agg(
            purpose=("purpose", lambda s: ",".join(dict.fromkeys(s))),
            mandatory=("mandatory", "any"),
            deadline=("deadline", "min"),
            days_overdue=("days_overdue", "max"),
            priority=("priority", "sum"),
            checklist_zh=("checklist_zh", lambda s: ";".join(dict.fromkeys(s))),
            checklist_en=("checklist_en", lambda s: "; ".join(dict.fromkeys(s))),
            source_events=("source_events", lambda s: ",".join(x for x in s if x)),
        )
        .reset_index()
    )
    info = retailers.set_index("retailer_id").reindex(merged["retailer_id"])
    merged["service_min"] = info["business_type"].map(settings.service_min.joint).fillna(20.0).to_numpy()
    opening, closing = opening_window_min(info["open_time"], info["close_time"])
    merged["open_min"], merged["close_min"] = opening, closing
    # The window bounds the start of service: the squad arrives after opening and leaves by
    # closing, so the latest start is the closing time minus the service time. An empty
    # window (open > close) means the shop is not open long enough during the shift.
    merged["window_open_min"] = np.maximum(opening, minutes_of_day(settings.shift.start))
    merged["window_close_min"] = np.minimum(
        closing - merged["service_min"].to_numpy(), minutes_of_day(settings.shift.end)
    )
    return merged


def opening_window_min(open_time: pd.Series, close_time: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Opening hours as minutes after midnight; a close at or before the open means past midnight (24 h)."""

    def minutes(values: pd.Series) -> np.ndarray:
        parts = values.fillna("00:00").astype(str).str.split(":", expand=True)
        return parts[0].astype(int).to_numpy() * 60 + parts[1].astype(int).to_numpy()

    opening, closing = minutes(open_time), minutes(close_time)
    closing = np.where(closing <= opening, 24 * 60, closing)
    return opening, closing
