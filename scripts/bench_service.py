"""Load benchmark of `gridmgmt serve --workers N` on loopback: reads without pause, then users recording events.

Builds the bench's demo district (the demo generator, seed 3: 300 retailers, 60 days of history)
in a fresh store (SQLite, and PostgreSQL on a throwaway server when Debian's binaries are there),
with grids, a published plan and 24 pair users, each virtual user with a session of its own.
For each worker count it starts the real command (`gridmgmt serve --workers N`) on 127.0.0.1
and runs two loads of --users virtual users (asyncio), each one of the 24 pair members:

1. *reads*, no pause: each user sends the next request of a mixed read set (Today, tasks, me,
   the newest events, a retailer search) the moment the last one returns, over a plain
   keep-alive connection (httpx costs about 5 ms of CPU a request here, more than the server's
   3-4 ms, and the load shares the cores with the server): req/s, and the CPU per read of the
   server's processes and of this load generator;
2. *recording*, a person's pace (httpx): record an event for a retailer of their grid, read
   Today, pause about --think-s (uniform 0.5-1.5 times it): recording's p50/p95; then every
   acknowledged event must be in the store exactly once.

Prints a markdown table (one row per backend and worker count; speed-up against one worker).

    .venv/bin/python scripts/bench_service.py --seconds 30
    .venv/bin/python scripts/bench_service.py --backends sqlite --workers 1,2 --seconds 20
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PASSWORD = "bench password 1"
TODAY = "2026-12-01"
WARM_UP_S = 5.0
NAMES = [f"b{d}{g}" for g in range(1, 13) for d in ("o", "c")]  # the 24 pair members: officer, customer manager


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(folder: Path, url: str) -> Path:
    """The district (made once) and a store at ``url`` with grids, a published plan and the 24 pair users."""
    from service_fixtures import fill_store

    from gridmgmt.demo import generate_demo
    from gridmgmt.ops.district import load_district
    from gridmgmt.service import accounts

    toml = folder / "district" / "district.toml"
    if not toml.exists():
        generate_demo(toml.parent, seed=3, n_retailers=300, history_end="2026-11-30", history_days=60)
    store = fill_store(load_district(toml), url)
    for g in range(1, 13):
        accounts.add_user(store.engine, f"bo{g}", "monopoly", PASSWORD, staff_id=f"Z{g:02d}")
        accounts.add_user(store.engine, f"bc{g}", "marketing", PASSWORD, staff_id=f"M{g:02d}")
    store.close()
    return toml


def start_server(toml: Path, url: str, port: int, workers: int) -> subprocess.Popen:
    """`gridmgmt serve` in its own process; returns once every worker has started (its log says so)."""
    command = [sys.executable, "-m", "gridmgmt", "serve", "--district", str(toml), "--store", url, "--today", TODAY,
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(
        command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    started = threading.Semaphore(0)

    def watch() -> None:  # uvicorn logs one line per started worker on stderr; the access log goes to stdout
        assert server.stderr is not None
        for line in server.stderr:
            if "Application startup complete" in line:
                started.release()
            elif "ERROR" in line or "Traceback" in line:
                print(line, end="", file=sys.stderr)

    threading.Thread(target=watch, daemon=True).start()
    for _ in range(workers):
        if not started.acquire(timeout=300):
            server.terminate()
            raise SystemExit(f"serve --workers {workers} did not start within 300 s")
    return server


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def sessions(url: str, users: int) -> list[dict[str, str]]:
    """Bearer headers of a session for each virtual user (started in the store: the loads measure no login)."""
    from gridmgmt.service import accounts
    from gridmgmt.store import open_store

    with open_store(url) as store:
        known = {u.username: u for u in accounts.list_users(store.engine)}
        tokens = [accounts.start_session(store.engine, known[NAMES[i % len(NAMES)]])[0] for i in range(users)]
    return [{"Authorization": f"Bearer {token}"} for token in tokens]


READS = ["/api/today", "/api/tasks", "/api/me", "/api/events?limit=20", "/api/retailers?q=R0"]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, token: str) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; its status (the body is read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
    await reader.readexactly(length)
    return int(head.split(" ", 2)[1])


async def _reader(base: str, headers: dict[str, str], stop_at: float, out: dict) -> None:
    """Reads without pause over a plain keep-alive connection: httpx would cost the cores more than the server."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    token = headers["Authorization"].removeprefix("Bearer ")
    n = random.randrange(len(READS))
    try:
        while time.monotonic() < stop_at:
            n += 1
            status = await _get(reader, writer, READS[n % len(READS)], token)
            out["done"] += 1
            if status != 200:
                out["errors"].append(f"{READS[n % len(READS)]} {status}")
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
        out["errors"].append(f"read {type(error).__name__}")
    finally:
        writer.close()


async def _recorder(
    client, name: str, headers: dict[str, str], retailers: list[str], stop_at: float, out: dict, think_s: float
) -> None:
    kind = {"type": "inspection", "outcome": "ok"} if name.startswith("bo") else {"type": "visit"}
    await asyncio.sleep(random.uniform(0.0, think_s))  # users do not all tap at the same moment
    while time.monotonic() < stop_at:
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
        except Exception as error:
            out["errors"].append(f"record {type(error).__name__}")
        t0 = time.perf_counter()
        try:
            r = await client.get("/api/today", headers=headers)
            out["today"].append(time.perf_counter() - t0)
            if r.status_code != 200:
                out["errors"].append(f"today {r.status_code}")
        except Exception as error:
            out["errors"].append(f"today {type(error).__name__}")
        await asyncio.sleep(random.uniform(0.5, 1.5) * think_s)  # a person reads the screen before the next tap


async def load(
    base: str,
    server_pid: int,
    owners: dict[str, list[str]],
    headers: list[dict[str, str]],
    args: argparse.Namespace,
    *,
    reads: bool,
) -> dict:
    """One load of ``args.users`` users, measured for ``args.seconds`` after a warm-up; reads or recording."""
    import httpx

    out: dict = {"done": 0, "record": [], "today": [], "acked": [], "errors": []}
    limits = httpx.Limits(max_connections=args.users, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        stop_at = time.monotonic() + WARM_UP_S + args.seconds
        users = []
        for i in range(args.users):
            name = NAMES[i % len(NAMES)]
            if reads:
                users.append(_reader(base, headers[i], stop_at, out))
            else:
                retailers = owners[str(int(name[2:]))]
                users.append(_recorder(client, name, headers[i], retailers, stop_at, out, args.think_s))
        tasks = [asyncio.create_task(u) for u in users]
        await asyncio.sleep(WARM_UP_S)  # connections opened, each worker's caches built
        for times in (out["record"], out["today"]):
            times.clear()
        done_before, started, cpu_before = out["done"], time.monotonic(), tree_cpu_s(server_pid)
        client_before = time.process_time()
        await asyncio.gather(*tasks)
        out["elapsed_s"] = time.monotonic() - started
        out["server_cpu_s"] = tree_cpu_s(server_pid) - cpu_before
        out["client_cpu_s"] = time.process_time() - client_before  # the load generator shares the cores
        out["load_avg"] = os.getloadavg()[0]  # the machine's other work shows here (1-minute load average)
        out["measured"] = out["done"] - done_before
    return out


def run_backend(label: str, folder: Path, url: str, args: argparse.Namespace) -> list[dict]:
    """Every worker count of ``args.workers`` on one backend."""
    from gridmgmt.store import open_store

    toml = prepare(folder, url)
    with open_store(url) as store:
        owners_frame = store.assignment_on(TODAY)
    owners = {str(g): list(ids) for g, ids in owners_frame.groupby("grid_id")["retailer_id"]}
    headers = sessions(url, args.users)
    rows = []
    for workers in args.workers:
        port = _free_port()
        server = start_server(toml, url, port, workers)
        try:
            base = f"http://127.0.0.1:{port}"
            reads = asyncio.run(load(base, server.pid, owners, headers, args, reads=True))
            recording = asyncio.run(load(base, server.pid, owners, headers, args, reads=False))
        finally:
            server.terminate()
            server.wait(60)
        with open_store(url) as store:
            counts = store.events_between()["event_id"].value_counts()
        lost = sum(1 for e in recording["acked"] if counts.get(e, 0) != 1)
        req_per_s = reads["measured"] / reads["elapsed_s"]
        one = rows[0]["reads_per_s"] if rows else req_per_s
        rows.append(
            {
                "backend": label,
                "workers": workers,
                "reads_per_s": round(req_per_s, 1),
                "speed_up": round(req_per_s / one, 2),
                "server_cpu_ms_per_read": round(1000.0 * reads["server_cpu_s"] / max(1, reads["measured"]), 1),
                "client_cpu_ms_per_read": round(1000.0 * reads["client_cpu_s"] / max(1, reads["measured"]), 1),
                "read_errors": len(reads["errors"]),
                "load_avg": round(reads["load_avg"], 1),
                "records": len(recording["record"]),
                "record_p50_ms": round(_pct(recording["record"], 0.5), 1),
                "record_p95_ms": round(_pct(recording["record"], 0.95), 1),
                "today_p95_ms": round(_pct(recording["today"], 0.95), 1),
                "record_errors": len(recording["errors"]),
                "lost": lost,
                "first_errors": "; ".join((reads["errors"] + recording["errors"])[:3]),
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent virtual users")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each load is measured")
    parser.add_argument("--think-s", type=float, default=1.0, help="recording: mean pause after record + Today")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows += run_backend("sqlite", folder, str(folder / "bench.sqlite"), args)
                continue
            from pg_fixtures import postgres_server, unavailable_reason

            reason = unavailable_reason()
            if reason:
                print(f"postgresql skipped: {reason}", file=sys.stderr)
                continue
            with postgres_server(durable=True) as pg:
                rows += run_backend("postgresql", folder, pg.create_database("bench_service"), args)
    columns = [c for c in rows[0] if c != "first_errors"] if rows else []
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
