"""Writers of several venues at once on one PostgreSQL (issue 13): does a venue's batch wait for another venue's?

`--procs` processes, each its own venue and its own connection, ingest `--batches` batches of `--batch`
events (half entries, half exits, each with a subject) at the same time, through `HubStore.ingest` as the
sync route does. Prints the events stored per second over all of them and each batch's time (p50, p95,
max). Run it on two trees (e.g. `PYTHONPATH=<other tree>`) to compare their writers' locks.

Usage: .venv/bin/python bench/venue_locks.py [--procs 3] [--batches 200] [--batch 50] [--database URL]
Without --database a cluster of the bench's own (`demo/processes.start_postgres`, fsync off).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ulid import ULID  # noqa: E402

from protocols.events import GateEvent  # noqa: E402
from server.store import HubStore  # noqa: E402


def _writer(database: str, venue: str, batches: int, batch: int, start: float, out) -> None:
    store = HubStore(database)
    now = dt.datetime.now(dt.timezone.utc)
    times = []
    while time.time() < start:
        time.sleep(0.001)
    for b in range(batches):
        events = []
        for i in range(batch):
            at = now - dt.timedelta(seconds=(batches - b) * batch + i)
            events.append(GateEvent(id=str(ULID.from_datetime(at)), kind="decision", venue=venue, gate="g0", at=at,
                                    direction="in" if i % 2 == 0 else "out", decision="admit",
                                    subject=f"{b * batch + i // 2:032x}", name="王*李"))
        t0 = time.perf_counter()
        store.ingest(events)
        times.append(time.perf_counter() - t0)
    store.close()
    out.put(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--database")
    args = parser.parse_args()
    cluster = None
    database = args.database
    if database is None:
        from demo.processes import start_postgres

        cluster = start_postgres()
        database = cluster.url()
    try:
        store = HubStore(database)
        store.migrate()
        tag = ULID().hex[-6:]
        venues = [f"lock{tag}{p}" for p in range(args.procs)]
        for v in venues:
            store.create_venue(v, {"cap": None})
            store.create_gate(v, "g0", direction="both")
        store.close()
        out = multiprocessing.get_context("fork").Queue()
        start = time.time() + 2
        procs = [multiprocessing.get_context("fork").Process(
            target=_writer, args=(database, v, args.batches, args.batch, start, out)) for v in venues]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        wall = max(sum(r) for r in results)
        times = sorted(t * 1000 for r in results for t in r)
        n = args.procs * args.batches * args.batch
        print(f"{args.procs} writers, one venue each, {args.batches} batches of {args.batch}; "
              f"load {open('/proc/loadavg').read().split()[0]}\n")
        print("| events/s (all writers) | batch p50 ms | p95 ms | max ms |")
        print("|---|---|---|---|")
        print(f"| {n / wall:,.0f} | {statistics.median(times):.1f} | {times[int(len(times) * 0.95)]:.1f} | {times[-1]:.1f} |")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
