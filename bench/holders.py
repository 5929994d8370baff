"""Holders refreshing their pages: passes minted per second on one core, and the holder JSON endpoint's
req/s and p99 under gunicorn with 2 workers.

1. Minting: `server.issuing.issue` (claims, CBOR, ES256 COSE, zlib, base45) alone, and with the QR's
   SVG the endpoint also draws (segno), in one process for --seconds.
2. Serving: a fresh hub (SQLite) with --holders enrolled people, each with a colour and a link, served by
   `checkpoint hub serve --workers 2`; client processes send GET /h/<secret>/pass at a fixed offered rate
   (open loop: a late answer does not slow the next request) over random links, for each --rates step.
   A holder refreshes every 60 s, so R req/s serves 60*R holders (333 req/s = 20,000 holders).
   The clients run on the same machine as the hub: their CPU is taken from the hub's.
Usage: .venv/bin/python bench/holders.py [--holders 2000] [--rates 100,200,333] [--seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import segno  # noqa: E402

from demo.processes import free_port, stop_process, wait_for_port  # noqa: E402
from protocols.clock import utc_now  # noqa: E402
from protocols.credential import NucleicAcidTest  # noqa: E402
from protocols.keys import generate_private_key  # noqa: E402
from server.issuing import IssuePolicy, IssuerKeys, PersonStatus, issue  # noqa: E402
from server.store import HubStore  # noqa: E402

CLIENTS = 2  # client processes sharing the offered rate


def mint_rate(seconds: float, with_qr: bool) -> float:
    """Passes issued per second in this process (one core)."""
    now = utc_now()
    status = PersonStatus(subject="k" * 32, name="张*明", person_class="staff", group="装配一组", colour="green",
                          colour_since=now - dt.timedelta(days=3), colour_recorded_at=now - dt.timedelta(hours=1),
                          test=NucleicAcidTest(at=now - dt.timedelta(hours=20), result="negative"),
                          declared_at=now - dt.timedelta(hours=1))
    policy, key = IssuePolicy(issuer="hub:bench"), generate_private_key("ES256")
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        code, _ = issue(status, policy, key)
        if with_qr:
            segno.make(code, error="m").svg_data_uri(scale=4, border=2)
        n += 1
    return n / (time.perf_counter() - start)


def seed(database: Path, keys: Path, holders: int) -> list[str]:
    """A venue with `holders` enrolled people, each green and with a link; the links' secrets."""
    store = HubStore(database)
    store.migrate()
    store.create_venue("bench", {"name": "bench venue"})
    IssuerKeys(keys).create("bench")
    secrets = [store.issue_holder_link("bench", subject, "bench") for subject in store.bench_people("bench", holders)]
    store.close()
    return secrets


def client(port: int, secrets: list[str], rate: float, seconds: float, out: "mp.Queue[list[float]]") -> None:
    """Send GET /h/<secret>/pass at `rate` per second for `seconds` (open loop); latencies (ms) to `out`."""
    rng = random.Random(os.getpid())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    start = time.perf_counter()
    n = 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        # Latency counted from when the request was due: a queue at the client counts against the hub.
        conn.request("GET", f"/h/{rng.choice(secrets)}/pass")
        answer = conn.getresponse()
        body = answer.read()
        latencies.append((time.perf_counter() - due) * 1000)
        if answer.status != 200 or b'"ok":true' not in body.replace(b" ", b""):
            latencies[-1] = float("inf")  # a refusal or error is a failure, never a fast answer
        n += 1
    conn.close()
    out.put(latencies)


def serve_step(port: int, secrets: list[str], rate: float, seconds: float) -> tuple[float, float, float, int]:
    """Offered rate -> (achieved req/s, p50 ms, p99 ms, failures)."""
    out: mp.Queue[list[float]] = mp.Queue()
    procs = [mp.Process(target=client, args=(port, secrets, rate / CLIENTS, seconds, out)) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    latencies = [x for _ in procs for x in out.get()]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    failures = sum(1 for x in latencies if x == float("inf"))
    ok = sorted(x for x in latencies if x != float("inf"))
    p99 = ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else float("nan")
    return len(latencies) / elapsed, statistics.median(ok) if ok else float("nan"), p99, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, default=2000)
    parser.add_argument("--rates", default="100,200,333")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}")
    print(f"passes minted per second, one core: {mint_rate(3, False):.0f} (with the QR's SVG: {mint_rate(3, True):.0f})")
    with tempfile.TemporaryDirectory() as tmp:
        database, keys = Path(tmp) / "hub.db", Path(tmp) / "issuer-keys"
        secrets = seed(database, keys, args.holders)
        port = free_port()
        env = {**os.environ, "CHECKPOINT_ISSUER_KEYS": str(keys)}
        hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                                "--db", str(database), "--port", str(port), "--workers", "2"], env=env,
                               stdout=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30)
            serve_step(port, secrets, 20, 2)  # warm up both workers
            print("| offered req/s | holders at 60 s | achieved req/s | p50 ms | p99 ms | failures |")
            print("|---|---|---|---|---|---|")
            for rate in (float(r) for r in args.rates.split(",")):
                achieved, p50, p99, failures = serve_step(port, secrets, rate, args.seconds)
                print(f"| {rate:.0f} | {rate * 60:,.0f} | {achieved:.0f} | {p50:.1f} | {p99:.1f} | {failures} |")
        finally:
            stop_process(hub)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
