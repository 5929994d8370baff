"""Bounded storage (issue 14 item 4): the hub's database size over simulated days of traffic with retention.

Simulates `--days` days on a clock of its own: each day every gate of `--gates` (in venues of
`--gates-per-venue`, used both ways) sends its day's events (`--per-gate`, entries and exits of
people coming back, ~12% denied) through `HubStore.ingest`, as a sync does, with the day as the hub's
time; then retention runs once for that day (`server.retention.purge`, what the background purge
runs, with `now` the end of the day). After each day it records the SQLite file's size, the pages in
use (the file does not shrink: freed pages are reused, so "in use" is the figure that must stay
bounded), the events held, the presence rows held and the per-hour counter rows (kept past retention
by design: the daily reports of old days read them), and how much of the pages in use the per-event
tables (events, the (event, rule) index, presence, reviews, with their indexes) take.

Prints a markdown table for every `--every` days and the last, and the ratio of the events held to
retention x daily volume.

Usage: .venv/bin/python bench/retention_size.py [--days 60] [--gates 500] [--gates-per-venue 10]
       [--per-gate 20] [--every 5] [--retention 28]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocols.events import GateEvent, new_event_id  # noqa: E402
from server.retention import DEFAULT_RETENTION_DAYS, purge  # noqa: E402
from server.store import HubStore  # noqa: E402


def day_events(venue: str, gate: str, day: dt.datetime, n: int, pool: list[str], rng: random.Random) -> list[GateEvent]:
    """One gate's events of one day, in time order, spread over the venue's daytime (08:00-20:00 UTC)."""
    times = sorted(day + dt.timedelta(hours=8, seconds=rng.uniform(0, 12 * 3600)) for _ in range(n))
    out = []
    for k, at in enumerate(times):
        leaving = k % 2 == 1
        decision = "admit" if leaving or rng.random() > 0.12 else rng.choice(["deny", "refer"])
        out.append(GateEvent(id=new_event_id(), kind="exit" if leaving else "decision", venue=venue, gate=gate,
                             at=at, direction="out" if leaving else "in", decision=decision,
                             subject=rng.choice(pool), name="张*", colour="green", celsius=36.5,
                             person_class="visitor", bundle_version="1"))
    return out


# What retention bounds (the events and what is kept per event) against what it keeps on purpose.
PER_EVENT = ("events", "event_rules", "presence", "denial_reviews")


def sizes(path: Path) -> tuple[int, int, int]:
    """(file bytes, bytes in pages in use, of those the bytes of PER_EVENT tables and their indexes) of a
    SQLite database, its WAL checkpointed first (dbstat: each table's and index's pages)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
    per_event = sum(size for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
                    if owner.get(name) in PER_EVENT)
    conn.close()
    return path.stat().st_size, (pages - free) * page, per_event


def main() -> None:
    """Run the simulated days and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--gates", type=int, default=500)
    parser.add_argument("--gates-per-venue", type=int, default=10)
    parser.add_argument("--per-gate", type=int, default=20, help="events per gate per day")
    parser.add_argument("--every", type=int, default=5, help="print a row every this many days")
    parser.add_argument("--retention", type=int, default=DEFAULT_RETENTION_DAYS, help="every venue's retention days")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # an exit of someone not counted inside is logged, a line a batch
    rng = random.Random(14)
    venues = max(1, args.gates // args.gates_per_venue)
    daily = venues * args.gates_per_venue * args.per_gate
    start = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) \
        - dt.timedelta(days=args.days)
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hub.db"
        store = HubStore(path)
        store.migrate()
        pools = {}
        for v in range(venues):
            store.create_venue(f"v{v}", {"cap": None})
            store.set_venue_console(f"v{v}", None, None, args.retention)
            for g in range(args.gates_per_venue):
                store.create_gate(f"v{v}", f"g{g}", direction="both")
            pools[f"v{v}"] = [os.urandom(16).hex() for _ in range(args.gates_per_venue * args.per_gate * 3)]
        for day in range(args.days):
            midnight = start + dt.timedelta(days=day)
            for v in range(venues):
                for g in range(args.gates_per_venue):
                    batch = day_events(f"v{v}", f"g{g}", midnight, args.per_gate, pools[f"v{v}"], rng)
                    result = store.ingest(batch, received_at=batch[-1].at + dt.timedelta(minutes=1))
                    if result.refused:
                        raise SystemExit(f"day {day}: {len(result.refused)} refused ({result.refused[0].reason})")
            deleted = sum(purge(store, now=midnight + dt.timedelta(days=1)).values())
            if (day + 1) % args.every == 0 or day + 1 == args.days:
                conn = sqlite3.connect(path)
                held = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                presence = conn.execute("SELECT count(*) FROM presence").fetchone()[0]
                counters = conn.execute("SELECT count(*) FROM event_counts").fetchone()[0]
                conn.close()
                file_bytes, used, per_event = sizes(path)
                rows.append((day + 1, held, deleted, presence, counters, file_bytes, used, per_event))
                print(f"day {day + 1}: {held:,} events held, {used / 2**20:.1f} MiB in use "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        store.close()
    retention = args.retention
    print(f"{venues} venues x {args.gates_per_venue} gates = {venues * args.gates_per_venue} gates, "
          f"{args.per_gate} events a gate a day ({daily:,} a day), {args.days} simulated days, retention "
          f"{retention} days, SQLite WAL; {time.perf_counter() - t0:.0f} s, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| day | events held | deleted that day | presence rows | hour-counter rows | file MiB | in use MiB "
          "| of which events, rule index, presence MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for day, held, deleted, presence, counters, file_bytes, used, per_event in rows:
        print(f"| {day} | {held:,} | {deleted:,} | {presence:,} | {counters:,} | {file_bytes / 2**20:.1f} "
              f"| {used / 2**20:.1f} | {per_event / 2**20:.1f} |")
    last = rows[-1]
    print(f"\nevents held at the end / (retention x daily volume): {last[1]:,} / {retention * daily:,} = "
          f"{last[1] / (retention * daily):.3f}")
    at_retention = next((r for r in rows if r[0] >= retention), None)
    if at_retention is not None:
        print(f"day {last[0]} / day {at_retention[0]}: pages in use {last[6] / at_retention[6]:.2f}x, "
              f"events, rule index and presence {last[7] / at_retention[7]:.2f}x")


if __name__ == "__main__":
    main()
