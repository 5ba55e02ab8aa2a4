"""The audit table: who did or tried what, when, from where (refusals and every write), kept in the store."""

from __future__ import annotations

from gridmgmt.store.audit import read, record

__all__ = ["read", "record"]
