"""Contact tracing over a large access log (issue 12 item 5: a trace over 1M events in under 1 s), on SQLite
and PostgreSQL, with the query plan of the contacts' statement.

The database is filled as bench/storage_queries.py fills it (its `prepare`: rows straight into the store's
tables, counters as ingest keeps them, indexes after, ANALYZE): N events over `--venues` venues (the last gate
of each is its exit) and `--days` days, a pool of people per venue coming back. Then for `--people` index
persons of venue v0 (those with the most events in the last day) it times `server.contact_trace.trace`, the
store's queries and the building of stays, over the event's day (the page's default) and over 14 days, with
a ±30 minute window: the median of `--runs` after one warm-up; and the console page `/console/trace` (its
default: the event's day; HTML of every contact) for the first person. It prints the venue's events, the moves the contacts' query returned,
the contacts found, and the plan of the slowest statement (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN
ANALYZE).

Usage: .venv/bin/python bench/contact_trace.py [--events 1000000] [--engines sqlite,postgresql] [--venues 1]
       [--days 28] [--people 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from storage_queries import Statements, plan, prepare, sign_in, size_of  # noqa: E402

from server.app import create_app  # noqa: E402
from server.contact_trace import trace  # noqa: E402
from server.reports import day_bounds  # noqa: E402
from server.schema import events  # noqa: E402
from server.store import HubStore  # noqa: E402
from server.store_engine import database_url, engine_for  # noqa: E402
from storage_queries import TZ  # noqa: E402

WINDOW = dt.timedelta(minutes=30)


def index_people(store: HubStore, venue: str, now: dt.datetime, people: int) -> list[tuple[str, str, str]]:
    """(subject, an event id of theirs, its time) for the people with the most events in the venue's last day."""
    e = events
    since = (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = store.conn.execute(select(e.c.subject, func.max(e.c.id), func.max(e.c.at))
                              .where(e.c.venue == venue, e.c.at >= since).group_by(e.c.subject)
                              .order_by(func.count().desc(), e.c.subject).limit(people)).all()
    return [tuple(r) for r in rows]


def measure(db: str, people: int, runs: int) -> dict[str, Any]:
    """Time traces over one day and over 14 days for each index person, and the page for the first."""
    store = HubStore(db)
    now = dt.datetime.now(dt.timezone.utc)
    venue = store.venue("v0")
    recorder = Statements(engine_for(database_url(db)))
    chosen = index_people(store, "v0", now, people)
    out: dict[str, Any] = {"venue_events": store.event_count("v0"), "rows": []}
    for days in (1, 14):
        for subject, event_id, at in chosen:
            day = dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(TZ).date()
            since = day_bounds(day - dt.timedelta(days=days - 1), TZ)[0]
            until = day_bounds(day, TZ)[1]
            result = trace(store, venue, subject, since, until, WINDOW, now)  # warm-up
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                result = trace(store, venue, subject, since, until, WINDOW, now)
                times.append((time.perf_counter() - t0) * 1000)
            recorder.ran, recorder.recording = [], True
            trace(store, venue, subject, since, until, WINDOW, now)
            recorder.recording = False
            sql, params, seconds = max(recorder.ran, key=lambda r: r[2])
            moves = sum(len(c.presences) for c in result.contacts)
            out["rows"].append({"days": days, "subject": subject[:8], "index": len(result.index),
                                "contacts": len(result.contacts), "presences": moves,
                                "median": statistics.median(times), "max": max(times), "sql_ms": seconds * 1000,
                                "sql": sql, "params": params, "event": event_id})
            print(f"  {days} d {subject[:8]}: {statistics.median(times):.0f} ms, {len(result.contacts)} contacts",
                  file=sys.stderr, flush=True)
    slowest = max(out["rows"], key=lambda r: r["median"])
    out["plan"] = plan(store, slowest["sql"], slowest["params"])
    out["plan_of"] = slowest
    app = create_app({"DATABASE": db, "TESTING": True})
    client = sign_in(app)
    first = out["rows"][0]  # the first person, the event's day (the page's default)
    path = f"/console/trace?event={first['event']}"
    assert client.get(path).status_code == 200
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
    out["page"] = (statistics.median(times), first["contacts"])
    store.close()
    return out


def report(engine: str, n: int, fill_s: float, size: str, got: dict[str, Any]) -> None:
    """Print one engine's table and the plan (markdown)."""
    print(f"\n### {engine}: {n:,} events ({got['venue_events']:,} in v0), {size}, filled in {fill_s:.0f} s\n")
    print("| days | index person | their presences | contacts | contacts' presences | median ms | max ms | slowest statement ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in got["rows"]:
        print(f"| {r['days']} | {r['subject']} | {r['index']} | {r['contacts']:,} | {r['presences']:,} | "
              f"{r['median']:.0f} | {r['max']:.0f} | {r['sql_ms']:.0f} |")
    page_ms, contacts = got["page"]
    print(f"\nThe page `/console/trace` (the event's day, {contacts:,} contacts rendered): {page_ms:.0f} ms median.")
    worst = got["plan_of"]
    print(f"\nPlan of the slowest statement ({worst['days']} d, {worst['subject']}, {worst['sql_ms']:.0f} ms):\n")
    print("```\n" + got["plan"] + "\n```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--venues", type=int, default=1)
    parser.add_argument("--gates", type=int, default=4)
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "sqlite":
                db = str(Path(tmp) / "hub.db")
                fill_s = prepare(db, args.events, args.venues, args.gates, args.days)
                report(engine, args.events, fill_s, size_of(db), measure(db, args.people, args.runs))
                continue
            from demo.processes import start_postgres
            from sqlalchemy import create_engine

            cluster = start_postgres()
            try:
                admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    c.execute(text("CREATE DATABASE bench"))
                admin.dispose()
                db = cluster.url("bench")
                fill_s = prepare(db, args.events, args.venues, args.gates, args.days)
                report(engine, args.events, fill_s, size_of(db), measure(db, args.people, args.runs))
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
