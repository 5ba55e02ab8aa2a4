"""The shared event log's light operations: record a few events and list them, as plain rows.

``events add`` and ``events list`` (and the service's single events) run through here and load
neither pandas nor geopandas: the store is opened as a :class:`gridmgmt.store.StoreHandle`.
Files of events and a store's first loading are :mod:`gridmgmt.ops.store_district`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from gridmgmt.store.eventlog import new_event_id
from gridmgmt.store.handle import StoreHandle
from gridmgmt.store.validate import check_text, text_of

log = logging.getLogger(__name__)


def _word(record: Mapping, field: str) -> str:
    """``record[field]`` as the vocabulary's word (``检查`` -> ``inspection``); unknown words unchanged."""
    return check_text(field, text_of(record.get(field)))[0]


def implied_violations(records: Sequence[Mapping]) -> list[dict]:
    """``records`` and the ``violation`` event each ``inspection`` with outcome ``violation`` implies.

    The log records a finding twice, as the inspection's outcome and as a violation event with
    its severity (as monopoly systems do): the second gets the inspection's id and ``-V``, its
    severity (``serious`` when none) and no outcome. Blank ids get new ones first.
    """
    out = [{**record, "event_id": str(record.get("event_id") or "").strip() or new_event_id()} for record in records]
    given = {(r.get("retailer_id"), r.get("time")) for r in out if _word(r, "type") == "violation"}
    for record in list(out):
        finding = _word(record, "type") == "inspection" and _word(record, "outcome") == "violation"
        if finding and (record.get("retailer_id"), record.get("time")) not in given:
            out.append(
                {
                    **record,
                    "event_id": f"{record['event_id']}-V",
                    "type": "violation",
                    "outcome": "",
                    "severity": record.get("severity") or "serious",
                    "corrects": "",
                }
            )
    return out


def add_events(
    district_path: str | Path,
    store: str | Path | None,
    records: Sequence[Mapping],
    *,
    file: str,
    derive_violations: bool = False,
    recorded_by: str = "",
) -> list[dict]:
    """Validate a few events and append them to the shared store's log in one transaction; return them as stored.

    The store checks every value (:mod:`gridmgmt.store.validate`), the retailers and the
    corrections; blank ids get UUIDv7 ids. With ``derive_violations``, an inspection with outcome
    ``violation`` also records the violation event (:func:`implied_violations`). A store that
    holds no district yet gets the district's files first (``store init``).

    Raises
    ------
    InputError
        Naming the row and field of every bad value; nothing is added then.
    StoreError
        When the store is missing or cannot be written.
    """
    rows = implied_violations(records) if derive_violations else [dict(r) for r in records]
    with StoreHandle.open(store) as shared:
        if not shared.is_initialised():
            from gridmgmt.ops.store_district import load_into_store  # pandas, geopandas: a new store only

            load_into_store(district_path, store)
        return shared.add_records(rows, source=file, recorded_by=recorded_by)


def list_events(
    store: str | Path | None,
    start: datetime | None,
    end: datetime | None = None,
    *,
    types: Sequence[str] | None = None,
    retailer_ids: Sequence[str] | None = None,
) -> list[dict]:
    """The log's events with ``start <= time < end``, oldest first (see :func:`gridmgmt.store.eventlog.event_rows`)."""
    with StoreHandle.open(store) as shared:
        return shared.event_rows(start, end, types=types, retailer_ids=retailer_ids)
