"""The district's stores: the shared database (event log, history, runs) and the GeoPackage layer store.

:func:`open_store` opens the shared store (an embedded SQLite file, or PostgreSQL + PostGIS);
:class:`Store` is the GeoPackage of named result layers that commands write today.
"""

from __future__ import annotations

from gridmgmt.store.eventlog import EVENT_COLUMNS, ImportResult, new_event_id
from gridmgmt.store.history import ResponsiblePair
from gridmgmt.store.layers import Store
from gridmgmt.store.runs import Run, file_hash, frame_hash
from gridmgmt.store.shared import SharedStore, open_store

__all__ = [
    "EVENT_COLUMNS",
    "ImportResult",
    "ResponsiblePair",
    "Run",
    "SharedStore",
    "Store",
    "file_hash",
    "frame_hash",
    "new_event_id",
    "open_store",
]
