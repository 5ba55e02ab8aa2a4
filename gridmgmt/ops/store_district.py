"""A district's files and the shared store: load them into it (``store init``), import events files, export.

These read tables (pandas, geopandas); the store's light operations are :mod:`gridmgmt.ops.events`
and :mod:`gridmgmt.ops.store_admin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gridmgmt import io
from gridmgmt._errors import GridMgmtError
from gridmgmt.ops.district import load_district
from gridmgmt.store import ImportResult, SharedStore, open_store
from gridmgmt.store.engine import grant_app_role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreInit:
    """What ``store init`` did: the store, the app role granted (and whether made), the rows loaded per table."""

    label: str
    role: str = ""
    role_created: bool = False
    counts: dict[str, int] | None = None


def init_store(
    district_path: str | Path, store: str | Path | None, *, valid_from: str | None = None, app_role: str | None = None
) -> StoreInit:
    """Create the store and load the district's files into it once.

    With ``app_role`` (PostgreSQL), first let that role use the store
    (:func:`gridmgmt.store.engine.grant_app_role`); a store already holding the district is then
    left as it is. Without it the district is loaded first, so a bad district creates no store.
    """
    district = None if app_role else load_district(district_path)
    with open_store(store, create=True) as shared:
        role = ""
        created = False
        if app_role:
            role, created = app_role, grant_app_role(shared.engine, app_role, shared.label)
            if shared.is_initialised():
                return StoreInit(shared.label, role, created)
        district = district or load_district(district_path)
        counts = shared.init_district(
            district, valid_from=valid_from, events_source=str(district.settings.path("events"))
        )
    return StoreInit(shared.label, role, created, counts)


def load_into_store(district_path: str | Path, store: str | Path | None) -> None:
    """Load the district's files into a store that holds none yet (its first use after being created)."""
    with open_store(store) as shared:
        if not shared.is_initialised():
            log.info("%s: loading the district's inputs into the store once (store init)", shared.label)
            district = load_district(district_path)
            shared.init_district(district, events_source=str(district.settings.path("events")))


def district_store(district_path: str | Path, store: str | Path | None) -> SharedStore:
    """Open the shared store, loading the district's inputs into it on first use (see :func:`load_into_store`)."""
    load_into_store(district_path, store)
    return open_store(store)


def service_store(store: str | Path | None) -> SharedStore:
    """Open the shared store the web service runs over (``gridmgmt serve``); it must hold a district already."""
    shared = open_store(store)
    if not shared.is_initialised():
        shared.close()
        raise GridMgmtError(f"{shared.label}: the store holds no district yet; run `gridmgmt store init` first")
    return shared


def import_events(district_path: str | Path, store: str | Path | None, file: str | Path) -> ImportResult:
    """Import an events file into the shared store: all or nothing, and a second import adds nothing."""
    with district_store(district_path, store) as shared:
        return shared.import_events(io.read_table(file), source=str(file))


def export_store(store: str | Path | None, to: str | Path) -> tuple[Path, list[str]]:
    """Every current layer of the store in one GeoPackage; return it and the layer names."""
    with open_store(store) as shared:
        return shared.export(to)
