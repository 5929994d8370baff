"""Gates syncing to one hub at once: round-trip latency of HTTP batch syncs (gunicorn, 2 workers), and how
many were answered, shed (503 + Retry-After) or failed (no reply within the gate's own timeout).

Each gate is a thread with its own device credential and HTTP session; the gates are spread over
several client processes (one Python process tops out near 1.1k req/s). Two patterns:
  steady: every gate syncs once per period at its own random phase (how a fleet behaves);
  burst:  every gate syncs at the same instant, every period;
  comeback: every gate syncs at the same instant (after a power or network cut), each until it synced
          once, honouring Retry-After as the gate does: the time until the last gate synced.

Usage: .venv/bin/python bench/fleet.py [--gates 200] [--venues 10] [--seconds 15] [--events 10] [--procs 4]
       [--patterns steady,burst,comeback] [--hub-code DIR]
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

from agent.backoff import HTTP_TIMEOUT_S, Backoff, parse_retry_after
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


# The gate's own HTTP timeout (agent/config.py [sync] http_timeout): a reply slower than it is a failure,
# as the gate gave up on it, whatever the hub did after.
GATE_TIMEOUT_S = HTTP_TIMEOUT_S
COMEBACK_DEADLINE_S = 120.0  # a "comeback" gate not synced by then is reported as never synced


def _gate(url: str, venue: str, gate: str, secret: str, start: float, seconds: float, period: float,
          phase: float, events: int, out: list[tuple[str, float, float]], until_synced: bool, seed: int) -> None:
    # http.client, not requests: a lighter client leaves more of the 2 cores to the hub being measured.
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    backoff = Backoff(period, random.Random(seed))  # the gate's own policy (agent/backoff.py)
    k = 0
    cursor = 0  # the venue's presence changes at other gates, read as a real gate does
    due = start + phase
    while True:
        if (not until_synced and due > start + seconds) or due > start + COMEBACK_DEADLINE_S:
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
        conn = http.client.HTTPConnection(host, int(port), timeout=GATE_TIMEOUT_S)
        status, retry_after = None, None
        try:
            conn.request("POST", path(DEVICE_SYNC), body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
            status, retry_after = answer.status, answer.getheader("Retry-After")
            if status == 200:
                cursor = json.loads(payload).get("presence_after", cursor)
        except OSError:  # refused, reset, or the gate's timeout (socket.timeout)
            pass
        finally:
            conn.close()
        took = time.perf_counter() - t0
        if status == 200 and took <= GATE_TIMEOUT_S:
            out.append(("answered", took, time.time() - start))
            backoff.ok()
            if until_synced:
                return
            k += 1
            due = max(start + phase + k * period, time.time())
        elif status in (429, 503) and took <= GATE_TIMEOUT_S:
            out.append(("shed", took, time.time() - start))
            due = time.time() + backoff.busy(parse_retry_after(retry_after))
        else:
            out.append(("failed", took, time.time() - start))
            due = time.time() + backoff.failed()


def client_process(gates: list[tuple[str, str, str, str]], ready, go, start, seconds: float, period: float,
                   pattern: str, events: int, seed: int, results) -> None:
    """Run some gates (hub URL, venue, gate, secret) as threads in this process, starting with every other process."""
    rng = random.Random(seed)
    out: list[tuple[str, float, float]] = []
    ready.wait()  # every process has imported and is ready
    go.wait()
    threads = [threading.Thread(target=_gate, args=(url, v, g, s, start.value, seconds, period,
                                                    rng.uniform(0, period) if pattern == "steady" else 0.0, events, out,
                                                    pattern == "comeback", seed * 100_000 + n))
               for n, (url, v, g, s) in enumerate(gates)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def run(url: str | list[str], devices: list[tuple[str, str, str]], procs: int, seconds: float, period: float,
        pattern: str, events: int) -> list[tuple[str, float, float]]:
    """All gates over `procs` client processes; every round trip as (outcome, seconds, when since the start).

    Patterns: "steady" (each gate every period at its own phase), "burst" (all gates at once, every period),
    "comeback" (all gates at once, each until it synced once, honouring Retry-After: the return after a cut).
    Several hub URLs: the gates are dealt out round-robin (gate k to hub k mod n), as a load balancer
    with sticky connections would spread them (bench/scale.py: 1 and 3 hub processes)."""
    urls = [url] if isinstance(url, str) else url
    gates = [(urls[k % len(urls)], *d) for k, d in enumerate(devices)]
    ctx = mp.get_context("spawn")
    ready, go, start, results = ctx.Barrier(procs + 1), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    workers = [ctx.Process(target=client_process, args=(gates[i::procs], ready, go, start, seconds, period,
                                                        pattern, events, i, results)) for i in range(procs)]
    for w in workers:
        w.start()
    ready.wait()
    start.value = time.time() + 1.0  # time for every thread to be started
    go.set()
    out = [x for _ in workers for x in results.get()]
    for w in workers:
        w.join()
    return out


HEADER = ("| pattern | gates | calls | answered | shed (503) | failed | answered/s | p50 ms | p95 ms | p99 ms | max ms "
          "| all synced after s |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def row(name: str, gates: int, calls: list[tuple[str, float, float]], seconds: float, events: int = 0) -> str:
    """One table row: latencies of the answered syncs; for "comeback", when the last gate synced."""
    ok = sorted(took for outcome, took, _ in calls if outcome == "answered")
    shed = sum(1 for outcome, _, _ in calls if outcome == "shed")
    failed = sum(1 for outcome, _, _ in calls if outcome == "failed")
    q = statistics.quantiles(ok, n=100, method="inclusive") if len(ok) > 1 else [float("nan")] * 99
    synced = [when for outcome, _, when in calls if outcome == "answered"]
    last = f"{max(synced):.1f}" if name.startswith("comeback") and len(synced) >= gates else "-"
    if name.startswith("comeback") and len(synced) < gates:
        last = f"never: {gates - len(synced)} gates"
    span = max((when for _, _, when in calls), default=seconds) if name.startswith("comeback") else seconds
    return (f"| {name} | {gates} | {len(calls):,} | {len(ok):,} | {shed:,} | {failed:,} | {len(ok) / span:,.0f} | "
            f"{q[49] * 1000:.1f} | {q[94] * 1000:.1f} | {q[98] * 1000:.1f} | {(ok[-1] if ok else float('nan')) * 1000:.1f} "
            f"| {last} |")


def main() -> None:
    """Start the hub, run the patterns, print the table, stop the hub."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gates", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--events", type=int, default=10, help="events per sync")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between a gate's syncs")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--venues", type=int, default=10, help="venues the gates are spread over")
    parser.add_argument("--patterns", default="steady,burst,comeback", help="which of steady, burst, comeback")
    parser.add_argument("--hub-code", help="serve the hub from this source tree (e.g. an older commit's, for before/after)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.hub_code:
        env["PYTHONPATH"] = args.hub_code
    tables = []
    with tempfile.TemporaryDirectory() as d, open(Path(d) / "hub.log", "w") as log:
        db = Path(d) / "hub.db"
        if args.hub_code:  # that tree's schema (its migrations): the database made by its own code
            made = subprocess.run([sys.executable, "-c", "import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/bench']; "
                                   "from fleet import setup; print(json.dumps(setup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))",
                                   args.hub_code, str(db), str(args.gates), str(args.venues)],
                                  env=env, cwd=args.hub_code, check=True, capture_output=True, text=True)
            devices = [tuple(d) for d in json.loads(made.stdout.splitlines()[-1])]
        else:
            devices = setup(db, args.gates, args.venues)
        port = free_port()
        # The hub's log to a file (one warning a sync: the bench's exits match no entry), its errors shown after.
        hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                                "--db", str(db), "--port", str(port), "--workers", "2"],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=args.hub_code)
        try:
            wait_for_port(port, 30)
            url = f"http://127.0.0.1:{port}"
            for pattern in args.patterns.split(","):
                period = args.period if pattern == "steady" else max(args.period, 2.0)
                load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
                calls = run(url, devices, args.procs, args.seconds, period, pattern, args.events)
                name = {"steady": f"steady (each gate every {period:g} s, own phase)",
                        "burst": f"burst (all gates at once, every {period:g} s)",
                        "comeback": "comeback (all gates at once, each until synced)"}[pattern]
                tables.append(row(name, args.gates, calls, args.seconds) + f" {load} |")
        finally:
            os.killpg(hub.pid, signal.SIGINT)
            try:
                hub.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
                hub.wait()
            log.close()
            errors = [line for line in (Path(d) / "hub.log").read_text().splitlines() if "ERROR" in line or "Traceback" in line]
    if errors:
        print("hub errors:\n" + "\n".join(errors[:20]) + "\n")
    print(f"`hub serve --workers 2` (gunicorn, 8 threads each){' from ' + args.hub_code if args.hub_code else ''}, SQLite WAL; {args.gates} gates "
          f"in {args.venues} venues; {args.events} events per sync, each with a subject, half entries and half exits; "
          f"every sync reads the venue's presence changes since its cursor; {args.procs} client processes on the same "
          f"{os.cpu_count()}-core machine; {args.seconds:.0f} s per pattern; a reply slower than the gate's "
          f"{GATE_TIMEOUT_S:g} s timeout counts as failed; shed gates wait Retry-After plus jitter (agent/backoff.py)\n")
    print(HEADER.replace("|\n", "| load |\n", 1) + "---|")
    print("\n".join(tables))


if __name__ == "__main__":
    main()
