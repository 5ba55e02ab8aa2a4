"""Load a district for an operation: its settings and tables, its road network's loader, the store's events.

Follow ``district`` from here: :func:`load_district` reads the files
(:func:`gridmgmt.inputs.district.read_district`), gives the District the loader of its road network
(:func:`gridmgmt.network.district.district_network`, called on first use of ``district.graph``) and,
with a store, joins the events recorded there to the events file's. Every other ``ops`` module
takes the District it returns.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import pandas as pd

from gridmgmt._errors import InputError, Problem
from gridmgmt.inputs.district import District, read_district
from gridmgmt.inputs.validate import ValidationReport, validate_inputs
from gridmgmt.network.district import district_network
from gridmgmt.ops.network_checks import network_problems
from gridmgmt.store import open_store

__all__ = [
    "District",
    "first_planning_day",
    "has_own_grids",
    "load_district",
    "no_grids_error",
    "validate_files",
    "with_store_events",
]


def load_district(path: str | Path, *, store: str | Path | None = None) -> District:
    """Load and validate every input a district.toml names; its road network loads on first use.

    With ``store`` (the shared store: a SQLite file or a PostgreSQL URL), the events recorded there by
    ``gridmgmt events add|import`` join the event log of the district's events file.

    Raises
    ------
    InputError
        Listing every problem found, each naming its file, row and field.
    """
    district = read_district(path)
    district.network = functools.partial(district_network, district.settings, district.boundary)
    if store:
        district.events = with_store_events(district.events, store)
    return district


def with_store_events(events: pd.DataFrame, store: str | Path) -> pd.DataFrame:
    """The district's events file joined with the shared store's event log (each event once, by id).

    ``store init`` copies the file's events into the store with their ids, and ``events add`` /
    ``events import`` append there; reading both and keeping each id once gives the whole log.
    """
    with open_store(store) as shared:
        stored = shared.events_between()
    if not len(stored):
        return events
    stored = stored.loc[~stored["event_id"].isin(set(events["event_id"]))]
    columns = list(dict.fromkeys([*events.columns, *stored.columns]))
    both = pd.concat([events.reindex(columns=columns), stored.reindex(columns=columns)], ignore_index=True)
    both["time"] = pd.to_datetime(both["time"])
    for column in both.columns.difference(["time"]):
        if both[column].dtype == object:
            both[column] = both[column].fillna("")
    return both.sort_values("time", kind="stable").reset_index(drop=True)


def validate_files(
    retailers: str | Path | None,
    *,
    events: str | Path | None = None,
    district: str | Path | None = None,
    coords: str | None = None,
) -> ValidationReport:
    """Check input files and report every problem (``gridmgmt validate``; see
    :func:`gridmgmt.inputs.validate.validate_inputs`), the road network's too
    (:func:`gridmgmt.ops.network_checks.network_problems`)."""
    return validate_inputs(retailers, events=events, district=district, coords=coords, network_check=network_problems)


def first_planning_day(district: District) -> str:
    """The first day to plan (YYYY-MM-DD): the day after the history ends (district.toml ``history_end``),
    else the day after the last event, else today (a new district without history)."""
    end = district.settings.history_end
    if not end and len(district.events):
        end = str(pd.to_datetime(district.events["time"]).max().date())
    if not end:
        return date.today().isoformat()
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()


def has_own_grids(district: District) -> bool:
    """Whether the district's own tables assign grids: a filled ``grid_id`` of staff (as the demo's) or retailers."""
    return any(
        "grid_id" in table.columns and bool(table["grid_id"].notna().any())
        for table in (district.staff, district.retailers)
    )


def no_grids_error(district_path: str | Path) -> InputError:
    """The error of a command that needs grids when the district has none yet."""
    return InputError(
        Problem(
            file=str(district_path),
            message="no grids yet",
            hint=f"run `gridmgmt grids build --district {district_path}` first (or give --grids DIR)",
        )
    )
