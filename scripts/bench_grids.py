"""Benchmark the service grids: ours vs k-means and k-means-constrained, on the demo and a 50,000-retailer city.

Every method is scored on the same workload model (planning estimate) and on routed tours
(OR-Tools on the network, ``verify_workload``), each grid priced and routed for the staff pair
matched to it (its travel mode, from its depot); grids of the baselines are drawn from the same
street blocks (each block takes its retailers' majority grid) and matched to pairs on travel.
Ours is built as ``grids build`` builds it: its own routed check, then each grid's travel priced
on its routes and the grids balanced again (its "max/min plan" is on that priced model; the
baselines' on the district's model). Prints markdown tables, with the mean grid area per pair
travel mode and how far pairs start from their grid.

Usage::

    .venv/bin/python scripts/bench_grids.py [--district data/demo/district.toml] [--big 50000] [--skip-big]
    .venv/bin/python scripts/bench_grids.py --as-built-only [--seed 1]   # the demo's grids as the demo builds them

k-means-constrained is a benchmark-only dependency (``pip install k-means-constrained``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmgmt.grids.build import build_grids, plan_from_assignment, rebalance_grids
from gridmgmt.grids.plan import GridPlan, write_grid_plan
from gridmgmt.grids.verify import verify_workload
from gridmgmt.inputs.district import District
from gridmgmt.ops.district import load_district

log = logging.getLogger("bench_grids")


def _xy(district: District) -> np.ndarray:
    pts = district.retailers.to_crs(district.crs).geometry
    return np.stack([pts.x.to_numpy(), pts.y.to_numpy()], axis=1)


def kmeans_plan(district: District, k: int, seed: int) -> tuple[GridPlan, float]:
    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    lab = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(_xy(district))
    elapsed = time.perf_counter() - t0
    a = pd.DataFrame({"retailer_id": district.retailers["retailer_id"].astype(str), "grid_id": lab + 1})
    return plan_from_assignment(district, a), elapsed


def kmeans_constrained_plan(district: District, k: int, seed: int) -> tuple[GridPlan, float] | None:
    try:
        from k_means_constrained import KMeansConstrained
    except ImportError:
        log.warning("k-means-constrained not installed: pip install k-means-constrained")
        return None
    n = len(district.retailers)
    t0 = time.perf_counter()
    model = KMeansConstrained(n_clusters=k, size_min=n // k, size_max=-(-n // k), random_state=seed, n_init=2)
    lab = model.fit_predict(_xy(district))
    elapsed = time.perf_counter() - t0
    a = pd.DataFrame({"retailer_id": district.retailers["retailer_id"].astype(str), "grid_id": lab + 1})
    return plan_from_assignment(district, a), elapsed


def pair_fit(district: District, plan: GridPlan) -> dict:
    """Mean grid area per pair travel mode; share of pairs whose grid holds (or is the nearest to) their depot."""
    g = plan.grids.to_crs(district.crs)
    if "travel_mode" not in g or "depot" not in g:
        return {}
    deps = district.depots.to_crs(district.crs).set_index("depot_id").geometry
    geoms = np.asarray(g.geometry.array)
    home, dist = [], []
    for geom, dep in zip(geoms, g["depot"], strict=True):
        if dep not in deps.index:
            continue
        d_all = shapely.distance(geoms, deps[dep])
        home.append(bool(shapely.distance(geom, deps[dep]) <= d_all.min() + 1e-6))
        dist.append(shapely.distance(geom, deps[dep]) / 1000.0)
    area = g.groupby("travel_mode")["area_km2"].mean()
    out = {f"{m} km2": round(float(area[m]), 2) for m in ("walk", "ebike", "car") if m in area}
    out["depot in/nearest"] = f"{np.mean(home):.0%}" if home else ""
    out["depot dist km"] = round(float(np.mean(dist)), 2) if dist else float("nan")
    return out


def score(name: str, data: str, district: District, plan: GridPlan, elapsed: float) -> dict:
    """Planning and routed balance, contiguity (assignment-level and polygon-level), compactness, streets."""
    g = plan.grids
    w = g["workload_min"].to_numpy(dtype=float)
    m = plan.metrics
    if m.get("check_day_stride") == 1:  # the build's own check routed every working day of these grids
        routed = {"ratio": m["max_min_routed"], "cv": m["routed_cv"], "error": m["travel_error_pct"]}
        verify_s = m["check_elapsed_s"]
    else:
        t0 = time.perf_counter()
        v = verify_workload(district, plan)  # every working day
        verify_s = time.perf_counter() - t0
        routed = {"ratio": v.attrs["routed_ratio"], "cv": v.attrs["routed_cv"], "error": v.attrs["mean_abs_error_pct"]}
    # contiguity of the raw assignment: blocks of each grid's retailers connected on the block adjacency?
    pieces = np.array([len(getattr(geom, "geoms", [geom])) for geom in g.to_crs(district.crs).geometry])
    return {
        "data": data,
        "method": name,
        "K": len(g),
        "time_s": round(elapsed, 2),
        "max/min plan": round(w.max() / w.min(), 3),
        "CV plan": round(float(w.std() / w.mean()), 4),
        "max/min routed": round(routed["ratio"], 3),
        "CV routed": round(routed["cv"], 4),
        "travel err %": round(routed["error"], 1),
        "one piece": f"{int((pieces == 1).sum())}/{len(g)}",
        "PP mean": round(float(g["polsby_popper"].mean()), 3),
        "PP min": round(float(g["polsby_popper"].min()), 3),
        "on street": round(m.get("boundary_on_street", float("nan")), 3),
        **pair_fit(district, plan),
        "verify_s": round(verify_s, 1),
    }


def _markdown(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in frame.itertuples(index=False)]
    return "\n".join(lines)


def bench_district(district: District, data: str, k: int, *, seed: int, baselines: bool) -> list[dict]:
    rows = []
    t0 = time.perf_counter()
    plan = build_grids(district, k, seed=seed)  # as built (its own check and pricing); routed below like the baselines
    rows.append(score("ours (blocks + flow + local search)", data, district, plan, time.perf_counter() - t0))
    if baselines:
        km, t = kmeans_plan(district, k, seed)
        rows.append(score("k-means", data, district, km, t))
        # k-means-constrained solves a min-cost flow over n x K arcs per iteration: minutes at 50,000 x 120
        kmc = kmeans_constrained_plan(district, k, seed) if len(district.retailers) * k <= 2_000_000 else None
        if kmc is not None:
            rows.append(score("k-means-constrained (equal counts)", data, district, kmc[0], kmc[1]))
    return rows, plan


def as_built(district: District, seed: int) -> dict:
    """The demo's grids as the demo builds them: risk levels of the first planning day, the build's own check."""
    from gridmgmt.ops.district import first_planning_day
    from gridmgmt.risk.district_risk import score_risk

    scores = score_risk(district, first_planning_day(district))
    t0 = time.perf_counter()
    plan = build_grids(district, seed=seed, risk_level=scores.set_index("retailer_id")["level"])
    m = plan.metrics
    return {
        "seed": seed, "build_s": round(time.perf_counter() - t0, 1), "max/min plan": round(m["balance"], 4),
        "max/min routed": round(m["max_min_routed"], 4), "travel err %": round(m["travel_error_pct"], 1),
        "PP mean": round(m["polsby_popper_mean"], 3), "PP min": round(m["polsby_popper_min"], 3),
        "one piece": m["contiguous"], "warnings": len(m.get("warnings", [])),
    }  # fmt: skip


def churn(district: District, seed: int) -> District:
    from gridmgmt.demo import make_churn_scenario

    table = make_churn_scenario(district.retailers.drop(columns="geometry"), district.graph, district.subdistricts,
                                seed=seed)  # fmt: skip
    d = copy.copy(district)
    d.retailers = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    return d


def bench_rebalance(district: District, plan: GridPlan, data: str, *, seed: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_grid_plan(plan, tmp)
        k = len(plan.grids)
        scenarios = [("+300 new east / -100 closed old town", churn(district, seed), None),
                     (f"{k} -> {k - 1} pairs", district, k - 1)]  # fmt: skip
        for name, d, kk in scenarios:
            t0 = time.perf_counter()
            _, _, ba = rebalance_grids(d, tmp, k=kk, seed=seed)
            elapsed = time.perf_counter() - t0
            # a rebuild for comparison: share of staying retailers whose grid changed (grids matched by overlap)
            rebuilt = build_grids(d, kk or k, seed=seed).assignment.set_index("retailer_id")["grid_id"]
            old = plan.assignment.set_index("retailer_id")["grid_id"]
            common = old.index.intersection(rebuilt.index)
            from scipy.optimize import linear_sum_assignment

            ct = pd.crosstab(old[common], rebuilt[common]).to_numpy()
            r, c = linear_sum_assignment(-ct)
            rows.append({
                "data": data, "scenario": name, "time_s": round(elapsed, 2),
                "max/min before": round(ba["before"]["balance"], 3), "max/min after": round(ba["after"]["balance"], 3),
                "moved": ba["after"]["moved"], "moved share": f"{ba['after']['moved_share']:.1%}",
                "rebuild moved share": f"{1 - ct[r, c].sum() / len(common):.1%}",
                "contiguous": ba["after"]["contiguous"], "PP min after": round(ba["after"]["polsby_popper_min"], 3),
            })  # fmt: skip
    return rows


def outline_effect(district: District, plan: GridPlan) -> str:
    """Polsby-Popper of the district outline, and of grids with most / less of their perimeter on it."""
    shape = district.boundary.to_crs(district.crs).union_all()
    grids = plan.grids.to_crs(district.crs)
    on_outline = grids.boundary.intersection(shape.boundary.buffer(1.0)).length / grids.length
    pp = grids["polsby_popper"].to_numpy()
    outer = on_outline.to_numpy() >= 0.5
    return (
        f"outline PP {4 * np.pi * shape.area / shape.length**2:.2f}; {outer.sum()} grids with >= half their "
        f"perimeter on the outline: PP {', '.join(f'{v:.2f}' for v in np.sort(pp[outer]))}; the other "
        f"{(~outer).sum()}: PP mean {pp[~outer].mean():.2f}, min {pp[~outer].min():.2f}"
    )


def big_city(n: int, out: Path, seed: int, area_factor: float) -> District:
    """A synthetic city of ``n`` retailers: the demo generator inside the demo outline scaled by ``area_factor``."""
    from shapely import affinity

    from gridmgmt.demo import generate_demo
    from gridmgmt.io import read_layer, write_vector

    outline = read_layer(Path(__file__).resolve().parents[1] / "data" / "demo" / "boundary.geojson")
    metric = outline.to_crs(outline.estimate_utm_crs())
    centre = metric.union_all().centroid
    f = float(np.sqrt(area_factor))
    metric = metric.set_geometry(metric.geometry.apply(lambda g: affinity.scale(g, f, f, origin=centre)))
    out.mkdir(parents=True, exist_ok=True)
    write_vector(metric.to_crs("EPSG:4326"), out / "boundary.geojson")
    paths = generate_demo(out, seed=seed, n_retailers=n, history_days=30, boundary=out / "boundary.geojson")
    return load_district(paths["district"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--district", default="data/demo/district.toml")
    ap.add_argument("--big", type=int, default=50_000, help="retailers of the synthetic city")
    ap.add_argument("--big-k", type=int, default=120, help="grids of the synthetic city (same ~420 retailers/grid)")
    ap.add_argument(
        "--big-area-factor",
        type=float,
        default=10.0,
        help="area of the synthetic city as a multiple of the demo's (10: the demo's retailer density)",
    )
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--big-dir", help="reuse a generated city (folder with district.toml) instead of generating one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--as-built-only",
        action="store_true",
        help="only the demo's grids as the demo builds them (risk levels, routed check, PP)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("pyogrio", "gridmgmt.network", "gridmgmt.inputs.district", "gridmgmt.demo"):
        logging.getLogger(name).setLevel(logging.WARNING)

    rows: list[dict] = []
    reb: list[dict] = []
    if not args.skip_demo:
        built = as_built(load_district(args.district), args.seed)
        print("\nDemo as the demo builds it (risk levels of the first planning day, routed by the build's check):")
        print(_markdown([built]))
        if args.as_built_only:
            return
    if not args.skip_demo:
        t0 = time.perf_counter()
        demo = load_district(args.district)
        _ = demo.graph
        load_s = time.perf_counter() - t0
        k = int(demo.settings.grids.count)
        rows, plan = bench_district(demo, "demo", k, seed=args.seed, baselines=True)
        reb = bench_rebalance(demo, plan, "demo", seed=args.seed)
        print(f"\nDemo: {len(demo.retailers)} retailers, district load incl. road network {load_s:.1f} s")
        print(f"Demo outline: {outline_effect(demo, plan)}\n")
    if not args.skip_big:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            if args.big_dir:
                big = load_district(Path(args.big_dir) / "district.toml")
            else:
                big = big_city(args.big, Path(tmp), seed=7, area_factor=args.big_area_factor)
            _ = big.graph
            log.info("big city generated and loaded in %.1f s", time.perf_counter() - t0)
            name = f"{args.big:,} city, {args.big_area_factor:g}x the demo's area"
            big_rows, _ = bench_district(big, name, args.big_k, seed=args.seed, baselines=True)
            rows += big_rows
    print(_markdown(rows))
    if reb:
        print()
        print(_markdown(reb))


if __name__ == "__main__":
    main()
