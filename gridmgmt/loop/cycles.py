"""Visit cycles: when each retailer is due for a routine inspection (monopoly) or visit (marketing).

- inspection cycle, days = ``inspection_cycle_days.by_risk[level]``, shortened to
  ``inspection_cycle_days.by_class[class]`` where that is stricter;
- marketing visit cycle, days = 30 / ``visits_per_month.marketing[class]``.

A retailer never inspected (or visited) counts from its licence date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridmgmt.config import Settings


def inspection_cycle_days(retailers: pd.DataFrame, risk_level: pd.Series, settings: Settings) -> pd.Series:
    """Inspection cycle in days per retailer (indexed by retailer_id)."""
    cycles = settings.inspection_cycle_days
    ids = retailers["retailer_id"].astype(str)
    level = risk_level.reindex(ids).fillna("medium")
    by_risk = level.map(cycles.by_risk).fillna(cycles.by_risk.get("medium", 30))
    by_class = retailers.set_index("retailer_id")["customer_class"].map(cycles.by_class).reindex(ids)
    return pd.Series(np.fmin(by_risk.to_numpy(float), by_class.to_numpy(float)), index=ids).astype(int)


def visit_cycle_days(retailers: pd.DataFrame, settings: Settings) -> pd.Series:
    """Marketing visit cycle in days per retailer (indexed by retailer_id)."""
    per_month = retailers.set_index("retailer_id")["customer_class"].map(settings.visits_per_month.marketing)
    return (30.0 / per_month.fillna(1.0).clip(lower=0.1)).round().astype(int)


def last_event_dates(
    events: pd.DataFrame, retailers: pd.DataFrame, *, event_type: str, before: pd.Timestamp
) -> pd.Series:
    """Date of each retailer's last ``event_type`` before ``before``, else its licence date (NaT if unknown)."""
    ids = retailers["retailer_id"].astype(str)
    times = pd.to_datetime(events["time"])
    rows = events.loc[(events["type"] == event_type) & (times < before)]
    last = pd.to_datetime(rows.groupby("retailer_id")["time"].max()).reindex(ids)
    if "licence_date" in retailers:
        licensed = pd.to_datetime(retailers.set_index("retailer_id")["licence_date"], errors="coerce").reindex(ids)
        last = last.fillna(licensed)
    return last.dt.normalize()


def due_dates(
    retailers: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp,
    settings: Settings,
    risk_level: pd.Series | None = None,
) -> pd.DataFrame:
    """Per retailer: last inspection and visit, their cycles and due dates, and days overdue (0 when not due)."""
    as_of = pd.Timestamp(as_of).normalize()
    ids = retailers["retailer_id"].astype(str)
    level = risk_level if risk_level is not None else pd.Series("medium", index=ids)
    out = pd.DataFrame(index=pd.Index(ids, name="retailer_id"))
    out["last_inspection"] = last_event_dates(events, retailers, event_type="inspection", before=as_of)
    out["inspection_cycle_days"] = inspection_cycle_days(retailers, level, settings)
    out["inspection_due"] = out["last_inspection"] + pd.to_timedelta(out["inspection_cycle_days"], unit="D")
    out["last_visit"] = last_event_dates(events, retailers, event_type="visit", before=as_of)
    out["visit_cycle_days"] = visit_cycle_days(retailers, settings)
    out["visit_due"] = out["last_visit"] + pd.to_timedelta(out["visit_cycle_days"], unit="D")
    for kind in ("inspection", "visit"):
        overdue = (as_of - out[f"{kind}_due"]).dt.days
        out[f"{kind}_days_overdue"] = overdue.clip(lower=0).fillna(9999).astype(int)
    return out.reset_index()
