"""Background jobs with progress: the squad leader's day plan runs in a worker thread while pages poll it."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridmgmt.service.security import scrub_paths

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One background job: its state, the last progress text and, when done, the result or the error."""

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
            "progress": self.progress[-20:],
            "result": self.result if isinstance(self.result, (str, int, float, dict, type(None))) else str(self.result),
            "error": self.error,
            "started": self.started.isoformat(timespec="seconds"),
        }


class Jobs:
    """A small pool (one worker: a day plan uses the CPU fully) keeping the last jobs in memory."""

    def __init__(self, workers: int = 1, keep: int = 50) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridmgmt-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def submit(self, owner: str, title: str, work: Callable[[Callable[[str], None]], Any]) -> Job:
        """Run ``work(progress)`` in the background; ``progress(text)`` adds a line the page shows."""
        job = Job(job_id=uuid.uuid4().hex[:12], owner=owner, title=title)
        with self._lock:
            self._jobs[job.job_id] = job
            for old in list(self._jobs)[: max(0, len(self._jobs) - self._keep)]:
                if self._jobs[old].state in ("done", "failed"):
                    del self._jobs[old]

        def run() -> None:
            job.state = "running"
            try:
                job.result = work(job.progress.append)
                job.state = "done"
            except Exception as exc:  # a failed plan is shown to its owner, never kills the server
                log.exception("job %s failed", job.job_id)
                job.error = scrub_paths(f"{type(exc).__name__}: {exc}")  # shown to the user: no server paths
                job.state = "failed"

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None."""
        return self._jobs.get(job_id)

    def shutdown(self) -> None:
        """Stop accepting jobs; running ones finish in their thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)
