"""The store's light administration: the online backup and the plain handle the user commands use (no pandas)."""

from __future__ import annotations

from pathlib import Path

from gridmgmt.store.handle import StoreHandle


def backup_store(store: str | Path | None, to: str | Path) -> tuple[str, Path]:
    """A consistent copy of the store while others write; return the store's label and the copy's path."""
    with StoreHandle.open(store) as shared:
        return shared.label, shared.backup(to)


def open_handle(store: str | Path | None) -> StoreHandle:
    """The store without data frames, for the service's own tables (``gridmgmt users``: its engine)."""
    return StoreHandle.open(store)
