"""What the web service computes over its live view of a district: tasks, risk, the month's work, pages.

The service (a front door) imports no capability: it calls these, which call ``loop``, ``risk``,
``inputs`` and ``maps``. ``District`` is the type of the district it holds (settings + frames).
The pages' builders import folium and the map code on first use (the service starts without them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gridmgmt.inputs.district import District
from gridmgmt.inputs.events import effective_events
from gridmgmt.loop.cycles import due_dates
from gridmgmt.loop.tasks import task_table, update_tasks
from gridmgmt.maps.offline_assets import assets_dir
from gridmgmt.risk.district_risk import score_risk

__all__ = [
    "District",
    "due_dates",
    "effective_events",
    "live_risk",
    "overview_html",
    "risk_map_html",
    "task_table",
    "update_tasks",
    "vendor_dir",
]


def vendor_dir() -> Path:
    """The folder of the maps' scripts and styles the service serves at ``/vendor``."""
    return assets_dir()


def live_risk(district: District, events: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """Risk scores of ``district`` over ``events`` (the store's log) as of the day ``as_of``."""
    return score_risk(dataclasses.replace(district, events=events), as_of)


def overview_html(district: District, *, as_of: str, lang: str, risk: pd.DataFrame) -> str:
    """The managers' overview page of ``district`` (its events: the store's log) as of ``as_of``."""
    from gridmgmt.loop.district_loop import overview_page

    return overview_page(district, as_of=as_of, lang=lang, risk=risk)


def risk_map_html(
    district: District, risk: pd.DataFrame, *, as_of: str, lang: str, streets: Mapping[str, Mapping[str, Any]] | None
) -> str:
    """The risk map of ``district`` (folium, every asset inline) with ``risk``'s scores."""
    from gridmgmt.maps import to_offline_html
    from gridmgmt.risk.risk_map import risk_map

    m = risk_map(district.retailers, risk, as_of=as_of, boundary=district.boundary, lang=lang, streets=streets)
    return to_offline_html(m)
