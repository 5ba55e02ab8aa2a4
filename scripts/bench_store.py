"""Benchmark the shared store on SQLite and PostgreSQL; print markdown tables for the README.

Usage::

    .venv/bin/python scripts/bench_store.py [--seconds 4] [--backends sqlite,postgresql] [--skip-2m]

1. Appends: 1, 4 and 16 writer processes each append one event at a time (a transaction each,
   as ``events add`` does) for ``--seconds``; appends per second over all writers and the
   p50/p95 latency of one append (open store excluded, commit included).
2. Scoring from the store: the demo's events imported (about 200,000), then synthesized to
   2,000,000 by repeating them with new ids, nine times, each copy two years further back.
   Times: reading the scoring window (the two years before the as-of date) and the whole log
   through ``events_between``, and the risk scores of the demo's retailers from the window.

PostgreSQL runs on a throwaway server (``tests/pg_fixtures.py``) with its durable defaults
(fsync on), so commit latency is a real server's on this machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gridmgmt.store import open_store  # noqa: E402

DEMO = ROOT / "data" / "demo" / "district.toml"
AS_OF = "2026-12-01"


def _writer(url: str, worker: int, seconds: float, start_at: float) -> list[float]:
    """Append events until ``seconds`` have passed after ``start_at``; return each append's latency (s)."""
    latencies = []
    with open_store(url) as store:
        while time.time() < start_at:
            time.sleep(0.005)
        end = start_at + seconds
        n = 0
        while time.time() < end:
            t0 = time.perf_counter()
            store.add_event(
                retailer_id=f"R{worker}", time="2026-03-01T09:00", type="visit", department="marketing", note=str(n)
            )
            latencies.append(time.perf_counter() - t0)
            n += 1
    return latencies


def bench_appends(url: str, writers: int, seconds: float) -> dict:
    """Appends/s and latency percentiles with ``writers`` concurrent processes."""
    start_at = time.time() + 1.0 + 0.1 * writers  # every process opened its store before the clock starts
    with multiprocessing.get_context("fork").Pool(writers) as pool:
        results = pool.starmap(_writer, [(url, w, seconds, start_at) for w in range(writers)])
    latencies = np.concatenate([np.asarray(r) for r in results]) * 1000
    with open_store(url) as store:
        stored = store.count_events()
    return {
        "writers": writers,
        "appends": len(latencies),
        "appends_per_s": len(latencies) / seconds,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "stored": stored,
    }


def _synthesize(store, copies: int) -> None:
    """Add ``copies`` repetitions of the log's events with new ids, copy k shifted 2k years back."""
    columns = "retailer_id, type, department, outcome, severity, violation_kind, note, extra, content_hash, source"
    with store.engine.begin() as conn:
        if store.backend == "sqlite":
            conn.exec_driver_sql("CREATE TEMP TABLE k(n INTEGER)")
            conn.exec_driver_sql("INSERT INTO k VALUES " + ",".join(f"({n})" for n in range(1, copies + 1)))
            copies_sql = "k"
            shift = "strftime('%Y-%m-%d %H:%M:%f', e.time, '-' || (k.n * 730) || ' days')"
        else:
            copies_sql = f"generate_series(1, {copies}) AS k(n)"
            shift = "e.time - make_interval(days => k.n * 730)"
        conn.exec_driver_sql(
            f"INSERT INTO events (event_id, time, corrects, recorded_at, recorded_by, {columns}) "
            f"SELECT 'S' || k.n || '-' || e.event_id, {shift}, "
            "CASE WHEN e.corrects IS NULL THEN NULL ELSE 'S' || k.n || '-' || e.corrects END, "
            f"e.recorded_at, 'bench', {', '.join('e.' + c.strip() for c in columns.split(','))} "
            f"FROM events e CROSS JOIN {copies_sql} WHERE substr(e.event_id, 1, 1) <> 'S'"
        )
        if store.backend == "postgresql":
            conn.exec_driver_sql("ANALYZE events")


def bench_scoring(url: str, district, *, with_2m: bool) -> list[dict]:
    """Import the demo's events, then time reads and scoring at about 200k and 2M events."""
    from gridmgmt.risk.district_risk import risk_inputs
    from gridmgmt.risk.scores import risk_scores

    rows = []
    with open_store(url) as store:
        t0 = time.perf_counter()
        store.import_events(district.events, source="events.csv.gz")
        import_s = time.perf_counter() - t0
        for _size, copies in (("200k", 0), ("2M", 9)):
            if copies:
                if not with_2m:
                    break
                _synthesize(store, copies)
            total = store.count_events()
            start = pd.Timestamp(AS_OF) - pd.Timedelta(days=730)
            t0 = time.perf_counter()
            window = store.events_between(start, AS_OF)
            window_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            risk_scores(replace(risk_inputs(district), events=window), as_of=AS_OF)
            score_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            everything = store.events_between(None, AS_OF)
            full_s = time.perf_counter() - t0
            rows.append(
                {
                    "events": f"{total:,}",
                    "import_s": import_s if not copies else float("nan"),
                    "read_window_s": window_s,
                    "window_events": f"{len(window):,}",
                    "score_s": score_s,
                    "read_all_s": full_s,
                    "all_events": f"{len(everything):,}",
                }
            )
    return rows


def _markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(columns) - 2)) + "|"]
    for row in rows:
        cells = [
            f"{v:.2f}" if isinstance(v, float) and not np.isnan(v) else ("" if isinstance(v, float) else str(v))
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each append run lasts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--skip-2m", action="store_true", help="only the 200k scoring row")
    args = parser.parse_args()
    from pg_fixtures import postgres_server, unavailable_reason

    from gridmgmt.ops.district import load_district

    district = load_district(DEMO)
    append_rows, score_rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            if backend == "postgresql":
                reason = unavailable_reason()
                if reason:
                    print(f"postgresql skipped: {reason}", file=sys.stderr)
                    continue
                server = postgres_server(durable=True)
                pg = server.__enter__()
                make = pg.create_database
            else:
                server = None
                make = lambda name: str(Path(folder) / f"{name}.sqlite")  # noqa: E731
            try:
                for writers in (1, 4, 16):
                    url = make(f"appends{writers}")
                    open_store(url).close()
                    append_rows.append({"backend": backend, **bench_appends(url, writers, args.seconds)})
                    print(append_rows[-1], file=sys.stderr)
                for row in bench_scoring(make("scoring"), district, with_2m=not args.skip_2m):
                    score_rows.append({"backend": backend, **row})
                    print(score_rows[-1], file=sys.stderr)
            finally:
                if server is not None:
                    server.__exit__(None, None, None)
    print("### Appends (one event per transaction)\n")
    print(_markdown(append_rows))
    print("\n### Reading and scoring the demo from the store\n")
    print(_markdown(score_rows))


if __name__ == "__main__":
    main()
