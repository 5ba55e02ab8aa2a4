"""Benchmark the patrol solver core on Solomon VRPTW instances (VRPLIB format).

Objective: total distance only (DIMACS convention: Euclidean distances truncated to one
decimal, travel time = distance), fleet free up to the instance's vehicle limit. Distances
are scaled by 10 to integers, so the solver sees exactly the truncated values. Gaps are against
``bks_distance_only.csv`` of the instance folder; ``bks.csv`` (hierarchical: vehicles first) is
shown for the vehicle count only, or is the reference where a folder has no distance-only table
(``data/benchmarks/gh200``: 12 Gehring & Homberger 200-customer instances; the CSV's ``bks_kind``
says which).

Usage::

    python scripts/bench_routing.py --time-limit 10 [--instances data/benchmarks/solomon] \
        [--only C101,R101] [--mix12] [--baseline] [--pyvrp] --out scripts/results/bench_routing_x.csv

``--instances`` defaults to the Solomon folder in the repository (``data/benchmarks/solomon``,
found relative to this script).

``--mix12`` is a fixed choice of 2 instances of each class: C101 C105 C201 C205 R101 R105
R201 R205 RC101 RC105 RC201 RC205 (the first and the fifth of each class). ``--baseline``
runs the plain OR-Tools set-up (mandatory visits as hard constraints, PATH_CHEAPEST_ARC +
GUIDED_LOCAL_SEARCH, same limit). ``--pyvrp`` runs PyVRP (optional; ``pip install pyvrp``).
Without ``--baseline``/``--pyvrp`` our solver runs; pass several flags plus ``--ours`` to run
several methods, or ``--methods seeded,ortools,baseline,pyvrp`` (our solver with the PyVRP seed,
our solver with OR-Tools alone, plain OR-Tools, PyVRP alone: all methods in one run, in this
order for each instance). Instances run one after another. The CSV is rewritten after each instance.

Issue 23, 2 otherwise idle cores, all 56 at 10 s, four methods in one run: seeded 0.13%, ortools
0.64%, baseline 3.47% on 49 (7 infeasible), PyVRP 0.22% (``bench_routing_all56_10s_methods_idle.csv``);
12 Gehring & Homberger 200 (``--instances data/benchmarks/gh200``): seeded 0.25%, ortools 2.38%,
baseline 5.06% on 10, PyVRP 0.36% (``bench_routing_gh200_10s.csv``).
Earlier (2 shared cores, load 4-7): mix12 at 10 s: seeded 0.40%, ortools 1.38%, baseline 2.92%
on 8 (4 infeasible), PyVRP 0.21% (``bench_routing_mix12_10s_seeded.csv``); the other 44 at 10 s
in ``bench_routing_rest44_10s_seeded.csv``; the README has the table.

Measured before issue 23 (2 shared cores, OR-Tools 9.15, PyVRP 0.14.1; CSVs in scripts/results/):
all 56 at 10 s: ours 0.70% mean gap, 56/56 feasible (C1 0.00, C2 0.18, R1 0.54, R2 0.82, RC1 1.89,
RC2 0.90: iterated local search, two workers; before, GLS in one process: 2.53%, C1 0.70, C2 0.34,
R1 3.21, R2 3.02, RC1 4.93, RC2 2.73); baseline 4.35% on 49 feasible, 7 infeasible (R101 R102 R103
R105 R106 RC101 RC105). mix12 at 60 s: ours 0.18%, 12/12 (GLS: 0.53%); baseline 0.81% on 8,
4 infeasible; PyVRP 0.04%, 12/12. Our solver uses both cores by default (``--param workers=1``
for one); ``--alt key=value;key=value`` sets the second worker's overrides (``portfolio``).
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

from gridmgmt.io import write_csv
from gridmgmt.patrol import MaxRuntime, RoutingProblem, SearchParams, Vehicle, solve

logger = logging.getLogger("bench_routing")

MIX12 = ["C101", "C105", "C201", "C205", "R101", "R105", "R201", "R205", "RC101", "RC105", "RC201", "RC205"]
SCALE = 10  # one decimal
#: Methods of ``--methods`` that run our solver with a given ``SearchParams.seed_with``.
SEED_WITH = {"ortools": "", "seeded": "pyvrp"}
#: The Solomon instances kept in the repository.
SOLOMON = Path(__file__).resolve().parents[1] / "data" / "benchmarks" / "solomon"


def load_instance(path: Path) -> dict:
    """Read a VRPLIB VRPTW instance and return integer (x10, truncated) data."""
    import vrplib

    inst = vrplib.read_instance(str(path))
    xy = np.asarray(inst["node_coord"], dtype=np.int64)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    # floor(10 * sqrt(d2)) = floor(sqrt(100 * d2)); the correctly rounded sqrt of an integer
    # never crosses an integer boundary at these magnitudes.
    dist = np.floor(np.sqrt(100.0 * d2)).astype(np.int64)
    n = len(xy)
    service = np.broadcast_to(np.asarray(inst["service_time"]), (n,)).astype(np.float64) * SCALE
    service = np.round(service).astype(np.int64)
    service[0] = 0
    tw = np.round(np.asarray(inst["time_window"], dtype=np.float64) * SCALE).astype(np.int64)
    return {
        "name": inst["name"],
        "dist": dist,
        "service": service,
        "tw": tw,
        "demand": np.asarray(inst["demand"], dtype=np.int64),
        "capacity": int(inst["capacity"]),
        "vehicles": int(inst["vehicles"]),
    }


def to_problem(data: dict) -> RoutingProblem:
    """Our model of a Solomon instance (depot node 0, identical vehicles)."""
    vehicles = [
        Vehicle(
            start=0,
            end=0,
            shift_start=int(data["tw"][0, 0]),
            shift_end=int(data["tw"][0, 1]),
            capacity=data["capacity"],
        )
        for _ in range(data["vehicles"])
    ]
    return RoutingProblem(
        duration_matrix=data["dist"],
        vehicles=vehicles,
        service_durations=data["service"],
        time_windows=data["tw"],
        demands=data["demand"],
    )


def run_ours(data: dict, seconds: float, params: SearchParams) -> tuple[int, int, bool]:
    result = solve(to_problem(data), stop=MaxRuntime(seconds), seed=0, params=params)
    if not result.found:
        return 0, 0, False
    return result.num_vehicles_used(), result.distance(), result.is_feasible()


def run_baseline(data: dict, seconds: float) -> tuple[int, int, bool]:
    """Plain OR-Tools: hard visits, PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n, m = len(data["dist"]), data["vehicles"]
    manager = pywrapcp.RoutingIndexManager(n, m, 0)
    routing = pywrapcp.RoutingModel(manager)
    cost = routing.RegisterTransitMatrix(data["dist"].tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    transit = routing.RegisterTransitMatrix((data["dist"] + data["service"][:, None]).tolist())
    horizon = int(data["tw"][0, 1])
    routing.AddDimension(transit, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, n):
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(int(data["tw"][node, 0]), int(data["tw"][node, 1]))
    demand = routing.RegisterUnaryTransitVector(data["demand"].tolist())
    routing.AddDimensionWithVehicleCapacity(demand, 0, [data["capacity"]] * m, True, "load")
    sp = pywrapcp.DefaultRoutingSearchParameters()
    sp.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    sp.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    sp.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = routing.SolveWithParameters(sp)
    if sol is None:
        return 0, 0, False
    used = sum(not routing.IsEnd(sol.Value(routing.NextVar(routing.Start(k)))) for k in range(m))
    return used, sol.ObjectiveValue(), True


def run_pyvrp(path: Path, seconds: float) -> tuple[int, int, bool]:
    import pyvrp
    from pyvrp.stop import MaxRuntime as PyvrpMaxRuntime

    data = pyvrp.read(str(path), round_func="dimacs")
    res = pyvrp.solve(data, stop=PyvrpMaxRuntime(seconds), seed=0, display=False)
    return res.best.num_routes(), int(res.best.distance()), bool(res.is_feasible())


def _parse_value(key: str, value: str) -> object:
    """A SearchParams field value from text, typed like the field's default (tuples comma-separated)."""
    current = getattr(SearchParams(), key)
    if isinstance(current, tuple):
        return tuple(v for v in value.split(",") if v)
    if isinstance(current, bool):
        return value.lower() in {"1", "true", "yes"}
    if isinstance(current, float):
        return float(value)
    if isinstance(current, int) or current is None:
        return int(value)
    return value


def parse_params(items: list[str], alternates: list[str] = ()) -> SearchParams:
    """``key=value`` overrides of SearchParams; each ``alternates`` entry (``key=value;key=value``) is
    one ``portfolio`` entry (the settings of worker 1, 2, ...)."""
    kwargs: dict[str, object] = {}
    for item in items:
        key, _, value = item.partition("=")
        kwargs[key] = _parse_value(key, value)
    portfolio = []
    for alt in alternates:
        pairs = [p.partition("=") for p in alt.split(";") if p]
        portfolio.append({k: _parse_value(k, v) for k, _, v in pairs})
    if portfolio:
        kwargs["portfolio"] = tuple(portfolio)
    return SearchParams(**kwargs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=Path, default=SOLOMON, help="folder of *.vrp and the BKS tables")
    ap.add_argument("--time-limit", type=float, required=True, help="seconds per instance and method")
    ap.add_argument("--only", default="", help="comma-separated instance names")
    ap.add_argument("--mix12", action="store_true")
    ap.add_argument("--ours", action="store_true", help="run our solver (default unless --baseline/--pyvrp)")
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--pyvrp", action="store_true")
    ap.add_argument(
        "--methods",
        default="",
        help="comma-separated, run in this order for each instance: ours (SearchParams defaults), "
        "ortools (ours with seed_with=''), seeded (ours with seed_with='pyvrp'), baseline, pyvrp",
    )
    ap.add_argument("--param", action="append", default=[], help="SearchParams override key=value")
    ap.add_argument(
        "--alt", action="append", default=[], help="settings of worker 1, 2, ...: key=value;key=value (portfolio)"
    )
    ap.add_argument("--tag", default="ours", help="method name of our solver in the CSV")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    bks_h = pd.read_csv(args.instances / "bks.csv").set_index("instance")
    distance_only = args.instances / "bks_distance_only.csv"
    # Gehring & Homberger: only the hierarchical table (vehicles first), so the gap is against it
    bks_d = pd.read_csv(distance_only).set_index("instance") if distance_only.exists() else bks_h
    bks_kind = "distance_only" if distance_only.exists() else "hierarchical"
    if args.only:
        names = [s.strip() for s in args.only.split(",") if s.strip()]
    elif args.mix12:
        names = MIX12
    else:
        names = sorted(p.stem for p in args.instances.glob("*.vrp"))
    methods = [m for m, on in (("baseline", args.baseline), ("pyvrp", args.pyvrp)) if on]
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    elif args.ours or not methods:
        methods.insert(0, args.tag)
    params = parse_params(args.param, args.alt)

    rows = []
    for name in names:
        path = args.instances / f"{name}.vrp"
        data = load_instance(path)
        for method in methods:
            t0 = time.perf_counter()
            if method == "baseline":
                used, dist, feasible = run_baseline(data, args.time_limit)
            elif method == "pyvrp":
                used, dist, feasible = run_pyvrp(path, args.time_limit)
            elif method in SEED_WITH:
                used, dist, feasible = run_ours(data, args.time_limit, replace(params, seed_with=SEED_WITH[method]))
            else:
                used, dist, feasible = run_ours(data, args.time_limit, params)
            seconds = time.perf_counter() - t0
            bks = float(bks_d.loc[name, "distance"])
            distance = dist / SCALE
            gap = 100.0 * (distance - bks) / bks if feasible else math.nan
            rows.append(
                {
                    "instance": name,
                    "method": method,
                    "vehicles": used,
                    "distance": round(distance, 1),
                    "bks_vehicles": int(bks_d.loc[name, "vehicles"]),
                    "bks_distance": bks,
                    "bks_hier_vehicles": int(bks_h.loc[name, "vehicles"]) if name in bks_h.index else None,
                    "gap_pct": round(gap, 2),
                    "bks_kind": bks_kind,
                    "feasible": feasible,
                    "seconds": round(seconds, 2),
                }
            )
            logger.info(",".join(str(v) for v in rows[-1].values()))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write_csv(pd.DataFrame(rows), args.out)

    table = pd.DataFrame(rows)
    print(table.to_csv(index=False))
    for method, group in table.groupby("method", sort=False):
        print(
            f"{method}: mean gap {group['gap_pct'].mean():.2f}% over {int(group['feasible'].sum())} feasible "
            f"of {len(group)}; infeasible {int((~group['feasible']).sum())}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
