"""Benchmark a province on Dask: 8 districts sequential vs 2 local workers, and the 40-district province.

Phases run selectively (``--phase``) and every phase appends its numbers to
``<work>/bench_province.json`` as soon as it ends, so a long run reports partial results:

  gen8      generate 8 districts of about 5,000 retailers each (mean; city, ordinary and rural mixed)
  seq8      run them with --scheduler none (one process, one task at a time)
  par8      run them on a LocalCluster of --workers workers (default 2)
  gen40     generate the 40-district province (about 300,000 retailers)
  run40     run it end to end on the LocalCluster

For each run: wall time, the sum of task times per step, the peak memory per worker (MB, the
largest per-task peak of that worker process), and the model ``T(N) ~ max(sum of task times / N,
longest district chain)`` for N = 1, 2, 4, 8, 16, 40 workers.

    .venv/bin/python scripts/bench_province.py --work out/bench_province --phase gen8,seq8,par8
    .venv/bin/python scripts/bench_province.py --work out/bench_province --phase gen40,run40 --solution-limit 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from gridmgmt.demo.province import generate_province
from gridmgmt.province import STEPS, StepOptions, find_districts, run_province


def _load() -> str:
    """The 1-minute load average and core count: the machine may be shared."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def _record(work: Path, phase: str, numbers: dict) -> None:
    path = work / "bench_province.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[phase] = numbers
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(f"{phase}: {json.dumps(numbers, ensure_ascii=False)}", flush=True)


def _summary(status: pd.DataFrame, wall_s: float) -> dict:
    """Per-step task seconds, peak memory per worker, and the N-worker time model from the task times."""
    per_step = status.groupby("step")["seconds"].sum().reindex(list(STEPS)).dropna().round(1).to_dict()
    chains = status.groupby("district")["seconds"].sum()
    total = float(status["seconds"].sum())
    model = {n: round(max(total / n, float(chains.max())), 1) for n in (1, 2, 4, 8, 16, 40)}
    return {
        "wall_s": round(wall_s, 1),
        "task_s_total": round(total, 1),
        "task_s_per_step": per_step,
        "longest_district_s": round(float(chains.max()), 1),
        "peak_memory_mb_per_worker": status.groupby("worker")["peak_memory_mb"].max().round(0).to_dict(),
        "failed": int((status["status"] != "ok").sum()),
        "model_T_of_N_workers_s": model,
    }


def _generate(work: Path, name: str, n: int, per_district: int) -> None:
    started = time.perf_counter()
    generate_province(work / name, n, retailers_per_district=per_district)
    retailers = int(pd.read_csv(work / name / "province.csv")["n_retailers"].sum())
    _record(
        work, f"gen{n}", {"districts": n, "retailers": retailers, "wall_s": round(time.perf_counter() - started, 1)}
    )


def _run(work: Path, name: str, phase: str, scheduler: str, workers: int, options: dict) -> None:
    out = work / f"out_{phase}"
    shutil.rmtree(out, ignore_errors=True)  # a run into an earlier run's folder finds its stores full
    load_before = _load()
    started = time.perf_counter()
    result = run_province(
        find_districts(str(work / name / "d*")),
        out,
        scheduler=scheduler,
        workers=workers,
        options=options,
        on_start=lambda n, dash: print(
            f"{phase}: {n} tasks on {scheduler}" + (f", {dash}" if dash else ""), flush=True
        ),
        on_row=lambda r: print(f"  {r['district']} {r['step']} {r['status']} {r['seconds']:.1f}s", flush=True),
    )
    numbers = _summary(result.status, time.perf_counter() - started)
    numbers.update(scheduler=scheduler, workers=workers if scheduler == "local" else 1, before=load_before)
    numbers["after"] = _load()
    _record(work, phase, numbers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "bench_province")
    parser.add_argument("--phase", default="gen8,seq8,par8", help="comma-separated: gen8,seq8,par8,gen40,run40")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--solution-limit", type=int, default=200, help="route solutions per district and day")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    options = StepOptions(solution_limit=args.solution_limit)
    for phase in [p.strip() for p in args.phase.split(",") if p.strip()]:
        if phase == "gen8":
            _generate(args.work, "p8", 8, 5000)
        elif phase == "seq8":
            _run(args.work, "p8", "seq8", "none", 1, options)
        elif phase == "par8":
            _run(args.work, "p8", "par8", "local", args.workers, options)
        elif phase == "gen40":
            _generate(args.work, "p40", 40, 7500)
        elif phase == "run40":
            _run(args.work, "p40", "run40", "local", args.workers, options)
        else:
            parser.error(f"unknown phase {phase!r}")
    data = json.loads((args.work / "bench_province.json").read_text())
    if "seq8" in data and "par8" in data:
        speedup = data["seq8"]["wall_s"] / data["par8"]["wall_s"]
        print(f"speed-up 8 districts, {data['par8']['workers']} workers vs sequential: {speedup:.2f}x")


if __name__ == "__main__":
    main()
