"""The district's stores: the shared database (event log, history, runs) and the GeoPackage layer store.

:func:`open_store` opens the shared store (an embedded SQLite file, or PostgreSQL + PostGIS);
:class:`StoreHandle` is the same store without data frames (the small commands);
:class:`Store` is the GeoPackage of named result layers that commands write today.

The names below load their module on first use: ``import gridmgmt.store.handle`` loads neither
pandas nor geopandas, and ``from gridmgmt.store import open_store`` loads what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridmgmt.store.eventframes import ImportResult
    from gridmgmt.store.eventlog import new_event_id
    from gridmgmt.store.handle import StoreHandle
    from gridmgmt.store.history import ResponsiblePair
    from gridmgmt.store.layers import Store
    from gridmgmt.store.runs import Run, file_hash, frame_hash
    from gridmgmt.store.shared import SharedStore, open_store
    from gridmgmt.store.validate import EVENT_COLUMNS

#: Each public name and the module it lives in.
_HOMES = {
    "EVENT_COLUMNS": "validate",
    "ImportResult": "eventframes",
    "ResponsiblePair": "history",
    "Run": "runs",
    "SharedStore": "shared",
    "Store": "layers",
    "StoreHandle": "handle",
    "file_hash": "runs",
    "frame_hash": "runs",
    "new_event_id": "eventlog",
    "open_store": "shared",
}
__all__ = [
    "EVENT_COLUMNS",
    "ImportResult",
    "ResponsiblePair",
    "Run",
    "SharedStore",
    "Store",
    "StoreHandle",
    "file_hash",
    "frame_hash",
    "new_event_id",
    "open_store",
]


def __getattr__(name: str) -> object:
    """Load ``name``'s module on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
