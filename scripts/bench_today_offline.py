"""The offline Today page's targets, in Debian's Chromium at phone width (390 px) against the app on loopback.

Per run: an officer opens Today online (the service worker keeps it), the server stops and the
browser goes offline (Playwright's offline mode does not cut a service worker's requests, so the
server is stopped too), 5 outcomes are tapped, the page is reloaded without signal, then the
server starts again and the browser comes online. Reports the time from the click to the stop
shown done (``performance.now`` in the page; and to the next frame), the offline reload, and the
time until the 5 events are in the store, checking each is there exactly once.

    .venv/bin/python scripts/bench_today_offline.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def one_run(browser, server, password: str) -> dict[str, float]:
    """One offline round; the measured times (ms and s)."""
    live = server.app.state.service.live
    stops = live.latest_plan().layers["stops"]
    rids = [str(r) for r in stops.loc[stops["squad_id"] == "G01", "retailer_id"]]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server.base}/login?lang=en")
    page.fill("input[name=username]", "officer1")
    page.fill("input[name=password]", password)
    page.click("form.card button[type=submit]")
    page.wait_for_selector("#outbox[data-offline-ready='1']", state="attached", timeout=20_000)
    before = set(live.events()["event_id"])
    server.stop()
    context.set_offline(True)
    for rid in rids:
        page.locator(f"#stop-{rid} button[value=ok]").click()
    page.wait_for_selector(f"#outbox[data-waiting='{len(rids)}']", state="attached")
    page.wait_for_timeout(100)  # the last tap's next frame
    tap_ms, frame_ms = page.evaluate("[window.gmToday.tapMs, window.gmToday.paintMs]")
    start = time.perf_counter()
    page.reload()
    page.wait_for_selector(f"#outbox[data-waiting='{len(rids)}']", state="attached")
    reload_s = time.perf_counter() - start
    server.start()
    start = time.perf_counter()
    context.set_offline(False)
    page.wait_for_selector("#outbox[data-waiting='0']", state="attached", timeout=30_000)
    sent_s = time.perf_counter() - start
    events = live.events()
    new = events.loc[~events["event_id"].isin(before)]
    assert len(new) == len(rids) and new["event_id"].is_unique and sorted(new["retailer_id"]) == sorted(rids)
    context.close()
    return {"tap_ms": max(tap_ms), "frame_ms": max(frame_ms), "reload_s": reload_s, "sent_s": sent_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from browser import Chromium
    from service_fixtures import PASSWORD, TODAY, fill_store
    from test_today_offline import Server

    from gridmgmt.demo import generate_demo
    from gridmgmt.ops.district import load_district
    from gridmgmt.service import ServiceOptions, create_app

    rows = []
    with tempfile.TemporaryDirectory() as folder, Chromium() as chromium:
        generate_demo(Path(folder) / "d", seed=3, n_retailers=300, history_end="2026-11-30", history_days=60)
        district = load_district(Path(folder) / "d" / "district.toml")
        for run in range(args.runs):
            store = fill_store(district, Path(folder) / f"store{run}.sqlite")
            server = Server(create_app(district, store, options=ServiceOptions(today=TODAY)))
            server.start()
            rows.append(one_run(chromium.browser, server, PASSWORD))
            server.stop()
            store.close()
    print("| run | click -> done shown (ms, slowest of 5) | click -> next frame (ms) | reload offline (s) "
          "| online -> 5 stored once (s) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for k, row in enumerate(rows, start=1):
        print(f"| {k} | {row['tap_ms']:.1f} | {row['frame_ms']:.1f} | {row['reload_s']:.2f} | {row['sent_s']:.2f} |")
    worst = {key: max(row[key] for row in rows) for key in rows[0]}
    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    print(f"\nworst: {worst}\nmedian: {median}")


if __name__ == "__main__":
    main()
