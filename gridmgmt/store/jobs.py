"""The service's background jobs in the store: one row a job (state, progress, result, error, heartbeat)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gridmgmt.store.engine import read_connection, write_transaction
from gridmgmt.store.service_schema import service_jobs

UNFINISHED = ("queued", "running")


def add_job_row(
    engine: sa.Engine,
    *,
    job_id: str,
    owner: str,
    title: str,
    state: str,
    started: datetime,
    process: str,
    now: datetime,
    keep_days: float,
) -> None:
    """Store a new job (deleting the ended ones started more than ``keep_days`` before ``now``)."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            service_jobs.delete().where(
                service_jobs.c.state.not_in(UNFINISHED), service_jobs.c.started < now - timedelta(days=keep_days)
            )
        )
        conn.execute(
            service_jobs.insert().values(
                job_id=job_id, owner=owner, title=title, state=state, started=started, heartbeat=now, process=process
            )
        )


def job_row(engine: sa.Engine, job_id: str) -> dict[str, Any] | None:
    """The row of a job, or None."""
    with read_connection(engine, "store") as conn:
        row = conn.execute(sa.select(service_jobs).where(service_jobs.c.job_id == job_id)).mappings().first()
    return dict(row) if row else None


def update_job_row(engine: sa.Engine, job_id: str, **values: str) -> None:
    """Write a job's columns and renew its heartbeat."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            service_jobs.update().where(service_jobs.c.job_id == job_id).values(heartbeat=datetime.now(), **values)
        )


def fail_queued_jobs(engine: sa.Engine, job_ids: Sequence[str], error: str) -> None:
    """Record the queued ones among ``job_ids`` failed with ``error``."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            service_jobs.update()
            .where(service_jobs.c.job_id.in_(job_ids), service_jobs.c.state == "queued")
            .values(state="failed", error=error)
        )


def fail_orphan_row(engine: sa.Engine, job_id: str, heartbeat: datetime, error: str) -> None:
    """Record an unfinished job failed, unless its heartbeat changed since it was read."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            service_jobs.update()
            .where(service_jobs.c.job_id == job_id, service_jobs.c.heartbeat == heartbeat)
            .where(service_jobs.c.state.in_(UNFINISHED))
            .values(state="failed", error=error)
        )


def beat_jobs(engine: sa.Engine, job_ids: Sequence[str]) -> None:
    """Renew the heartbeat of the unfinished ones among ``job_ids``."""
    with write_transaction(engine, "store") as conn:
        conn.execute(
            service_jobs.update()
            .where(service_jobs.c.job_id.in_(job_ids), service_jobs.c.state.in_(UNFINISHED))
            .values(heartbeat=datetime.now())
        )
