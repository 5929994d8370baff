"""Hub ingest rate: batches of events into the hub store (dedup by id and occupancy counted),
beside sqlite-utils' own insert_all of the same rows and plain executemany, in the same run.

Every event offered is stored or is a repeat of one stored (the run stops if the store refuses any):
the bench used to post to gates the hub had no row of, so each batch's gates took the direction of
their first event and the store refused the events made the other way, about half of them, which
counted as "offered" and inflated the rate. The gates now exist and are used both ways, and each
event has its own subject (a real venue's, not one person entering 200,000 times).

Usage: .venv/bin/python bench/hub_ingest.py [--events 200000] [--batch 500]
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path

from pydantic import TypeAdapter
from sqlite_utils import Database
from ulid import ULID

from protocols.events import GateEvent
from protocols.clock import utc_now, utc_text
from server.store import EVENT_COLUMNS, HubStore, _event_row, effect

BATCH = TypeAdapter(list[GateEvent])


def make_bodies(n: int, batch: int, venues: int = 4, gates: int = 8) -> list[bytes]:
    """JSON batch bodies as a gate sends them; 10% of events repeat an earlier one (a retry)."""
    start = utc_now() - dt.timedelta(hours=1)  # within the hub's bounds on an event's age
    events, bodies = [], []
    for i in range(n):
        if events and random.random() < 0.1:
            events.append(random.choice(events[-batch:]))
            continue
        v = i % venues
        events.append({
            "id": str(ULID()), "kind": "exit" if i % 5 == 4 else "decision", "venue": f"v{v}",
            "gate": f"g{i % gates}", "at": (start + dt.timedelta(milliseconds=i)).isoformat(),
            "direction": "out" if i % 5 == 4 else "in", "decision": "deny" if i % 7 == 0 else "admit",
            "reasons": [{"rule": "GR-TEMP", "outcome": "FAIL"}] if i % 7 == 0 else [],
            "subject": f"{i:032x}", "name": "张*明", "colour": "green", "celsius": 36.5,
        })
    for k in range(0, n, batch):
        bodies.append(json.dumps(events[k:k + batch]).encode())
    return bodies


def hub_store(tmp: Path, venues: int = 4, gates: int = 8) -> HubStore:
    """A fresh hub database with the venues and gates the events name (gates used both ways)."""
    store = HubStore(tmp / f"hub-{time.monotonic_ns()}.db")
    store.migrate()
    for v in range(venues):
        store.create_venue(f"v{v}", {"cap": None})
        for g in range(gates):
            store.create_gate(f"v{v}", f"g{g}", direction="both")
    return store


def bench_hub(tmp: Path, bodies: list[bytes]) -> tuple[float, int, int]:
    """Parse + validate + ingest every body; (seconds, events offered, events new); SystemExit if any is refused."""
    store = hub_store(tmp)
    offered = new = 0
    t0 = time.perf_counter()
    for body in bodies:
        events = BATCH.validate_json(body)
        offered += len(events)
        result = store.ingest(events)
        if result.refused:
            raise SystemExit(f"the store refused {len(result.refused)} events ({result.refused[0].reason}): "
                             "the rate would not be the ingest's")
        new += result.new
    return time.perf_counter() - t0, offered, new


def _rows(bodies: list[bytes]) -> list[list[dict]]:
    received = utc_text(utc_now())
    out = []
    for body in bodies:
        events = BATCH.validate_json(body)
        out.append([_event_row(e, effect(e), received) for e in events])
    return out


COLUMNS = list(EVENT_COLUMNS)


def bench_insert_all(tmp: Path, batches: list[list[dict]]) -> float:
    """sqlite-utils insert_all (ignore=True for dedup) of the same rows into the same table."""
    store = hub_store(tmp)
    db = Database(store.conn.connection.dbapi_connection)  # the store's own sqlite3 connection
    t0 = time.perf_counter()
    for rows in batches:
        with store.write():
            db["events"].insert_all(rows, ignore=True, batch_size=len(rows))
    return time.perf_counter() - t0


def bench_executemany(tmp: Path, batches: list[list[dict]]) -> float:
    """Plain sqlite3 executemany of pre-built rows (the ceiling, no parsing, no counting)."""
    store = hub_store(tmp)
    raw = store.conn.connection.dbapi_connection
    sql = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    tuples = [[tuple(r[c] for c in COLUMNS) for r in rows] for rows in batches]
    t0 = time.perf_counter()
    for rows in tuples:
        with store.write():
            raw.executemany(sql, rows)
    return time.perf_counter() - t0


def main() -> None:
    """Run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    random.seed(7)
    bodies = make_bodies(args.events, args.batch)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        secs, offered, new = bench_hub(tmp, bodies)
        batches = _rows(bodies)
        secs_ia = bench_insert_all(tmp, batches)
        secs_em = bench_executemany(tmp, batches)
    print(f"{offered:,} events offered in batches of {args.batch} ({offered - new:,} duplicates), SQLite WAL, "
          f"synchronous=NORMAL\n")
    print("| path | events/s |")
    print("|---|---|")
    print(f"| hub ingest: JSON body -> pydantic -> INSERT OR IGNORE + occupancy + lease counters | {offered / secs:,.0f} |")
    print(f"| sqlite-utils insert_all(ignore=True), rows already built | {offered / secs_ia:,.0f} |")
    print(f"| plain sqlite3 executemany, rows already built (ceiling) | {offered / secs_em:,.0f} |")


if __name__ == "__main__":
    main()
