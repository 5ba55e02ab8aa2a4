"""One (district, step) task: reads its district from disk, writes its outputs, returns a small status row.

A task receives paths and a few numbers, never data frames, and returns a dict of a few
hundred bytes (the row of ``status.csv``), so nothing large crosses between the scheduler and
the workers. Failures are data: a task never raises; it returns ``status="failed"`` with the
one-line message the CLI would print (the traceback of an unexpected error goes to
``<district>/errors/<step>.txt``), and the steps after it return ``status="skipped"``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from gridmgmt import io
from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.config import load_settings
from gridmgmt.ops.patrol import DETERMINISTIC_SOLUTIONS
from gridmgmt.ops.province import STEP_FUNCTIONS, STEPS, district_name

__all__ = ["STATUS_COLUMNS", "STEPS", "StepOptions", "district_name", "planning_day", "run_step"]

log = logging.getLogger(__name__)

STATUS_COLUMNS = ["district", "step", "status", "seconds", "peak_memory_mb", "message", "worker"]


class StepOptions(dict):
    """Options shared by every task (plain, picklable): ``seed``, ``solution_limit``, ``lang``."""

    def __init__(self, *, seed: int = 0, solution_limit: int = DETERMINISTIC_SOLUTIONS, lang: str = "zh") -> None:
        super().__init__(seed=seed, solution_limit=solution_limit, lang=lang)


def planning_day(district_toml: str | Path, date: str | None) -> str:
    """``date``, else the day after the district's ``history_end`` (as ``gridmgmt demo`` plans)."""
    if date:
        return pd.Timestamp(date).date().isoformat()
    end = load_settings(district_toml).history_end
    if not end:
        raise InputError(f"{district_toml}: no history_end in district.toml; give the planning day with --date")
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()


class _PeakMemory:
    """Peak resident memory (MB) of this process while a block runs, sampled every 50 ms."""

    def __init__(self) -> None:
        self._proc = psutil.Process(os.getpid())
        self.peak_mb = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> float:
        return self._proc.memory_info().rss / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mb = max(self.peak_mb, self._rss())

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


def run_step(
    step: str, district_toml: str, out_dir: str, date: str | None, options: dict, *upstream: dict
) -> dict[str, Any]:
    """Run one step of one district and return its status row (never raises).

    Parameters
    ----------
    step
        One of :data:`STEPS`.
    district_toml
        Path of the district's district.toml.
    out_dir
        The province output folder; this district writes into ``out_dir/<district>/``.
    date
        Planning day ``YYYY-MM-DD``, or None for the day after the district's history.
    options
        :class:`StepOptions`.
    upstream
        Status rows of the steps this one needs; if one is not ``ok`` this step is skipped.

    Returns
    -------
    dict
        ``district, step, status (ok|failed|skipped), seconds, peak_memory_mb, message, worker``.
    """
    name = district_name(district_toml)
    row: dict[str, Any] = {"district": name, "step": step, "status": "ok", "seconds": 0.0, "peak_memory_mb": 0.0}
    row["message"] = ""
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    blocked = [u for u in upstream if u["status"] != "ok"]
    if blocked:
        row.update(status="skipped", message=f"not run: {blocked[0]['step']} {blocked[0]['status']}")
        return row
    out = Path(out_dir) / name
    started = time.perf_counter()
    with _PeakMemory() as memory:
        try:
            row["message"] = STEP_FUNCTIONS[step](Path(district_toml), out, planning_day(district_toml, date), options)
        except GridMgmtError as exc:
            row.update(status="failed", message=_one_line(str(exc)))
        except Exception as exc:  # a task boundary, like the CLI's: one line here, the traceback in a file
            where = _write_traceback(out, step, exc)
            row.update(status="failed", message=_one_line(f"{type(exc).__name__}: {exc} (details in {where})"))
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["peak_memory_mb"] = round(memory.peak_mb, 1)
    log.info("%s %s: %s in %.1f s", name, step, row["status"], row["seconds"])
    return row


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _write_traceback(out: Path, step: str, exc: Exception) -> str:
    try:
        return str(io.write_text("".join(traceback.format_exception(exc)), out / "errors" / f"{step}.txt"))
    except OSError:
        return "the worker's log"
