"""Benchmark the travel-time matrix: snapping and the many-to-many matrix vs a networkx baseline.

Times, on one road network and one point set (default: the demo district's retailers):

- loading the network (``gridmgmt.network.load_network``),
- snapping the points onto streets (``snap_points``),
- the full ``n x n`` matrix (``travel_time_matrix``: scipy Dijkstra on a CSR form, from
  the street nodes next to the points only), cold (array form built) and warm (cached),
- a plain networkx baseline: ``nx.single_source_dijkstra_path_length`` from each origin's
  street node, on a sample of origins, extrapolated to all ``n`` origins.

Usage::

    python scripts/bench_matrix.py --district data/demo/district.toml [--n 5000] [--mode car]
    python scripts/bench_matrix.py --network roads.osm.pbf --points retailers.csv
    python scripts/bench_matrix.py --synthetic 130      # 130 x 130 street grid, random points

Heavy on purpose (a few seconds to a minute); not part of the test suite.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from gridmgmt.config import Speeds, load_settings
from gridmgmt.coords import to_wgs84
from gridmgmt.io import read_table
from gridmgmt.network import load_network, snap_points, time_attr, travel_time_matrix

logger = logging.getLogger("bench_matrix")

#: The repository's tests folder: ``synthetic_grid`` is a test fixture there (tests/road_fixtures.py), not library code.
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"


def _points(path: Path, coords: str) -> tuple[np.ndarray, np.ndarray]:
    table = read_table(path)
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    if coords != "wgs84":
        lon, lat = to_wgs84(lon, lat, coords)
    return np.asarray(lon, float), np.asarray(lat, float)


def _inputs(args: argparse.Namespace) -> tuple[nx.MultiDiGraph, np.ndarray, np.ndarray, str, float]:
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    if args.synthetic:
        sys.path.insert(0, str(TESTS_DIR))  # the synthetic street grid is a test fixture; reach it by path
        from road_fixtures import synthetic_grid

        graph = synthetic_grid(args.synthetic, args.synthetic, seed=args.seed)
        xs = np.array([d["x"] for _, d in graph.nodes(data=True)])
        ys = np.array([d["y"] for _, d in graph.nodes(data=True)])
        lon, lat = rng.uniform(xs.min(), xs.max(), args.n), rng.uniform(ys.min(), ys.max(), args.n)
        label = f"synthetic {args.synthetic}x{args.synthetic} grid"
    else:
        if args.district:
            settings = load_settings(args.district)
            network, points, coords, speeds = (
                settings.path("network"),
                settings.path("retailers"),
                settings.coords.retailers,
                settings.speeds,
            )
        else:
            network, points, coords, speeds = Path(args.network), Path(args.points), args.coords, Speeds()
        graph = load_network(network, speeds=speeds)
        lon, lat = _points(points, coords)
        label = str(network)
    load_s = time.perf_counter() - start
    if len(lon) > args.n:
        pick = np.sort(rng.choice(len(lon), args.n, replace=False))
        lon, lat = lon[pick], lat[pick]
    elif len(lon) < args.n:
        logger.warning("only %d points available; benchmarking %d x %d", len(lon), len(lon), len(lon))
    return graph, lon, lat, label, load_s


def _baseline(graph: nx.MultiDiGraph, snapped: pd.DataFrame, mode: str, sample: int, seed: int) -> float:
    """Seconds for networkx to give one origin's times to every node (mean over ``sample`` origins)."""
    attr = time_attr(mode)
    view: nx.MultiDiGraph = graph.to_undirected(as_view=False) if mode == "walk" else graph
    rng = np.random.default_rng(seed)
    origins = snapped["v"].to_numpy()[rng.choice(len(snapped), min(sample, len(snapped)), replace=False)]
    start = time.perf_counter()
    for node in origins:
        nx.single_source_dijkstra_path_length(view, node, weight=attr)
    return (time.perf_counter() - start) / len(origins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--district", help="district.toml (network and retailers from its [files])")
    source.add_argument("--network", help="road network file (.osm, .osm.gz, .osm.pbf, .graphml); needs --points")
    source.add_argument("--synthetic", type=int, metavar="SIDE", help="a SIDE x SIDE synthetic street grid")
    parser.add_argument("--points", help="table with lon/lat columns (CSV, GeoJSON, GPKG, Parquet)")
    parser.add_argument("--coords", default="wgs84", choices=["wgs84", "gcj02", "bd09"], help="of --points")
    parser.add_argument("--n", type=int, default=5000, help="points (origins = destinations), default 5000")
    parser.add_argument("--mode", default="car", choices=["walk", "ebike", "car"])
    parser.add_argument("--workers", type=int, default=1, help="processes for Dijkstra (default 1)")
    parser.add_argument("--baseline-sample", type=int, default=100, help="origins timed for the networkx baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.network and not args.points:
        parser.error("--network needs --points")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    graph, lon, lat, label, load_s = _inputs(args)
    n = len(lon)
    start = time.perf_counter()
    snapped = snap_points(graph, lon, lat, mode=args.mode)
    snap_cold_s = time.perf_counter() - start
    start = time.perf_counter()
    snapped = snap_points(graph, lon, lat, mode=args.mode)
    snap_warm_s = time.perf_counter() - start
    start = time.perf_counter()
    matrix = travel_time_matrix(graph, snapped, mode=args.mode, workers=args.workers)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    matrix = travel_time_matrix(graph, snapped, mode=args.mode, workers=args.workers)
    warm_s = time.perf_counter() - start
    per_origin_s = _baseline(graph, snapped, args.mode, args.baseline_sample, args.seed)
    baseline_s = per_origin_s * n

    finite = np.isfinite(matrix)
    rows = [
        ("network", f"{label}: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges"),
        ("cores", f"{os.cpu_count()} (workers={args.workers})"),
        ("points", f"{n:,} ({args.mode}); median snap {np.median(snapped['snap_dist_m']):.1f} m"),
        ("load network", f"{load_s:.2f} s"),
        ("snap (first / cached index)", f"{snap_cold_s:.2f} s / {snap_warm_s:.2f} s"),
        (
            f"matrix {n}x{n} (cold / warm)",
            f"{cold_s:.2f} s / {warm_s:.2f} s, {matrix.dtype}, {matrix.nbytes / 1e6:.0f} MB",
        ),
        (
            "networkx baseline (extrapolated)",
            f"{baseline_s:.1f} s ({per_origin_s * 1e3:.1f} ms/origin x {n:,}, sample {args.baseline_sample})",
        ),
        ("speed-up vs networkx (warm)", f"{baseline_s / warm_s:.1f}x"),
        ("reachable pairs", f"{finite.mean():.2%}; median {np.median(matrix[finite]) / 60:.1f} min"),
    ]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="travel-time matrix benchmark")
        table.add_column("what")
        table.add_column("result")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    except ImportError:  # plain fallback
        width = max(len(r[0]) for r in rows)
        sys.stdout.write("\n".join(f"{a:<{width}}  {b}" for a, b in rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
