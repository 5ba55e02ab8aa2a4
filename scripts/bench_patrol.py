"""Benchmark the day planner on a district: routes kept home, day lengths, stops, and a coverage simulation.

For one day (default: the demo's 2026-12-01) with the district's grids built as ``gridmgmt demo``
builds them: stops planned, mandatory visits left out, the share of stops in the visiting squad's
own grid (overall and the lowest squad), cross-grid stops by reason (and any without one: must
be 0), and day-length balance across the squads that go out (longest/shortest day, coefficient
of variation). Then the same day with a squad absent (``--absent``), and a simulation of
``--days`` working days (cycle coverage at the end, task deadlines met, mean own-grid share).

Usage::

    python scripts/bench_patrol.py [--district data/demo/district.toml] [--date 2026-12-01] \
        [--time-limit 12 | --solution-limit 2000] [--absent G05] [--days 10] [--sim-time-limit 6] \
        [--no-grids] [--skip-sim] [--out scripts/results/bench_patrol.csv]

``--no-grids`` plans without grids (every squad may visit anyone, as ``patrol simulate`` does on
the demo, whose retailers carry no grid id), for comparing with the earlier coverage figures.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from gridmgmt.grids.build import build_grids
from gridmgmt.io import write_csv
from gridmgmt.ops.district import load_district
from gridmgmt.patrol.day_model import PATROL_PARAMS
from gridmgmt.patrol.plan import PatrolPlan, plan_day
from gridmgmt.patrol.simulate import simulate
from gridmgmt.risk.district_risk import score_risk

logger = logging.getLogger("bench_patrol")


def day_measures(plan: PatrolPlan) -> dict:
    """Own-grid share, cross-grid reasons, day-length balance and counts of one day's plan."""
    stops, summary = plan.stops, plan.summary
    used = summary.loc[summary["visits"] > 0]
    days = used["day_min"].astype(float)
    with_grid = stops["grid_id"].notna() if len(stops) else pd.Series(dtype=bool)
    cross = stops.loc[with_grid & (stops["cross_grid_reason"] != "")] if len(stops) else stops
    outside = 0
    if len(stops):
        squad_grid = summary.set_index("squad_id")["grid_id"]
        outside_rows = stops.loc[with_grid & (stops["grid_id"] != stops["squad_id"].map(squad_grid))]
        outside = int((outside_rows["cross_grid_reason"] == "").sum())
    kinds = cross["cross_grid_reason"].str.split(": ", n=1).str[1].value_counts().to_dict() if len(cross) else {}
    shares = summary["own_grid_share"].dropna()
    return {
        "stops": len(stops),
        "mandatory_unplanned": len(plan.mandatory_unplanned()),
        "own_grid_share": float(summary["own_grid_stops"].sum()) / len(stops) if len(stops) else math.nan,
        "own_grid_share_min_squad": float(shares.min()) if len(shares) else math.nan,
        "cross_grid_stops": len(cross),
        "cross_grid_without_reason": outside,
        "cross_grid_reasons": "; ".join(f"{k}: {v}" for k, v in kinds.items()),
        "squads_out": len(used),
        "day_max_min": float(days.max()) if len(days) else math.nan,
        "day_min_min": float(days.min()) if len(days) else math.nan,
        "day_max_over_min": float(days.max() / days.min()) if len(days) and days.min() > 0 else math.nan,
        "day_cv": float(days.std(ddof=0) / days.mean()) if len(days) else math.nan,
        "travel_min": float(summary["travel_min"].sum()),
        "objective": sum(run.result.objective for run in plan.runs),
        "runtime_s": round(plan.runtime_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--district", default="data/demo/district.toml")
    ap.add_argument("--date", default="2026-12-01")
    ap.add_argument("--time-limit", type=float, default=12.0, help="day plan seconds (as the demo)")
    ap.add_argument("--solution-limit", type=int, default=None, help="deterministic day plan instead")
    ap.add_argument("--absent", default="G05", help="squad id (or staff ids, comma-separated) absent; '' to skip")
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--sim-time-limit", type=float, default=6.0)
    ap.add_argument("--no-grids", action="store_true")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seed-with", default=None, help="SearchParams.seed_with of the day plan ('' or 'pyvrp')")
    ap.add_argument("--seed-iterations", type=int, default=None, help="SearchParams.seed_iterations")
    ap.add_argument("--out", default="scripts/results/bench_patrol.csv")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    district = load_district(args.district)
    risk = score_risk(district, args.date)
    grids = None
    if not args.no_grids:
        t0 = time.perf_counter()
        grids = build_grids(district, seed=args.seed, risk_level=risk.set_index("retailer_id")["level"]).as_frame()
        print(f"grids: {len(grids)} in {time.perf_counter() - t0:.1f} s", flush=True)
    limits = (
        {"time_limit_s": None, "solution_limit": args.solution_limit}
        if args.solution_limit
        else {"time_limit_s": args.time_limit}
    )
    asked = (("seed_with", args.seed_with), ("seed_iterations", args.seed_iterations))
    tuning = {k: v for k, v in asked if v is not None}
    if tuning:
        limits["params"] = replace(PATROL_PARAMS, **tuning)
    rows: list[dict] = []

    def report(row: dict) -> None:
        rows.append(row)
        print(", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        write_csv(pd.DataFrame(rows), Path(args.out))

    scenarios = [("day", ())]
    if args.absent:
        scenarios.append((f"day, {args.absent} absent", tuple(a for a in args.absent.split(",") if a)))
    for name, absent in scenarios:
        plan = plan_day(district, args.date, risk=risk, grids=grids, absent=absent, seed=args.seed, **limits)
        report({"scenario": name, "grids": grids is not None, **tuning, **day_measures(plan)})

    if not args.skip_sim:
        sim = simulate(
            district, args.date, args.days, risk=risk, grids=grids, time_limit_s=args.sim_time_limit, seed=args.seed
        )
        daily = sim.daily
        report(
            {
                "scenario": f"simulation, {args.days} days",
                "grids": grids is not None,
                "stops": int(daily["planned"].sum()),
                "mandatory_unplanned": int(daily["mandatory_unplanned"].sum()),
                "own_grid_share": float(np.nanmean(daily["own_grid_share"])) if grids is not None else math.nan,
                "within_cycle_end": sim.within_cycle_end,
                "deadlines_met": sim.deadlines_met,
                "day_max_min": float(daily["max_day_min"].max()),
                "runtime_s": round(sim.runtime_s, 1),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
