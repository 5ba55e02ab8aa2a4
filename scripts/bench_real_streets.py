"""Benchmark the real-streets walk (issue 20): a bureau's own extract and shop list, end to end.

Runs the README's "Your own district" commands as a new user would (``gridmgmt init``,
``validate``, ``grids build``, then ``patrol plan`` N times with different seeds and solution
limits) on a real OSM extract, and prints one markdown table row per extract with what issue 20
measures: the share of shop pairs each travel mode can reach, shops unreachable for the pairs'
mode, the calibration fit, planning and routed balance, utilisation, boundary on streets,
Polsby-Popper, and aborted day plans.

Usage::

    .venv/bin/python scripts/bench_real_streets.py [--plans 30] [--out out/bench_real_streets]

Without arguments it runs the two real extracts in ``tests/data/osm/`` (Monaco, whole; Wudaokou,
whole) and the clipped Monaco district.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OSM = ROOT / "tests" / "data" / "osm"

#: (name, extract, retailer list, depot lon,lat or "" to let init derive it, staff pairs): issue 20's city
#: centre with its 4 pairs, and two smaller districts with 2 (4 pairs for 130 shops get ~1.5 stops a day)
CASES = (
    ("Monaco (whole extract)", OSM / "monaco.osm.pbf", OSM / "monaco_shops.csv", "7.4200,43.7380", 4),
    ("Monaco (clipped district)", OSM / "monaco_district_clipped.osm.pbf", OSM / "monaco_district_shops.csv", "", 2),
    ("Wudaokou, Beijing (whole extract)", OSM / "wudaokou.osm", OSM / "wudaokou_shops.csv", "", 2),
)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridmgmt", *args], capture_output=True, text=True, check=False)


def reach_shares(district: Path) -> dict[str, float]:
    """Share of ordered shop pairs with a finite travel time, per travel mode."""
    from gridmgmt.network import travel_time_matrix
    from gridmgmt.ops.district import load_district

    d = load_district(district / "district.toml")
    lon, lat = d.retailers["lon"].to_numpy(float), d.retailers["lat"].to_numpy(float)
    return {
        mode: float(np.isfinite(travel_time_matrix(d.graph, (lon, lat), mode=mode)).mean())
        for mode in ("walk", "ebike", "car")
    }


def run_case(name: str, extract: Path, shops: Path, depot: str, pairs: int, *, out: Path, plans: int) -> dict:
    """The walk on one extract; returns the row of the results table."""
    folder = out / extract.name.split(".")[0]
    init = ["init", str(folder), "--retailers", str(shops), "--network", str(extract), "--pairs", str(pairs), "--force"]
    if depot:
        init += ["--depot", depot]
    t0 = time.perf_counter()
    for args in (init, ["validate", "--district", str(folder / "district.toml")]):
        done = _run(*args)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    build = _run("grids", "build", "--district", str(folder / "district.toml"))
    build_s = time.perf_counter() - t0
    if build.returncode != 0:
        raise SystemExit(f"grids build failed:\n{build.stdout}\n{build.stderr}")
    metrics = json.loads((folder / "out" / "grids" / "metrics.json").read_text(encoding="utf-8"))
    aborts = failures = 0
    for i in range(plans):
        limit = ["--solution-limit", str(20 + 10 * (i % 5))] if i % 2 else ["--time-limit", "2"]
        done = _run("patrol", "plan", "--district", str(folder / "district.toml"), "--seed", str(i), *limit,
                    "--out", str(folder / "out" / "plans" / f"p{i:02d}"))  # fmt: skip
        aborts += done.returncode < 0  # killed by a signal
        failures += done.returncode != 0
    shares = reach_shares(folder)
    return {
        "extract": name,
        "shops": len(pd.read_csv(shops)),
        "pairs": pairs,
        "pairs reachable walk/ebike/car": " / ".join(f"{shares[m]:.3f}" for m in ("walk", "ebike", "car")),
        "unreachable": metrics.get("unreachable"),
        "fit error": metrics.get("calibration_fit_error"),
        "max/min plan": metrics.get("max_min_plan"),
        "max/min routed": metrics.get("max_min_routed"),
        "utilisation": f"{metrics.get('utilisation_min')}-{metrics.get('utilisation_max')}",
        "on street": metrics.get("boundary_on_street"),
        "PP mean/min": f"{metrics['polsby_popper_mean']:.3f} / {metrics['polsby_popper_min']:.3f}",
        "init..build s": round(build_s, 1),
        f"aborts / failures in {plans} plans": f"{aborts} / {failures}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=30, help="day plans per extract (default 30)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench_real_streets")
    args = parser.parse_args()
    rows = [run_case(*case, out=args.out, plans=args.plans) for case in CASES]
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    """A markdown table of ``rows`` (floats to three decimals)."""

    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(row[key]) for key in head) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
