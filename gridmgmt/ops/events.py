"""The shared event log's operations: open a district's store (loading it once), add and import events."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from gridmgmt import io
from gridmgmt.inputs.events import prepare_appended, with_violation_records
from gridmgmt.ops.district import load_district
from gridmgmt.store import ImportResult, SharedStore, new_event_id, open_store

log = logging.getLogger(__name__)


def district_store(district_path: str | Path, store: str | Path | None) -> SharedStore:
    """Open the shared store, loading the district's inputs into it on first use (``store init``).

    ``store`` is a path (an embedded SQLite file) or a ``postgresql://`` URL; None reads
    ``$GRIDMGMT_STORE``.
    """
    shared = open_store(store)
    if not shared.is_initialised():
        log.info("%s: loading the district's inputs into the store once (store init)", shared.label)
        district = load_district(district_path)
        shared.init_district(district, events_source=str(district.settings.path("events")))
    return shared


def add_events(
    district_path: str | Path,
    store_path: str | Path | None,
    new: pd.DataFrame,
    *,
    file: str,
    derive_violations: bool = False,
    recorded_by: str = "",
) -> pd.DataFrame:
    """Validate ``new`` events and append them to the shared store's log in one transaction.

    Only the store is read (its retailer ids and the events of the retailers named), never the
    district's whole history. Blank ids get UUIDv7 ids. With ``derive_violations``, an inspection
    with outcome ``violation`` also records the violation event (see
    :func:`gridmgmt.inputs.events.with_violation_records`).

    Raises
    ------
    InputError
        Naming the row and field of every bad value; nothing is added then.
    """
    with district_store(district_path, store_path) as shared:
        frame = new.copy()
        if "event_id" not in frame.columns:
            frame.insert(0, "event_id", "")
        blank = frame["event_id"].fillna("").astype(str).str.strip() == ""
        frame.loc[blank, "event_id"] = [new_event_id() for _ in range(int(blank.sum()))]
        named = frame["retailer_id"].dropna().astype(str).unique().tolist() if "retailer_id" in frame else []
        prior = shared.events_between(retailer_ids=named)
        # corrections are checked by the store against the whole log (prior holds the named retailers' only)
        events = prepare_appended(frame, prior, file=file, retailer_ids=shared.retailer_ids(), corrections=False)
        if derive_violations:
            events = with_violation_records(events)
        return shared.add_events(events, source=file, recorded_by=recorded_by)


def import_events(district_path: str | Path, store_path: str | Path | None, file: str | Path) -> ImportResult:
    """Import an events file into the shared store: all or nothing, and a second import adds nothing."""
    with district_store(district_path, store_path) as shared:
        return shared.import_events(io.read_table(file), source=str(file))
