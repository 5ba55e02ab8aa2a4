"""Load benchmark of `gridmgmt serve` on loopback: concurrent users recording events and reading Today.

Builds a small district (300 retailers, 60 days of history) in a fresh store (SQLite, and
PostgreSQL on a throwaway server when Debian's binaries are there), starts the service in its
own process on 127.0.0.1, and runs N virtual users (asyncio + httpx), each logged in as one of
the 24 pair members, each looping: record an event for a retailer of their grid, read Today,
pause (--think-s: a person reading the screen; 0 hammers the server without pause, a stress
test). Bounded by --seconds and --max-requests. Then checks that every acknowledged event is in the
store exactly once. Prints a markdown table: requests, errors, lost events, p50/p95 of
recording and of Today, in ms.

    .venv/bin/python scripts/bench_service.py --users 50 --seconds 60
    .venv/bin/python scripts/bench_service.py --users 50 --seconds 60 --think-s 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PASSWORD = "bench password 1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(folder: Path, url: str) -> None:
    """A small district in the store at ``url`` with grids, a published plan and 24 pair users."""
    from service_fixtures import fill_store

    from gridmgmt.demo import generate_demo
    from gridmgmt.ops.district import load_district
    from gridmgmt.service import accounts

    if not (folder / "district" / "district.toml").exists():
        generate_demo(folder / "district", seed=3, n_retailers=300, history_end="2026-11-30", history_days=60)
    district = load_district(folder / "district" / "district.toml")
    store = fill_store(district, url)
    for g in range(1, 13):
        accounts.add_user(store.engine, f"bo{g}", "monopoly", PASSWORD, staff_id=f"Z{g:02d}")
        accounts.add_user(store.engine, f"bc{g}", "marketing", PASSWORD, staff_id=f"M{g:02d}")
    store.close()


def serve(district: str, url: str, port: int) -> None:
    """Run the service (the subprocess half of the benchmark)."""
    import logging

    import uvicorn

    from gridmgmt.ops.district import load_district
    from gridmgmt.service import ServiceOptions, create_app
    from gridmgmt.service.deps import KEEP_ALIVE_S
    from gridmgmt.store import open_store

    logging.basicConfig(level=logging.WARNING)
    app = create_app(load_district(district), open_store(url), options=ServiceOptions(today="2026-12-01"))
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=KEEP_ALIVE_S
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def _user(
    client, name: str, retailers: list[str], stop_at: float, budget: list[int], out: dict, think_s: float
) -> None:
    r = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    kind = {"type": "inspection", "outcome": "ok"} if name.startswith("bo") else {"type": "visit"}
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 2
        t0 = time.perf_counter()
        try:
            r = await client.post(
                "/api/events", headers=headers, json={**kind, "retailer_id": random.choice(retailers)}
            )
            out["record"].append(time.perf_counter() - t0)
            if r.status_code == 201:
                out["acked"].extend(e["event_id"] for e in r.json())
            else:
                out["errors"].append(f"record {r.status_code} {r.text[:100]}")
        except Exception as error:  # a refused or dropped connection counts as an error
            out["errors"].append(f"record {type(error).__name__}")
        t0 = time.perf_counter()
        try:
            r = await client.get("/api/today", headers=headers)
            out["today"].append(time.perf_counter() - t0)
            if r.status_code != 200:
                out["errors"].append(f"today {r.status_code}")
        except Exception as error:
            out["errors"].append(f"today {type(error).__name__}")
        if think_s > 0:  # a person reads the screen before the next tap
            await asyncio.sleep(random.uniform(0.5, 1.5) * think_s)


async def load(
    base: str, owners: dict[str, list[str]], users: int, seconds: float, max_requests: int, think_s: float
) -> dict:
    import httpx

    out: dict = {"record": [], "today": [], "acked": [], "errors": []}
    names = [f"b{d}{g}" for g in range(1, 13) for d in ("o", "c")]
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:
        stop_at = time.monotonic() + seconds
        budget = [max_requests]
        started = time.monotonic()
        await asyncio.gather(
            *(
                _user(
                    client,
                    names[i % len(names)],
                    owners[str(int(names[i % len(names)][2:]))],
                    stop_at,
                    budget,
                    out,
                    think_s,
                )
                for i in range(users)
            )
        )
        out["elapsed_s"] = time.monotonic() - started
    return out


def run_backend(label: str, folder: Path, url: str, args: argparse.Namespace) -> dict:
    prepare(folder, url)
    from gridmgmt.store import open_store

    store = open_store(url)
    owners_frame = store.assignment_on("2026-12-01")
    owners = {str(g): list(ids) for g, ids in owners_frame.groupby("grid_id")["retailer_id"]}
    before = store.count_events()
    port = _free_port()
    command = [sys.executable, __file__, "--serve", str(folder / "district" / "district.toml"), url, str(port)]
    server = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        result = asyncio.run(
            load(f"http://127.0.0.1:{port}", owners, args.users, args.seconds, args.max_requests, args.think_s)
        )
    finally:
        server.terminate()
        server.wait(20)
    log = store.events_between()
    acked = result["acked"]
    counts = log["event_id"].value_counts()
    lost = sum(1 for e in acked if counts.get(e, 0) != 1)
    store.close()
    requests = len(result["record"]) + len(result["today"])
    return {
        "backend": label,
        "users": args.users,
        "think_s": args.think_s,
        "seconds": round(result["elapsed_s"], 1),
        "requests": requests,
        "req_per_s": round(requests / result["elapsed_s"], 1),
        "events_acked": len(acked),
        "events_added": int(store_count(url) - before),
        "errors": len(result["errors"]),
        "lost": lost,
        "record_p50_ms": round(_pct(result["record"], 0.5), 1),
        "record_p95_ms": round(_pct(result["record"], 0.95), 1),
        "today_p50_ms": round(_pct(result["today"], 0.5), 1),
        "today_p95_ms": round(_pct(result["today"], 0.95), 1),
        "first_errors": "; ".join(result["errors"][:3]),
    }


def store_count(url: str) -> int:
    from gridmgmt.store import open_store

    with open_store(url) as store:
        return store.count_events()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent virtual users")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts (bound)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="requests in all (bound)")
    parser.add_argument(
        "--think-s",
        type=float,
        default=1.0,
        help="mean pause of a user after each record + Today (uniform 0.5-1.5 times it); 0: no pause (stress)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows.append(run_backend("sqlite", folder, str(folder / "bench.sqlite"), args))
            else:
                from pg_fixtures import postgres_server, unavailable_reason

                reason = unavailable_reason()
                if reason:
                    print(f"postgresql skipped: {reason}", file=sys.stderr)
                    continue
                with postgres_server(durable=True) as pg:
                    rows.append(run_backend("postgresql", folder, pg.create_database("bench_service"), args))
            print(rows[-1], file=sys.stderr)
    columns = [c for c in rows[0] if c != "first_errors"] if rows else []
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
