"""200 gates syncing to one hub at once: round-trip latency of HTTP batch syncs (gunicorn, 2 workers).

Each gate is a thread with its own device credential and HTTP session; the gates are spread over
several client processes (one Python process tops out near 1.1k req/s). Two patterns:
  steady: every gate syncs once per period at its own random phase (how a fleet behaves);
  burst:  every gate syncs at the same instant (after an outage, all gates come back together).

Usage: .venv/bin/python bench/fleet.py [--gates 200] [--venues 10] [--seconds 15] [--events 10] [--procs 4]
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ulid import ULID

from demo.processes import free_port, wait_for_port
from protocols.contract import DEVICE_SYNC, DocumentKind, path
from server.store import HubStore


def setup(db: Path | str, gates: int, venues: int) -> list[tuple[str, str, str]]:
    """`gates` gates spread over `venues` venues, each with an enrolled device: [(venue, gate, secret)]."""
    store = HubStore(db)
    store.migrate()
    for v in range(venues):
        store.create_venue(f"fleet{v:02d}", {"cap": None})
    out = []
    for i in range(gates):
        venue, gate = f"fleet{i % venues:02d}", f"g{i:03d}"
        # A door used both ways: the bench's gates send entries and exits alike, and a one-way gate would
        # refuse half of them (wrong_direction), leaving the answers without the presence changes measured.
        store.create_gate(venue, gate, direction="both")
        _, secret = store.redeem_token(store.create_enroll_token(venue, gate))  # type: ignore[misc]
        out.append((venue, gate, secret))
    store.close()
    return out


def _gate(url: str, venue: str, gate: str, secret: str, start: float, seconds: float, period: float,
          phase: float, events: int, out: list[float]) -> None:
    # http.client, not requests: a lighter client leaves more of the 2 cores to the hub being measured.
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    k = 0
    cursor = 0  # the venue's presence changes at other gates, read as a real gate does
    while True:
        due = start + phase + k * period
        if due > start + seconds:
            return
        time.sleep(max(0.0, due - time.time()))
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        # Each admitted person (a keyed-hash subject) goes in or out, so the hub records presence
        # and every sync answers with the other gates' changes since this gate's cursor.
        body = json.dumps({"events": [{"id": str(ULID()), "kind": "decision", "venue": venue, "gate": gate,
                                       "at": now, "decision": "admit", "colour": "green", "celsius": 36.5,
                                       "subject": os.urandom(16).hex(), "direction": "in" if n % 2 else "out"}
                                      for n in range(events)], "running": {DocumentKind.BUNDLE: "1"},
                           "presence_after": cursor, "presence_window_s": 60}).encode()
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", path(DEVICE_SYNC), body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
            ok = answer.status == 200
            if ok:
                cursor = json.loads(payload).get("presence_after", cursor)
        except OSError:
            ok = False
        finally:
            conn.close()
        out.append(time.perf_counter() - t0 if ok else float("inf"))
        k += 1


def client_process(gates: list[tuple[str, str, str, str]], ready, go, start, seconds: float, period: float,
                   burst: bool, events: int, seed: int, results) -> None:
    """Run some gates (hub URL, venue, gate, secret) as threads in this process, starting with every other process."""
    rng = random.Random(seed)
    out: list[float] = []
    ready.wait()  # every process has imported and is ready
    go.wait()
    threads = [threading.Thread(target=_gate, args=(url, v, g, s, start.value, seconds, period,
                                                    0.0 if burst else rng.uniform(0, period), events, out))
               for url, v, g, s in gates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def run(url: str | list[str], devices: list[tuple[str, str, str]], procs: int, seconds: float, period: float,
        burst: bool, events: int) -> list[float]:
    """All gates over `procs` client processes; every round trip.

    Several hub URLs: the gates are dealt out round-robin (gate k to hub k mod n), as a load balancer
    with sticky connections would spread them (bench/scale.py: 1 and 3 hub processes)."""
    urls = [url] if isinstance(url, str) else url
    gates = [(urls[k % len(urls)], *d) for k, d in enumerate(devices)]
    ctx = mp.get_context("spawn")
    ready, go, start, results = ctx.Barrier(procs + 1), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    workers = [ctx.Process(target=client_process, args=(gates[i::procs], ready, go, start, seconds, period,
                                                        burst, events, i, results)) for i in range(procs)]
    for w in workers:
        w.start()
    ready.wait()
    start.value = time.time() + 1.0  # time for every thread to be started
    go.set()
    out = [x for _ in workers for x in results.get()]
    for w in workers:
        w.join()
    return out


def row(name: str, gates: int, lat: list[float], seconds: float, events: int) -> str:
    """One table row."""
    ok = sorted(x for x in lat if x != float("inf"))
    q = statistics.quantiles(ok, n=100)
    return (f"| {name} | {gates} | {len(lat):,} | {len(lat) - len(ok)} | {len(ok) / seconds:,.0f} | "
            f"{len(ok) * events / seconds:,.0f} | {q[49] * 1000:.1f} | {q[94] * 1000:.1f} | {q[98] * 1000:.1f} | "
            f"{ok[-1] * 1000:.1f} |")


def main() -> None:
    """Start the hub, run both patterns, print the table, stop the hub."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--events", type=int, default=10, help="events per sync")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between a gate's syncs")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--venues", type=int, default=10, help="venues the gates are spread over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "hub.db"
        devices = setup(db, args.gates, args.venues)
        port = free_port()
        hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                                "--db", str(db), "--port", str(port), "--workers", "2"],
                               start_new_session=True, stdout=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30)
            url = f"http://127.0.0.1:{port}"
            steady = run(url, devices, args.procs, args.seconds, args.period, False, args.events)
            burst = run(url, devices, args.procs, args.seconds, max(args.period, 2.0), True, args.events)
        finally:
            os.killpg(hub.pid, signal.SIGINT)
            hub.wait(timeout=15)
    print(f"gunicorn 2 workers x 8 threads, SQLite WAL; {args.gates} gates in {args.venues} venues; {args.events} events "
          f"per sync, each with a subject, half entries and half exits; every sync reads the venue's presence "
          f"changes since its cursor; {args.procs} client processes "
          f"on the same {os.cpu_count()}-core machine; {args.seconds:.0f} s per pattern\n")
    print("| pattern | gates | syncs | failed | syncs/s | events/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row(f"steady (each gate every {args.period:g} s, own phase)", args.gates, steady, args.seconds, args.events))
    print(row(f"burst (all gates at once, every {max(args.period, 2.0):g} s)", args.gates, burst, args.seconds,
              args.events))


if __name__ == "__main__":
    main()
