"""The gate after a long outage: a backlog of pending events in its outbox, drained to a real hub.

Measures, on one gate store holding --events pending events (every one an admitted entry):
  the outbox query (the sync client's next batch, oldest first: the stored JSON, or parsed rows in a
  tree from before the drain spliced stored JSON), ms;
  the lease renewal (its count of admissions the hub has not seen, and the whole HTTP call), ms;
  the decision commit (AgentStore.record, synchronous=FULL) p50/p95, quiet and while the backlog drains;
  the drain over HTTP (SyncClient.sync_http) to a local hub (gunicorn, 2 workers), events/s, and how
  many events the hub holds afterwards (none lost, none twice); and the CPU both sides spent per 1,000
  events (on a shared machine the steadier figure: wall time counts other jobs).

Usage: .venv/bin/python bench/gate_backlog.py [--events 100000] [--batch N] [--decisions 300]
Prints a markdown table. Runs on the code it is started from (PYTHONPATH), so the same script measures
an older tree too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# The tree's root before bench/ itself, whose hardware.py would hide the hardware package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import SyncSection  # noqa: E402
from agent.documents import DocumentCache  # noqa: E402
from agent.store import AgentStore  # noqa: E402
from agent.sync import SyncClient  # noqa: E402
from demo.processes import free_port, wait_for_port  # noqa: E402
from protocols.events import GateEvent, new_event_id, takes_place  # noqa: E402
from server.store import HubStore  # noqa: E402

KEY = bytes(range(32))
VENUE, GATE = "backlog", "g0"


def hub_setup(db: Path) -> str:
    """A venue with one entry gate and its enrolled device; the device secret."""
    store = HubStore(db)
    store.migrate()
    store.create_venue(VENUE, {"cap": None})
    store.create_gate(VENUE, GATE)
    _, secret = store.redeem_token(store.create_enroll_token(VENUE, GATE))  # type: ignore[misc]
    store.close()
    return secret


def entry(n: int) -> GateEvent:
    """One admitted entry as the loop records it (keyed-hash subject, masked name, reading)."""
    return GateEvent(id=new_event_id(), kind="decision", venue=VENUE, gate=GATE, at=dt.datetime.now(dt.timezone.utc),
                     direction="in", decision="admit", subject=os.urandom(16).hex(), name="张*", colour="green",
                     celsius=36.5, bundle_version="1", person_class="visitor", note=f"n{n}")


def fill(store: AgentStore, n: int) -> None:
    """Record n events quickly (synchronous OFF while filling only: the figures below run at FULL)."""
    store.db.execute("PRAGMA synchronous=OFF")
    for i in range(n):
        store.record(entry(i))
    store.db.execute("PRAGMA synchronous=FULL")


def ms(samples: list[float]) -> str:
    """Median of samples in ms."""
    return f"{statistics.median(samples) * 1000:.3f}"


def pct(samples: list[float], p: int) -> float:
    """The p-th percentile in ms."""
    return statistics.quantiles(samples, n=100)[p - 1] * 1000


def unsynced_count(store: AgentStore) -> int:
    """The lease renewal's count of admissions the hub has not seen, as this tree computes it."""
    if hasattr(store, "unsynced_places"):
        return store.unsynced_places()
    return sum(1 for i in store.outbox_pending(limit=100_000)
               if takes_place(i.payload.get("kind"), i.payload.get("direction", "in"), i.payload.get("decision")))


def decisions(store: AgentStore, count: int, until: threading.Event | None = None) -> list[float]:
    """Commit decisions every 10 ms (count of them, or until `until` is set); each commit's time."""
    out: list[float] = []
    i = 0
    while (until is None and i < count) or (until is not None and not until.is_set()):
        e = entry(i)
        t0 = time.perf_counter()
        store.record(e)
        out.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.01)
    return out


def main() -> None:
    """Start the hub, fill the gate store, measure, drain, print the table, stop the hub."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="pending events in the outbox")
    parser.add_argument("--batch", type=int, default=None, help="events per HTTP sync (default: the gate's)")
    parser.add_argument("--decisions", type=int, default=300, help="quiet decision commits measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        secret = hub_setup(folder / "hub.db")
        port = free_port()
        hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                                "--db", str(folder / "hub.db"), "--port", str(port), "--workers", "2"],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30)
            store = AgentStore(folder / "agent.sqlite", KEY)
            t0 = time.perf_counter()
            fill(store, args.events)
            filled = time.perf_counter() - t0
            extra = {"batch": args.batch} if args.batch else {}
            settings = SyncSection(hub_url=f"http://127.0.0.1:{port}", device_id="bench", http_timeout=60, **extra)
            client = SyncClient(store, settings, venue=VENUE, gate=GATE, secret=secret, presence_window_s=0,
                                documents=DocumentCache(folder / "documents"))
            # What the drain reads for its next batch: stored JSON where the tree has it, else parsed rows.
            read = getattr(store, "outbox_rows", store.outbox_pending)
            query = []
            for _ in range(20):
                t = time.perf_counter()
                read(limit=settings.batch)
                query.append(time.perf_counter() - t)
            count = []
            for _ in range(10):
                t = time.perf_counter()
                unsynced = unsynced_count(store)
                count.append(time.perf_counter() - t)
            renew = []
            for _ in range(10):
                t = time.perf_counter()
                client.renew_lease(10)
                renew.append(time.perf_counter() - t)
            quiet = decisions(store, args.decisions)
            # The drain runs on its own thread, as the sync client's does, while the loop keeps deciding.
            done = threading.Event()
            drained: dict[str, float] = {}

            def drain() -> None:
                t, cpu = time.perf_counter(), time.thread_time()
                drained["acked"] = client.sync_http()
                drained["s"] = time.perf_counter() - t
                drained["cpu"] = time.thread_time() - cpu  # the drain thread's own CPU: steadier than wall time
                done.set()

            worker = threading.Thread(target=drain, name="drain")
            worker.start()
            busy = decisions(store, 0, until=done)
            worker.join()
            client.sync_http()  # what was decided during the drain
            recorded = store.count()
            store.close()
        finally:
            os.killpg(hub.pid, signal.SIGINT)
            hub.wait(timeout=15)
        # The hub's CPU (its master reaps its workers, and this process the master): the whole run's, so
        # it includes the lease calls and the decisions' events after the drain, a few percent.
        hub_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        hub_cpu_s = hub_cpu.ru_utime + hub_cpu.ru_stime
        hub_db = sqlite3.connect(folder / "hub.db")
        held, distinct = hub_db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        hub_db.close()
    rate = drained["acked"] / drained["s"]
    print(f"{args.events:,} pending events (admitted entries, filled in {filled:.0f} s); gate batch "
          f"{settings.batch}; hub: gunicorn 2 workers x 8 threads, SQLite WAL, on the same {os.cpu_count()}-core machine; "
          f"decisions every 10 ms, synchronous=FULL\n")
    print("| figure | value |")
    print("|---|---|")
    print(f"| outbox query (next batch of {settings.batch}, {read.__name__}), median ms | {ms(query)} |")
    print(f"| lease renewal: count of unsynced admissions ({unsynced:,}), median ms | {ms(count)} |")
    print(f"| lease renewal: whole call over HTTP, median ms | {ms(renew)} |")
    print(f"| decision commit quiet ({len(quiet)}), p50 / p95 ms | {pct(quiet, 50):.2f} / {pct(quiet, 95):.2f} |")
    print(f"| decision commit during the drain ({len(busy)}), p50 / p95 ms | {pct(busy, 50):.2f} / "
          f"{pct(busy, 95):.2f} |")
    print(f"| p95 during / quiet | {pct(busy, 95) / pct(quiet, 95):.2f}x |")
    print(f"| drain over HTTP: {drained['acked']:,.0f} events in {drained['s']:.1f} s, events/s | {rate:,.0f} |")
    print(f"| CPU per 1,000 events drained: the gate's drain thread / the hub (all its processes), ms | "
          f"{drained['cpu'] / drained['acked'] * 1e6:.1f} / {hub_cpu_s / recorded * 1e6:.1f} |")
    print(f"| load average at the end (1 min) | {os.getloadavg()[0]:.1f} |")
    print(f"| gate events / hub rows / distinct ids (lost, twice) | {recorded:,} / {held:,} / {distinct:,} "
          f"({recorded - distinct}, {held - distinct}) |")


if __name__ == "__main__":
    main()
