"""Child-process bodies for the store's concurrency and crash tests (importable by multiprocessing)."""

from __future__ import annotations

import time

import pandas as pd


def append_many(url: str, worker: int, count: int) -> list[str]:
    """Append ``count`` events one by one; return the ids the store acknowledged."""
    from gridmgmt.store import open_store

    acknowledged = []
    with open_store(url) as store:
        for n in range(count):
            event = store.add_event(
                retailer_id=f"R{worker}", time="2026-03-01T09:00", type="visit", department="marketing", note=f"{n}"
            )
            acknowledged.append(str(event.event_id))
    return acknowledged


def import_then_hang(url: str, frame: pd.DataFrame, inserted) -> None:
    """Import ``frame``; once rows are written inside the transaction, tell the parent and wait to be killed."""
    import sqlalchemy as sa

    from gridmgmt.store import open_store

    def _after(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            inserted.set()
            time.sleep(600)  # the parent SIGKILLs us here, inside the open transaction

    store = open_store(url)
    sa.event.listen(sa.Engine, "after_cursor_execute", _after)
    store.import_events(frame, source="big.csv")
