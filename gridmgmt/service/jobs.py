"""Background jobs with progress, kept in the store: the squad leader's day plan runs while pages poll it.

The process that starts a job runs it in its own worker thread and writes the job's row
(state, progress lines, result, error) as it goes; any process over the same store answers for
it, so ``serve --workers N`` shows a job whichever worker a poll reaches. While a job is queued
or running, its process renews the row's heartbeat every ``heartbeat_s``; a job whose heartbeat
is older than ``orphan_s`` (its process died or was stopped) is reported, and recorded, failed
instead of running forever.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gridmgmt.service.security import scrub_paths
from gridmgmt.store import jobs as rows
from gridmgmt.store.engine import Engine

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
ORPHAN_S = 60.0  # longer than a heartbeat held up by a busy store
PROGRESS_LINES = 20  # the last lines kept and shown
KEEP_DAYS = 7  # ended jobs older than this are deleted
ORPHANED = "the server process running this job stopped before it ended; start it again"
STOPPED = "the server stopped before this job started; start it again"


@dataclass
class Job:
    """One background job: its state, the last progress lines and, when done, the result or the error."""

    job_id: str
    owner: str
    title: str
    state: str = "queued"  # queued | running | done | failed
    progress: list[str] = field(default_factory=list)
    result: Any = None
    error: str = ""
    started: datetime = field(default_factory=datetime.now)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view for the API."""
        return {
            "job_id": self.job_id,
            "title": self.title,
            "state": self.state,
            "progress": self.progress[-PROGRESS_LINES:],
            "result": _json_safe(self.result),
            "error": self.error,
            "started": self.started.isoformat(timespec="seconds"),
        }


def _json_safe(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, dict, type(None))) else str(value)


class Jobs:
    """Jobs in the store's ``service_jobs`` table, run by a small pool of this process.

    Parameters
    ----------
    engine
        The store's engine.
    workers
        Jobs this process runs at once (one: a day plan uses a core fully).
    heartbeat_s, orphan_s
        How often a running process renews its jobs' heartbeat, and how old a heartbeat may get
        before the job counts as failed, seconds.
    """

    def __init__(
        self, engine: Engine, *, workers: int = 1, heartbeat_s: float = HEARTBEAT_S, orphan_s: float = ORPHAN_S
    ) -> None:
        self.engine = engine
        self.heartbeat_s = heartbeat_s
        self.orphan_s = orphan_s
        self.process = f"{socket.gethostname()}:{os.getpid()}"[:100]
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridmgmt-job")
        self._mine: set[str] = set()  # this process's queued and running jobs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def submit(self, owner: str, title: str, work: Callable[[Callable[[str], None]], Any]) -> Job:
        """Run ``work(progress)`` in the background; ``progress(text)`` adds a line the page shows."""
        job = Job(job_id=uuid.uuid4().hex[:12], owner=owner[:64], title=title[:200])
        now = datetime.now()
        rows.add_job_row(self.engine, job_id=job.job_id, owner=job.owner, title=job.title, state=job.state,
                         started=job.started, process=self.process, now=now, keep_days=KEEP_DAYS)  # fmt: skip
        with self._lock:
            self._mine.add(job.job_id)
            if self._beat is None:
                self._beat = threading.Thread(target=self._heartbeat, name="gridmgmt-job-heartbeat", daemon=True)
                self._beat.start()

        def progress(text: str) -> None:
            job.progress = [*job.progress, str(text)][-PROGRESS_LINES:]
            self._write(job.job_id, progress="\n".join(job.progress))

        def run() -> None:
            self._write(job.job_id, state="running")
            try:
                result = work(progress)
                self._write(job.job_id, state="done", result=json.dumps(_json_safe(result), ensure_ascii=False))
            except Exception as exc:  # a failed plan is shown to its owner, never kills the server
                log.exception("job %s failed", job.job_id)
                error = scrub_paths(f"{type(exc).__name__}: {exc}")  # shown to the user: no server paths
                self._write(job.job_id, state="failed", error=error)
            finally:
                with self._lock:
                    self._mine.discard(job.job_id)

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id (started by any process over the store), or None; an orphaned one is failed."""
        row = rows.job_row(self.engine, job_id)
        if row is None:
            return None
        job = Job(
            job_id=row["job_id"],
            owner=row["owner"],
            title=row["title"],
            state=row["state"],
            progress=[line for line in row["progress"].split("\n") if line],
            result=json.loads(row["result"]) if row["result"] else None,
            error=row["error"],
            started=row["started"],
        )
        if job.state in rows.UNFINISHED and datetime.now() - row["heartbeat"] > timedelta(seconds=self.orphan_s):
            job.state, job.error = "failed", ORPHANED
            self._fail_orphan(job_id, row["heartbeat"])
        return job

    def shutdown(self) -> None:
        """Stop accepting jobs; a running one finishes in its thread; queued ones are recorded failed."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._stop.set()
        with self._lock:
            mine = sorted(self._mine)
        if mine:
            rows.fail_queued_jobs(self.engine, mine, STOPPED)

    def _write(self, job_id: str, **values: str) -> None:
        rows.update_job_row(self.engine, job_id, **values)

    def _fail_orphan(self, job_id: str, heartbeat: datetime) -> None:
        """Record an orphan failed, unless its process wrote to it since it was read."""
        rows.fail_orphan_row(self.engine, job_id, heartbeat, ORPHANED)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                mine = sorted(self._mine)
            if not mine:
                continue
            try:
                rows.beat_jobs(self.engine, mine)
            except Exception:  # a busy or unreachable store: the next beat tries again
                log.warning("job heartbeat not written", exc_info=True)
