"""One (district, step) task: reads its district from disk, writes its outputs, returns a small status row.

A task receives paths and a few numbers, never data frames, and returns a dict of a few
hundred bytes (the row of ``status.csv``), so nothing large crosses between the scheduler and
the workers. Failures are data: a task never raises; it returns ``status="failed"`` with the
one-line message the CLI would print (the traceback of an unexpected error goes to
``<district>/errors/<step>.txt``), and the steps after it return ``status="skipped"``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from gridmgmt import io
from gridmgmt._errors import GridMgmtError, InputError
from gridmgmt.config import load_settings
from gridmgmt.grids.plan import load_grids
from gridmgmt.inputs.district import District, load_district
from gridmgmt.inputs.validate import validate_inputs
from gridmgmt.loop.district_loop import responsibility
from gridmgmt.patrol.day_model import PATROL_PARAMS
from gridmgmt.patrol.plan import DETERMINISTIC_SOLUTIONS
from gridmgmt.pipeline import plan_patrol, run_grids, run_risk, write_overview, write_responsibility
from gridmgmt.risk.district_risk import score_risk, violation_points

__all__ = ["STATUS_COLUMNS", "STEPS", "StepOptions", "district_name", "planning_day", "run_step"]

log = logging.getLogger(__name__)

#: Every step, in the order a district runs them; each needs the one before it (see graph.py).
STEPS: tuple[str, ...] = ("validate", "risk", "grids", "plan", "maps")
STATUS_COLUMNS = ["district", "step", "status", "seconds", "peak_memory_mb", "message", "worker"]


class StepOptions(dict):
    """Options shared by every task (plain, picklable): ``seed``, ``solution_limit``, ``lang``."""

    def __init__(self, *, seed: int = 0, solution_limit: int = DETERMINISTIC_SOLUTIONS, lang: str = "zh") -> None:
        super().__init__(seed=seed, solution_limit=solution_limit, lang=lang)


def district_name(district_toml: str | Path) -> str:
    """A district's name in the province: the folder holding its district.toml."""
    return Path(district_toml).resolve().parent.name


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
            row["message"] = _STEP_FUNCTIONS[step](Path(district_toml), out, planning_day(district_toml, date), options)
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


# ----------------------------------------------------------------------------- the steps


def _validate(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Check every input file (``gridmgmt validate -d``); writes validation.txt."""
    report = validate_inputs(None, district=district_toml)
    lines = [f"{p.severity}: {p}" for p in report.problems] + [report.summary()]
    io.write_text("\n".join(lines) + "\n", out / "validation.txt")
    if not report.ok:
        raise InputError(report.errors)
    return f"{len(report.warnings)} warnings"


def _risk(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Scores, hotspots and the risk map (``gridmgmt risk``), plus the violations the province map pools."""
    district = load_district(district_toml)
    scores = score_risk(district, date)
    result = run_risk(
        district,
        date,
        out / "risk",
        lang=options["lang"],
        seed=options["seed"],
        map_path=out / "risk_map.html",
        scores=scores,
        store=out / "store.sqlite",
    )
    points = violation_points(district, date)[["retailer_id", "lon", "lat", "severity"]]
    io.write_csv(points, out / "risk" / "violations.csv")
    high = int((scores["level"] == "high").sum())
    return f"{len(scores)} scored, {high} high, {len(result.hotspot_cells)} hotspot cells"


def _grids(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """Balanced grids weighted by the risk levels (as ``gridmgmt demo``); grids.gpkg and the grid map."""
    district = load_district(district_toml)
    risk = pd.read_csv(out / "risk" / "risk.csv", dtype={"retailer_id": str, "level": str})
    grids = run_grids(
        district, out / "grids", seed=options["seed"], risk=risk, map_path=out / "grid_map.html", lang=options["lang"]
    )
    balance = grids["workload_min"].max() / grids["workload_min"].min()
    return f"{len(grids)} grids, balance {balance:.3f}"


ONE_CORE_SEARCH = dataclasses.replace(PATROL_PARAMS, workers=1)


def _plan(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """The day's joint routes (``gridmgmt patrol plan --solution-limit``): reproducible on any worker."""
    district = load_district(district_toml)
    plan, _ = plan_patrol(
        district,
        date,
        out / "patrol",
        grids=load_grids(out / "grids"),
        lang=options["lang"],
        store=out / "store.sqlite",
        seed=options["seed"],
        time_limit_s=None,
        solution_limit=options["solution_limit"],
        params=ONE_CORE_SEARCH,  # Dask runs one task per core: the solver's second worker would oversubscribe it
    )
    return f"{len(plan.stops)} visits, {len(plan.unplanned)} left for later days"


def _maps(district_toml: Path, out: Path, date: str, options: dict) -> str:
    """The district's overview page and responsibility tables (the maps come with risk, grids and plan)."""
    district: District = load_district(district_toml)
    scores = score_risk(district, date)
    grids = load_grids(out / "grids")
    cells = io.read_layer(out / "risk" / "hotspots.geojson")
    report = responsibility(district, as_of=date, risk=scores, grids=grids)
    write_responsibility(report, out / "responsibility")
    write_overview(
        district,
        out / "overview.html",
        as_of=date,
        risk=scores,
        grids=grids,
        hotspot_cells=cells,
        report=report,
        links={"risk_map": "risk_map.html", "grid_map": "grid_map.html"},
    )
    overdue = report.tables()["overdue_tasks"]
    return f"{len(overdue)} tasks overdue"


_STEP_FUNCTIONS: dict[str, Callable[[Path, Path, str, dict], str]] = {
    "validate": _validate,
    "risk": _risk,
    "grids": _grids,
    "plan": _plan,
    "maps": _maps,
}
