"""The supervisors' console over a large access log: how long a denials page, its filters, the
daily report, the overview (with its live fragment and chart query) and the retention purge take.

Fills a fresh hub database with N events (default 300,000) over 5 venues and 28 days, ~12%
denied or referred, then times each query (median of 20 runs) through the store, and each page
through Flask's test client (HTML rendered). Prints a markdown table.
Usage: .venv/bin/python bench/console.py [--events 300000] [--days 28]
(issue 12's figure: --events 1000000, the overview page target < 200 ms)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ulid import ULID  # noqa: E402

from protocols.events import GateEvent, RuleResult  # noqa: E402
from server.app import create_app  # noqa: E402
from server.reports import build_report  # noqa: E402
from server.retention import purge  # noqa: E402
from protocols.clock import utc_text  # noqa: E402
from server.store import HubStore  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
RULES = ["GATE-TEMP-01", "GATE-CODE-01", "GATE-TRIP-01", "GATE-MASK-01", "GATE-VISIT-01", "GATE-NAT-01"]
CLASSES = ["staff", "student", "visitor", "courier", "parent"]
SURNAMES = "王李张刘陈杨黄赵吴周"


def fill(store: HubStore, n: int, now: dt.datetime, days: float = 28) -> None:
    """n events, oldest `days` ago, in batches of 2,000."""
    rng = random.Random(7)
    batch: list[GateEvent] = []
    for i in range(n):
        at = now - dt.timedelta(seconds=rng.uniform(0, days * 86400))
        roll = rng.random()
        decision = "deny" if roll < 0.09 else "refer" if roll < 0.12 else "admit"
        failed = rng.sample(RULES, rng.choice((1, 1, 2))) if decision != "admit" else []
        batch.append(GateEvent(
            id=str(ULID.from_datetime(at)), kind="decision", venue=f"v{i % 5}", gate=f"g{rng.randrange(4)}", at=at,
            decision=decision, person_class=rng.choice(CLASSES), name=rng.choice(SURNAMES) + "*" + rng.choice(SURNAMES),
            subject=f"{rng.getrandbits(128):032x}", colour="green", celsius=round(rng.uniform(36.0, 37.2), 1),
            reasons=[RuleResult(rule=r, outcome="FAIL", message_zh="未通过", message_en="failed") for r in failed]))
        if len(batch) == 2000:
            store.ingest(batch)
            batch = []
    if batch:
        store.ingest(batch)


CONSOLE_INDEXES = ("events_venue_decision_at", "events_venue_gate_at", "events_at")


def ingest_rate(folder: Path, drop_console_indexes: bool, n: int = 50_000) -> float:
    """Events/s ingested in time order, batches of 100, with or without the console's three indexes."""
    store = HubStore(folder / f"ingest-{drop_console_indexes}.db")
    store.migrate()
    store.create_venue("v0", {})
    if drop_console_indexes:
        for index in CONSOLE_INDEXES:
            store.conn.exec_driver_sql(f"DROP INDEX {index}")
    start_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    events = [GateEvent(id=str(ULID.from_datetime(start_at + dt.timedelta(seconds=i))), kind="decision", venue="v0",
                        gate="g0", at=start_at + dt.timedelta(seconds=i), decision="admit", name="王*李")
              for i in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 100):
        store.ingest(events[i:i + 100])
    rate = n / (time.perf_counter() - start)
    store.close()
    return rate


def timed(fn, runs: int = 20) -> float:
    """Median milliseconds of fn() over runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--days", type=float, default=28, help="the events spread over this many days back")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hub.db"
        app = create_app({"DATABASE": str(db), "TESTING": True})
        store = HubStore(db)
        for v in range(5):
            store.create_venue(f"v{v}", {"name": f"venue {v}", "cap": 1000})
        store.create_user("admin", "bench-pass", "admin")
        now = dt.datetime.now(dt.timezone.utc)
        start = time.perf_counter()
        fill(store, args.events, now, args.days)
        fill_s = time.perf_counter() - start
        week_ago, day_ago = utc_text(now - dt.timedelta(days=7)), utc_text(now - dt.timedelta(days=1))
        yesterday = now.astimezone(TZ).date() - dt.timedelta(days=1)
        venue = store.venue("v0")
        rows = [
            ("denials, one venue, newest 51", lambda: store.denials(venue="v0", limit=51)),
            ("denials, one venue, page 20", lambda: store.denials(venue="v0", limit=51, offset=950)),
            ("denials, all venues, newest 51", lambda: store.denials(limit=51)),
            ("+ rule GATE-VISIT-01", lambda: store.denials(venue="v0", rule="GATE-VISIT-01", limit=51)),
            ("+ gate g1, last 7 days", lambda: store.denials(venue="v0", gate="g1", since=week_ago, limit=51)),
            ("+ deny only, last 24 h", lambda: store.denials(venue="v0", decisions=("deny",), since=day_ago, limit=51)),
            ("+ person class visitor", lambda: store.denials(venue="v0", person_class="visitor", limit=51)),
            ("+ masked name 王*李", lambda: store.denials(venue="v0", name="王*李", limit=51)),
            ("+ a rule that never failed (scans the venue)", lambda: store.denials(venue="v0", rule="NONE-01", limit=51)),
            ("daily report, one venue-day", lambda: build_report(store, venue, yesterday, TZ)),
            ("overview chart data: hourly_counts, one venue-day",
             lambda: store.hourly_counts("v0", utc_text(now - dt.timedelta(days=1)), utc_text(now))),
        ]
        client = app.test_client()
        page = client.get("/console/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/console/login", data={"username": "admin", "password": "bench-pass", "csrf_token": token})
        pages = [
            ("page /console/denials?venue=v0", "/console/denials?venue=v0"),
            ("page /console/denials?venue=v0&rule=GATE-TEMP-01", "/console/denials?venue=v0&rule=GATE-TEMP-01"),
            ("page /console/ (5 venues)", "/console/"),
            ("fragment /console/overview/live?venue=v0", "/console/overview/live?venue=v0"),
            ("page /console/fleet (5 venues)", "/console/fleet"),
            (f"page /console/reports?venue=v0&day={yesterday}", f"/console/reports?venue=v0&day={yesterday}"),
        ]
        print(f"{args.events:,} events over 5 venues and {args.days:g} days (filled in {fill_s:.1f} s)\n")
        print("| query | median ms |")
        print("|---|---|")
        for name, fn in rows:
            print(f"| {name} | {timed(fn):.2f} |")
        for name, path in pages:
            assert client.get(path).status_code == 200, path
            print(f"| {name} | {timed(lambda path=path: client.get(path), 10):.2f} |")
        for v in range(5):
            store.set_venue_console(f"v{v}", None, None, 14)
        start = time.perf_counter()
        purged = sum(purge(store, now).values())
        print(f"| purge: personal fields of {purged:,} events past 14 days | {(time.perf_counter() - start) * 1000:.0f} |")
        store.close()
        with_ix, without_ix = ingest_rate(Path(tmp), False), ingest_rate(Path(tmp), True)
        print(f"\nIngest cost of the console's indexes (time-ordered, batches of 100): {with_ix:,.0f} events/s with,"
              f" {without_ix:,.0f} without ({(1 - with_ix / without_ix) * 100:.0f}% slower)")


if __name__ == "__main__":
    main()
