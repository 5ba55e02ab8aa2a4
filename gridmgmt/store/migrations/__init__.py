"""Alembic migrations of the shared store, run by :func:`gridmgmt.store.engine.upgrade` on open."""
