"""The hub past one process (issue 13): ingest on PostgreSQL against SQLite in the same run, and the
fleet's burst (every gate syncing at the same instant) with 1 and 3 hub processes on one PostgreSQL.

"3 hub processes" are three `checkpoint hub serve` instances (gunicorn, `--workers` sync workers each,
default 2) on their own ports, with the gates dealt out round-robin by the bench client
(bench/fleet.py `run`, gate k to hub k mod 3): the stand-in for an HTTP load balancer, which this
machine does not run. "1 hub process" is one such instance. Everything (PostgreSQL, the hubs, the
client processes) shares this machine's cores: the figures are for one machine, not for three.

Usage: .venv/bin/python bench/scale.py [--events 50000] [--gates 200,1000] [--hubs 1,3] [--seconds 10]
       [--workers 2] [--procs 4] [--skip-ingest] [--skip-fleet]
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from demo.processes import free_port, start_postgres, wait_for_port

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks, run as scripts
import fleet  # noqa: E402
import hub_ingest  # noqa: E402

from server.store import HubStore  # noqa: E402

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def new_database(cluster, name: str) -> str:
    """A new PostgreSQL database in the bench's cluster; its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return cluster.url(name)


def ingest_rate(db: str, bodies: list[bytes]) -> tuple[float, int, int]:
    """Parse + validate + ingest every body into a fresh hub at `db`: (seconds, offered, new)."""
    store = HubStore(db)
    store.migrate()
    for v in range(4):
        store.create_venue(f"v{v}", {"cap": None})
    offered = new = 0
    t0 = time.perf_counter()
    for body in bodies:
        events = hub_ingest.BATCH.validate_json(body)
        offered += len(events)
        new += store.ingest(events).new
    seconds = time.perf_counter() - t0
    store.close()
    return seconds, offered, new


def serve(db: str, n: int, workers: int) -> tuple[list[subprocess.Popen], list[str]]:
    """`n` hub processes on one database; (processes, URLs)."""
    procs, urls = [], []
    for _ in range(n):
        port = free_port()
        procs.append(subprocess.Popen([*CLI, "hub", "serve", "--database", db, "--port", str(port),
                                       "--workers", str(workers)], start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, "CHECKPOINT_LOG": "WARNING"}))
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        wait_for_port(int(url.rsplit(":", 1)[1]), 60)
    return procs, urls


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop the hub processes (their whole process groups: gunicorn's workers too)."""
    for p in procs:
        os.killpg(p.pid, signal.SIGINT)
    for p in procs:
        p.wait(timeout=20)


def main() -> None:
    """Start a PostgreSQL cluster, run the ingest and the bursts, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="events ingested per engine")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--gates", default="200,1000", help="fleet sizes, comma-separated")
    parser.add_argument("--hubs", default="1,3", help="hub process counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of bursts per run")
    parser.add_argument("--period", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument("--events-per-sync", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per hub process")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--venues", type=int, default=10)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    cluster = start_postgres()
    try:
        with tempfile.TemporaryDirectory() as d:
            if not args.skip_ingest:
                bodies = hub_ingest.make_bodies(args.events, args.batch)
                print(f"Ingest: {args.events:,} events in batches of {args.batch} (10% resent), parse + validate + "
                      f"store, one process; PostgreSQL {cluster.port} on this machine (fsync off, as the tests run it)\n")
                print("| engine | seconds | events/s | new |")
                print("|---|---|---|---|")
                for name, db in (("SQLite (WAL)", str(Path(d) / "ingest.db")), ("PostgreSQL", new_database(cluster, "ingest"))):
                    seconds, offered, new = ingest_rate(db, bodies)
                    print(f"| {name} | {seconds:.2f} | {offered / seconds:,.0f} | {new:,} |")
                print(f"\nload after ingest: {os.getloadavg()[0]:.2f}\n")
            if not args.skip_fleet:
                print(f"Burst: every gate syncs at the same instant every {args.period:g} s for {args.seconds:g} s, "
                      f"{args.events_per_sync} events per sync; hubs on one PostgreSQL, {args.workers} sync workers "
                      f"each, gates dealt round-robin over them by the client; {args.procs} client processes; "
                      f"{os.cpu_count()} cores shared by all\n")
                print(fleet.HEADER.replace("| pattern |", "| hub processes |").replace("|\n", "| load |\n", 1) + "---|")
                for gates in (int(x) for x in args.gates.split(",")):
                    for n in (int(x) for x in args.hubs.split(",")):
                        db = new_database(cluster, f"fleet_{gates}_{n}")
                        devices = fleet.setup(db, gates, args.venues)
                        procs, urls = serve(db, n, args.workers)
                        try:
                            lat = fleet.run(urls, devices, args.procs, args.seconds, args.period, "burst",
                                            args.events_per_sync)
                        finally:
                            stop(procs)
                        cells = fleet.row(str(n), gates, lat, args.seconds)
                        print(f"{cells} {os.getloadavg()[0]:.2f} |", flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
