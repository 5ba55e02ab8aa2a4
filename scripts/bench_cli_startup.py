"""Wall time of the small commands (issue 21, item 4); prints a markdown table for the README.

Usage::

    .venv/bin/python scripts/bench_cli_startup.py [--runs 5]

Each command runs ``--runs`` times as a fresh ``gridmgmt`` process on a copy of the demo store
(so ``events add`` and ``users add`` leave the demo's own store as it was); the table gives the
median and the fastest wall time in seconds, process start and interpreter included, and the
median CPU time (user + system) of the process, which a busy machine inflates less than the wall
time. ``events list`` lists the week the runs add (start-up, not the drawing of a long
table: a month of the demo, 9,467 events, takes rich 10-15 s to lay out); ``tasks list`` lists
the open tasks as of the day after the history, ``--all --out`` also the closed ones (1,558 on
the demo) into tasks.csv. The copy is opened once before timing (an older demo store's schema
upgrade is not counted); when the demo store holds no district yet, ``store init`` loads it
into the copy first (untimed, minutes on a busy machine).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridmgmt.store.handle import StoreHandle

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "district.toml"
DEMO_STORE = ROOT / "data" / "demo" / "out" / "store.sqlite"
RETAILER = "520103100189"  # the demo's first retailer


def commands(store: Path, work: Path) -> dict[str, tuple[list[str], str]]:
    """Command name -> (arguments after ``gridmgmt``, standard input); ``{n}`` is the run number."""
    where = ["--district", str(DEMO), "--store", str(store)]
    return {
        "--help": (["--help"], ""),
        "events add": (
            ["events", "add", "--type", "complaint", "--retailer", RETAILER, "--note", "bench {n}", *where],
            "",
        ),
        "events list": (["events", "list", "--from", "2026-12-01", *where], ""),
        "tasks list": (["tasks", "list", *where], ""),
        "tasks list --all --out": (["tasks", "list", "--all", "--out", str(work / "tasks{n}"), *where], ""),
        "users add": (
            ["users", "add", "bench{n}", "--role", "planner", "--password-stdin", *where],
            "pw-bench-12345\n",
        ),
        "users list": (["users", "list", *where], ""),
        "store backup": (["store", "backup", "--to", str(work / "backup{n}.sqlite"), *where], ""),
    }


def prepare(store: Path) -> None:
    """``store``: a copy of the demo store holding the district (``store init`` into it when the demo's holds none)."""
    where = ["--district", str(DEMO), "--store", str(store)]
    if DEMO_STORE.exists():
        shutil.copy(DEMO_STORE, store)
        with StoreHandle.open(store) as shared:  # upgrades an older schema, untimed
            if shared.is_initialised():
                return
        store.unlink()
    run_s(["store", "init", *where], "")


def run_s(args: list[str], stdin: str) -> tuple[float, float]:
    """Wall and CPU seconds one ``gridmgmt`` process takes; raises when it fails."""
    exe = Path(sys.executable).with_name("gridmgmt")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"gridmgmt {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "store.sqlite"
        prepare(store)
        print("| command | median wall s | fastest wall s | median CPU s |")
        print("|---|---:|---:|---:|")
        for name, (args, stdin) in commands(store, work).items():
            times = [run_s([a.format(n=n) for a in args], stdin) for n in range(runs)]
            wall, cpu = [t[0] for t in times], [t[1] for t in times]
            median_s, cpu_s = statistics.median(wall), statistics.median(cpu)
            print(f"| `gridmgmt {name}` | {median_s:.2f} | {min(wall):.2f} | {cpu_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
