"""Run every (district, step) of a province as a Dask graph: LocalCluster, an existing cluster, or in-process.

Each district is a chain of tasks ``validate -> risk -> grids -> plan -> maps`` (risk and grids
before the plan; grids after risk because their workload uses the risk levels, and so that no
two tasks of one district write its store at once); districts are independent. The same graph
runs on ``dask.distributed`` (``local`` starts a LocalCluster of one-thread worker processes,
``tcp://HOST:PORT`` uses a running scheduler) or, with ``none``, in this process on Dask's
synchronous scheduler. Tasks get paths and return small status rows (:mod:`.tasks`), so the
results do not depend on the scheduler; ``status.csv`` collects the rows.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import pandas as pd
from dask.callbacks import Callback
from dask.delayed import Delayed

from gridmgmt import io
from gridmgmt._errors import InputError
from gridmgmt.province.tasks import STATUS_COLUMNS, STEPS, StepOptions, district_name, run_step

__all__ = [
    "MAX_RESULT_BYTES",
    "ProvinceRun",
    "build_graph",
    "find_districts",
    "parse_steps",
    "run_province",
]

log = logging.getLogger(__name__)

#: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc return
#: memory to the system after nearly every free: the route search (millions of small C++
#: allocations) then runs 1.7x slower, the whole district 1.4x (measured on one worker,
#: scripts/bench_province.py). Workers keep glibc's default; peak memory stays well under 3 GB.
WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

#: The LocalCluster's settings. Besides WORKER_ENVIRON: tasks run for seconds to minutes and
#: are ordered by priority, so the scheduler's work stealing, the workers' 10 ms stack profiler
#: and their frequent memory and system polls buy nothing, while on two busy cores every
#: wake-up is taken from a task (8 districts: task seconds 279-286 -> 266, 2% above the
#: sequential run's; wall 149 -> 143 s).
LOCAL_CLUSTER_CONFIG = {
    **WORKER_ENVIRON,
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
}

#: A task result larger than this (pickled) means data is travelling instead of paths.
MAX_RESULT_BYTES = 64 * 1024


@dataclass
class ProvinceRun:
    """What :func:`run_province` did: one status row per task run, and the files written."""

    status: pd.DataFrame
    status_path: Path
    overview_path: Path | None
    dashboard: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> pd.DataFrame:
        """Rows of tasks that failed or were skipped because an earlier step failed."""
        return self.status.loc[self.status["status"] != "ok"]

    @property
    def ok(self) -> bool:
        """True when every task ran and succeeded."""
        return self.failed.empty


def find_districts(pattern: str | Sequence[str]) -> list[Path]:
    """district.toml files matched by a glob (folders holding one count too), sorted, each once.

    Raises
    ------
    InputError
        When nothing matches, or two districts share a folder name (their outputs would collide).
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    found: dict[Path, None] = {}
    for pat in patterns:
        for hit in sorted(glob.glob(os.path.expanduser(pat))):
            path = Path(hit)
            toml = path / "district.toml" if path.is_dir() else path
            if toml.name == "district.toml" and toml.exists():
                found[toml.resolve()] = None
    if not found:
        raise InputError(
            f"no district.toml matches {', '.join(patterns)}; give folders or files, e.g. --districts 'province/*'"
        )
    names: dict[str, Path] = {}
    for toml in found:
        name = district_name(toml)
        if name in names:
            raise InputError(f"two districts are named {name!r} ({names[name]} and {toml}); rename a folder")
        names[name] = toml
    return sorted(found, key=district_name)


def parse_steps(text: str | Iterable[str]) -> tuple[str, ...]:
    """Steps from ``"risk,grids"`` (or a list), in run order; unknown names raise InputError."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in items if s not in STEPS]
    if unknown or not items:
        raise InputError(f"unknown step(s) {', '.join(unknown) or '(none)'}; choose from {','.join(STEPS)}")
    return tuple(s for s in STEPS if s in items)


def build_graph(
    districts: Sequence[Path],
    out_dir: str | Path,
    *,
    steps: Sequence[str] = STEPS,
    date: str | None = None,
    options: dict | None = None,
    only: set[tuple[str, str]] | None = None,
) -> list[Delayed]:
    """One delayed task per (district, step): each step waits for the district's previous step.

    Parameters
    ----------
    districts
        district.toml paths.
    out_dir
        Province output folder.
    steps
        Steps to run (a subset of :data:`STEPS`); a step missing here is taken as done (its
        outputs must be on disk already).
    date
        Planning day for every district, or None (each district: the day after its history).
    options
        :class:`gridmgmt.province.tasks.StepOptions`.
    only
        Run only these (district, step) pairs (``--retry-failed``); the others are taken as done.

    Returns
    -------
    list of dask.delayed.Delayed
        Task keys are ``"<step>-<district>"``; every one returns a status row.
    """
    options = dict(options or StepOptions())
    nodes: list[Delayed] = []
    for toml in districts:
        name = district_name(toml)
        previous: list[Delayed] = []
        for step in STEPS:
            if step not in steps or (only is not None and (name, step) not in only):
                continue
            node = dask.delayed(run_step, pure=True)(
                step, str(toml), str(out_dir), date, options, *previous, dask_key_name=f"{step}-{name}"
            )
            nodes.append(node)
            previous = [node]
    return nodes


def run_province(
    districts: Sequence[Path],
    out_dir: str | Path,
    *,
    steps: Sequence[str] = STEPS,
    date: str | None = None,
    scheduler: str = "local",
    workers: int | None = None,
    retry_failed: bool = False,
    options: dict | None = None,
    on_start: Callable[[int, str | None], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
    overview: bool = True,
) -> ProvinceRun:
    """Run the province's graph, write ``status.csv`` and ``province.html``.

    Parameters
    ----------
    districts
        district.toml paths (:func:`find_districts`).
    out_dir
        Output folder: ``<district>/`` per district, ``status.csv``, ``province.html``.
    steps, date, options
        See :func:`build_graph`.
    scheduler
        ``"local"`` (a LocalCluster of ``workers`` one-thread processes; default one per core),
        ``"none"`` (this process, one task at a time) or a scheduler address ``tcp://HOST:PORT``.
    workers
        Workers of the LocalCluster (ignored otherwise).
    retry_failed
        Rerun only the tasks that did not succeed in the previous ``status.csv`` of ``out_dir``.
    on_start
        Called with (number of tasks, dashboard address or None) before they run.
    on_row
        Called with each status row as its task finishes (progress).
    overview
        Write ``province.html`` after the tasks.

    Returns
    -------
    ProvinceRun
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    status_path = out / "status.csv"
    previous = _read_status(status_path) if status_path.exists() else None
    only = None
    if retry_failed:
        if previous is None:
            raise InputError(f"{status_path}: no previous run to retry; run without --retry-failed first")
        only = {(r.district, r.step) for r in previous.itertuples() if r.status != "ok"}
    nodes = build_graph(districts, out, steps=steps, date=date, options=options, only=only)
    rows, dashboard, notes = _compute(nodes, districts, scheduler, workers, on_start, on_row)
    status = _merged_status(previous, rows, districts)
    io.write_csv(status, status_path)
    overview_path = None
    if overview:
        from gridmgmt.ops.province_overview import write_province_overview

        overview_path = write_province_overview(out, districts, status)
    return ProvinceRun(status, status_path, overview_path, dashboard, notes)


def _compute(
    nodes: list[Delayed],
    districts: Sequence[Path],
    scheduler: str,
    workers: int | None,
    on_start: Callable[[int, str | None], None] | None,
    on_row: Callable[[dict], None] | None,
) -> tuple[list[dict], str | None, list[str]]:
    """Run ``nodes`` on the chosen scheduler; the status rows in completion order, the dashboard, notes."""
    rows: list[dict] = []
    notes: list[str] = []

    def collect(row: Any) -> None:
        size = len(pickle.dumps(row))
        if size > MAX_RESULT_BYTES:  # a task returning data instead of a status row is a bug
            raise RuntimeError(f"task {row.get('step')}-{row.get('district')} returned {size} bytes")
        rows.append(row)
        if on_row is not None:
            on_row(row)

    if not nodes:
        if on_start is not None:
            on_start(0, None)
        return rows, None, notes
    if scheduler == "none":
        if on_start is not None:
            on_start(len(nodes), None)
        keys = {n.key for n in nodes}

        def posttask(key, result, dsk, state, worker_id) -> None:
            if key in keys:
                collect(result)

        with Callback(posttask=posttask):
            dask.compute(*nodes, scheduler="sync")
        return rows, None, notes
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == "local":
        has_bokeh = importlib.util.find_spec("bokeh") is not None
        if not has_bokeh:
            notes.append("no Dask dashboard: install bokeh (pip install 'bokeh>=3.1') to watch the run in a browser")
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0" if has_bokeh else None,
            )
        client = Client(cluster)
    elif scheduler.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")):
        client = Client(scheduler)
        trimming = {w: v for w, v in client.run(_malloc_trim_threshold).items() if v}
        if trimming:
            notes.append(
                f"{len(trimming)} worker(s) run with MALLOC_TRIM_THRESHOLD_={next(iter(trimming.values()))}, which"
                " makes route search about 1.7x slower; start them with the Dask setting"
                " distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null (see the README)"
            )
    else:
        raise InputError(f"unknown scheduler {scheduler!r}; use local, none or an address such as tcp://host:8786")
    try:
        dashboard = _dashboard(client)
        if on_start is not None:
            on_start(len(nodes), dashboard)
        futures = []
        # the longest chains start first, so that no worker idles at the end
        for priority, group in _largest_first(nodes, districts):
            futures += client.compute(group, priority=priority)
        for future in as_completed(futures):
            collect(future.result())
        return rows, dashboard, notes
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _malloc_trim_threshold() -> str | None:
    """The worker's MALLOC_TRIM_THRESHOLD_ (run on each worker; see :data:`WORKER_ENVIRON`)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _largest_first(nodes: list[Delayed], districts: Sequence[Path]) -> list[tuple[int, list[Delayed]]]:
    """Nodes grouped by district with a Dask priority: the district's input size in kB (larger runs first)."""
    groups: dict[str, list[Delayed]] = {}
    for node in nodes:
        groups.setdefault(str(node.key).split("-", 1)[1], []).append(node)
    folders = {district_name(toml): toml.parent for toml in districts}
    return [(district_size_kb(folders[name]), group) for name, group in groups.items()]


def district_size_kb(folder: Path) -> int:
    """Size of a district's input files (kB), a good predictor of its task times; outputs and caches excluded."""
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("out", "cache")]
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total // 1024


def _dashboard(client: Any) -> str | None:
    """The dashboard's address, or None when the scheduler serves none."""
    try:
        services = client.scheduler_info().get("services", {})
    except (OSError, KeyError):
        return None
    return client.dashboard_link if "dashboard" in services else None


def _read_status(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"district": str, "step": str, "status": str, "message": str}).fillna(
        {"message": ""}
    )


def _merged_status(previous: pd.DataFrame | None, rows: list[dict], districts: Sequence[Path]) -> pd.DataFrame:
    """This run's rows, over the previous run's for the same (district, step); districts and steps in order."""
    new = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    if previous is not None and not previous.empty:
        done = set(zip(new["district"], new["step"], strict=True))
        keep = previous.loc[[(d, s) not in done for d, s in zip(previous["district"], previous["step"], strict=True)]]
        new = pd.concat([keep.reindex(columns=STATUS_COLUMNS), new], ignore_index=True)
    order = {district_name(t): i for i, t in enumerate(districts)}
    new["_d"] = new["district"].map(lambda d: order.get(d, len(order)))
    new["_s"] = new["step"].map({s: i for i, s in enumerate(STEPS)})
    return new.sort_values(["_d", "district", "_s"], kind="stable").drop(columns=["_d", "_s"]).reset_index(drop=True)
