"""The console's pages and the API's event queries over a large access log, on SQLite and on PostgreSQL
(issue 13: every one under 200 ms with 5M events stored), each with the query plan of its slowest statement.

Fills a fresh hub database with N events fast: rows written straight into the store's own tables
(`events`, and through `server.store_counts.count_events` the per-hour counters, the rule counters, the
per-minute occupancy and the (event, rule) index, exactly as ingest keeps them), the secondary indexes
built after the rows (as a restore does), then ANALYZE. The events spread over `--venues` venues of
`--gates` gates each (the last gate of a venue is its exit), `--days` days back, busy in the venue's
daytime hours, ~12% of entries denied or referred, people coming back (a pool of subjects per venue).
Then it signs in through the console's login form and times each page and API query through Flask's
test client (HTML or JSON rendered): the median of `--runs`, after one warm-up. For each it records
every SQL statement the request ran and prints the plan of the slowest (SQLite's EXPLAIN QUERY PLAN,
PostgreSQL's EXPLAIN ANALYZE).

Usage: .venv/bin/python bench/storage_queries.py [--events 1000000] [--engines sqlite,postgresql]
       [--venues 5] [--gates 4] [--days 28] [--runs 5] [--database PATH_OR_URL] [--no-explain]
`--database PATH_OR_URL` uses that database and keeps it: filled first when it holds no venue, else
measured as it is (a database filled by an earlier run). Without it each engine gets a new database,
removed at the end: a temporary SQLite file, a PostgreSQL cluster of the bench's own
(`demo/processes.start_postgres`, fsync off).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, insert, select, text, update  # noqa: E402
from ulid import ULID  # noqa: E402

from protocols.clock import utc_text  # noqa: E402
from server.app import create_app  # noqa: E402
from server.schema import event_rules, events, occupancy  # noqa: E402
from server.store import HubStore  # noqa: E402
from server.store_counts import count_events  # noqa: E402
from server.store_engine import database_url, engine_for  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
# Rules that fail, with how often a denial names each (GATE-NAT-01 rare); NONE-01 never fails.
RULES = {"GATE-TEMP-01": 20, "GATE-CODE-01": 40, "GATE-TRIP-01": 15, "GATE-MASK-01": 15, "GATE-VISIT-01": 9,
         "GATE-NAT-01": 1}
CLASSES = ["staff", "student", "visitor", "courier", "parent"]
SURNAMES = "王李张刘陈杨黄赵吴周"
# A venue's day: share of its events in each local hour (busy 7-9 and 16-18, nothing at night).
HOUR_WEIGHT = [0, 0, 0, 0, 0, 0, 1, 8, 10, 5, 4, 4, 6, 4, 4, 5, 8, 9, 5, 3, 2, 1, 0, 0]
CHUNK = 20_000


def _reasons_text(rules: tuple[str, ...]) -> tuple[str, str]:
    """The stored `failed` and `reasons` of an event failing `rules` (as server/store.py `_event_row` writes them)."""
    if not rules:
        return ",,", "[]"
    return ("," + ",".join(rules) + ",", json.dumps(
        [{"rule": r, "outcome": "FAIL", "message_zh": "未通过", "message_en": "failed"} for r in rules],
        ensure_ascii=False))


def event_rows(n: int, venues: int, gates: int, days: float, now: dt.datetime, seed: int = 7):
    """Yield lists of `events` rows (about CHUNK each), oldest first, n in all."""
    rng = random.Random(seed)
    start = now - dt.timedelta(days=days)
    hours = int(days * 24)
    weights = [HOUR_WEIGHT[(start + dt.timedelta(hours=h)).astimezone(TZ).hour] for h in range(hours)]
    per_hour = [0] * hours
    for h in rng.choices(range(hours), weights, k=n):
        per_hour[h] += 1
    rules, rule_weights = list(RULES), list(RULES.values())
    reasons = {(): _reasons_text(())}
    subjects = [[f"{rng.getrandbits(128):032x}" for _ in range(max(50, n // venues // 40))] for _ in range(venues)]
    received = utc_text(now)
    chunk: list[dict[str, Any]] = []
    for h, count in enumerate(per_hour):
        base = start + dt.timedelta(hours=h)
        for offset in sorted(rng.random() * 3600 for _ in range(count)):
            at = base + dt.timedelta(seconds=offset)
            v = rng.randrange(venues)
            g = rng.randrange(gates)
            exit_gate = g == gates - 1
            roll = rng.random()
            kind = "decision"
            if exit_gate:
                decision, failed = "admit", ()
            elif roll < 0.09:
                decision = "deny"
                failed = tuple(dict.fromkeys(rng.choices(rules, rule_weights, k=rng.choice((1, 1, 1, 2)))))
                if failed == ("GATE-TEMP-01",) and rng.random() < 0.2:
                    kind = "fever"
            elif roll < 0.12:
                decision, failed = "refer", tuple(rng.choices(rules, rule_weights, k=1))
            else:
                decision, failed = "admit", ()
            if failed not in reasons:
                reasons[failed] = _reasons_text(failed)
            failed_text, reasons_text = reasons[failed]
            effect = 0 if decision != "admit" else -1 if exit_gate else 1
            stamp = utc_text(at)
            chunk.append({
                "id": str(ULID.from_datetime(at)), "venue": f"v{v}", "gate": f"g{g}", "at": stamp, "kind": kind,
                "direction": "out" if exit_gate else "in", "decision": decision, "effect": effect,
                "failed": failed_text, "reasons": reasons_text, "subject": rng.choice(subjects[v]),
                "name": rng.choice(SURNAMES) + "*" + rng.choice(SURNAMES), "person_class": rng.choice(CLASSES),
                "colour": "green", "celsius": round(rng.uniform(37.4, 38.6) if kind == "fever" else rng.uniform(36.0, 37.2), 1),
                "bundle_version": "1", "credential_format": "hp1", "operator": None, "note": None,
                "received_at": received, "wall_at": None})
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _copy(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY into one of the store's tables (the bulk path psycopg offers; the same rows as INSERT)."""
    names = [c.name for c in table.columns]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def fill(store: HubStore, n: int, venues: int, gates: int, days: float, now: dt.datetime) -> float:
    """Fill the store with n events, counters and rule index rows kept as ingest keeps them; seconds taken."""
    t0 = time.perf_counter()
    conn = store.conn
    pg = conn.dialect.name == "postgresql"
    secondary = [*events.indexes, *event_rules.indexes]
    with store.write() as c:
        for index in secondary:
            index.drop(c)
    if not pg:
        conn.exec_driver_sql("PRAGMA cache_size=-1000000")
    done = 0
    for chunk in event_rows(n, venues, gates, days, now):
        with store.write() as c:
            rule_rows = [{"event_id": r["id"], "rule": rule, "venue": r["venue"], "at": r["at"]}
                         for r in chunk for rule in r["failed"].split(",") if rule]
            if pg:
                _copy(c, events, chunk)
                _copy(c, event_rules, rule_rows)
            else:
                c.execute(insert(events), chunk)
                c.execute(insert(event_rules), rule_rows)
            count_events(c, chunk, index_rules=False)
        done += len(chunk)
        if done % 500_000 < CHUNK:
            print(f"  {done:,} events in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    with store.write() as c:
        for index in secondary:
            index.create(c)
        for v in range(venues):
            entries, exits = c.execute(select(func.count().filter(events.c.effect > 0),
                                              func.count().filter(events.c.effect < 0))
                                       .where(events.c.venue == f"v{v}")).one()
            c.execute(update(occupancy).where(occupancy.c.venue == f"v{v}")
                      .values(entries=entries, exits=exits, inside=max(0, entries - exits)))
    conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


class Statements:
    """Every read the database ran while recording: (SQL, parameters, seconds)."""

    def __init__(self, engine: Any):
        self.recording = False
        self.ran: list[tuple[str, Any, float]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        if self.recording and not executemany and statement.lstrip()[:6].upper() in ("SELECT", "WITH R"):
            self.ran.append((statement, parameters, time.perf_counter() - conn.info["bench_t0"]))


def rerun(store: HubStore, statement: str, parameters: Any) -> float:
    """Seconds one read takes with all its rows fetched."""
    t0 = time.perf_counter()
    store.conn.exec_driver_sql(statement, parameters).all()
    return time.perf_counter() - t0


def plan(store: HubStore, statement: str, parameters: Any) -> str:
    """The plan of one statement as run (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL)."""
    if store.conn.dialect.name == "sqlite":
        rows = store.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(str(r[-1]) for r in rows)
    rows = store.conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement, parameters).all()
    return "\n".join(r[0] for r in rows)


def sign_in(app: Any) -> Any:
    """A test client signed in to the console as the bench's admin."""
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/console/login", data={"username": "admin", "password": "bench-pass-1234", "csrf_token": token})
    assert answer.status_code in (302, 303), answer.status_code
    return client


def queries(store: HubStore, now: dt.datetime) -> list[tuple[str, str]]:
    """(name, path) of each page and API query timed, cursors taken from the filled database."""
    today = now.astimezone(TZ).date()
    e = events
    deny = e.c.decision.in_(("deny", "refer"))
    deep = store.conn.execute(select(e.c.at, e.c.id).where(e.c.venue == "v0", deny, e.c.kind != "remeasure")
                              .order_by(e.c.at.desc(), e.c.id.desc()).limit(1).offset(199 * 50 - 1)).first()
    deep_api = store.conn.execute(select(e.c.at, e.c.id).where(e.c.venue == "v0").order_by(e.c.at.desc(), e.c.id.desc())
                                  .limit(1).offset(199 * 1000 - 1)).first()
    day_ago = (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cursor = f"{deep[0]},{deep[1]}" if deep else ""
    api_cursor = f"{deep_api[0]},{deep_api[1]}" if deep_api else ""
    return [
        ("overview /console/ (all venues)", "/console/"),
        ("overview live fragment, one venue", "/console/overview/live?venue=v0"),
        ("fleet /console/fleet", "/console/fleet"),
        ("denials, one venue, first page", "/console/denials?venue=v0"),
        ("denials, all venues, first page", "/console/denials"),
        ("denials, one venue, rule GATE-NAT-01 (rare)", "/console/denials?venue=v0&rule=GATE-NAT-01"),
        ("denials, one venue, a rule that never failed", "/console/denials?venue=v0&rule=NONE-01"),
        ("denials, all venues, a rule that never failed", "/console/denials?rule=NONE-01"),
        ("denials, one venue, gate g1, deny only", "/console/denials?venue=v0&gate=g1&decision=deny"),
        ("denials, one venue, person class visitor", "/console/denials?venue=v0&person_class=visitor"),
        ("denials, one venue, masked name 王*李", "/console/denials?venue=v0&name=" + "王*李"),
        ("denials, one venue, page 200 by keyset (before=)", f"/console/denials?venue=v0&before={cursor}&page=200"),
        ("denials, one venue, page 200 by offset (old page= link)", "/console/denials?venue=v0&page=200"),
        ("report, one venue, yesterday", f"/console/reports?venue=v0&day={today - dt.timedelta(days=1)}"),
        ("report, one venue, 27 days back", f"/console/reports?venue=v0&day={today - dt.timedelta(days=27)}"),
        ("API events, one venue, newest 1000", "/api/v1/events?venue=v0&limit=1000"),
        ("API events, all venues, rule never failed", "/api/v1/events?rule=NONE-01"),
        ("API events, one venue, last 24 h, deny, 1000", f"/api/v1/events?venue=v0&decision=deny&since={day_ago}&limit=1000"),
        ("API events, one venue, page 200 by keyset", f"/api/v1/events?venue=v0&limit=1000&before={api_cursor}"),
        ("API events, one venue, CSV 1000", "/api/v1/events?venue=v0&limit=1000&format=csv"),
    ]


def measure(db: str, runs: int, explain: bool) -> list[tuple[str, float, float, str, float, str]]:
    """Time every query of `queries` on a filled database: (name, median ms, max ms, slowest SQL, its ms, plan)."""
    app = create_app({"DATABASE": db, "TESTING": True})
    store = HubStore(db)
    now = dt.datetime.now(dt.timezone.utc)
    recorder = Statements(engine_for(database_url(db)))
    client = sign_in(app)
    out = []
    for name, path in queries(store, now):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True)[:300])
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
        recorder.ran, recorder.recording = [], True
        client.get(path)
        recorder.recording = False
        # Each read run again with its rows fetched: sqlite3 steps a statement at the fetch, after the
        # cursor's execute returned, so the request's own timing of a statement misses most of its cost.
        sql, params, seconds = max(((sql, params, rerun(store, sql, params)) for sql, params, _ in recorder.ran),
                                   key=lambda r: r[2])
        shown_plan = plan(store, sql, params) if explain else ""
        out.append((name, statistics.median(times), max(times), sql, seconds * 1000, shown_plan))
        print(f"  {name}: {statistics.median(times):.1f} ms", file=sys.stderr, flush=True)
    store.close()
    return out


def prepare(db: str, n: int, venues: int, gates: int, days: float) -> float:
    """Migrate a new database, add the venues, gates and admin, fill it; seconds the fill took."""
    store = HubStore(db)
    store.migrate()
    for v in range(venues):
        store.create_venue(f"v{v}", {"name": f"venue {v}", "cap": 5000})
        for g in range(gates):
            store.create_gate(f"v{v}", f"g{g}", direction="out" if g == gates - 1 else "in")
    store.create_user("admin", "bench-pass-1234", "admin")
    seconds = fill(store, n, venues, gates, days, dt.datetime.now(dt.timezone.utc))
    store.close()
    return seconds


def size_of(db: str) -> str:
    """The database's size on disk."""
    store = HubStore(db)
    try:
        if store.conn.dialect.name == "sqlite":
            pages = store.conn.exec_driver_sql("PRAGMA page_count").scalar() * store.conn.exec_driver_sql("PRAGMA page_size").scalar()
        else:
            pages = store.conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        return f"{pages / 1e9:.2f} GB"
    finally:
        store.close()


def report(engine: str, n: int, fill_s: float | None, size: str, results: list, explain: bool) -> None:
    """Print one engine's table and plans (markdown)."""
    filled = f", filled in {fill_s:.0f} s" if fill_s is not None else ""
    print(f"\n### {engine}: {n:,} events, {size}{filled}\n")
    print("| query | median ms | max ms | slowest statement ms (run again, rows fetched) |")
    print("|---|---|---|---|")
    for name, median, top, _sql, sql_ms, _plan in results:
        mark = " **over 200**" if median >= 200 else ""
        print(f"| {name} | {median:.1f}{mark} | {top:.1f} | {sql_ms:.1f} |")
    if explain:
        print(f"\n<details><summary>{engine}: the slowest statement of each query and its plan</summary>\n")
        for name, _median, _top, sql, sql_ms, shown_plan in results:
            flat = " ".join(sql.split())
            print(f"**{name}** ({sql_ms:.1f} ms): `{flat[:400]}`\n\n```\n{shown_plan}\n```\n")
        print("</details>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--venues", type=int, default=5)
    parser.add_argument("--gates", type=int, default=4)
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", help="this database (a SQLite path or a URL): filled first when it has no venue, kept")
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    explain = not args.no_explain
    if args.database:
        fill_s = None
        store = HubStore(args.database)
        store.migrate()
        empty = not store.venues()
        store.close()
        if empty:
            fill_s = prepare(args.database, args.events, args.venues, args.gates, args.days)
        engine = "sqlite" if "://" not in args.database or args.database.startswith("sqlite") else "postgresql"
        n = int(HubStore(args.database).conn.execute(select(func.count()).select_from(events)).scalar())
        report(engine, n, fill_s, size_of(args.database), measure(args.database, args.runs, explain), explain)
        return
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "sqlite":
                db = str(Path(tmp) / "hub.db")
                fill_s = prepare(db, args.events, args.venues, args.gates, args.days)
                report(engine, args.events, fill_s, size_of(db), measure(db, args.runs, explain), explain)
                continue
            from demo.processes import start_postgres

            cluster = start_postgres()
            try:
                from sqlalchemy import create_engine

                admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    c.execute(text("CREATE DATABASE bench"))
                admin.dispose()
                db = cluster.url("bench")
                fill_s = prepare(db, args.events, args.venues, args.gates, args.days)
                report(engine, args.events, fill_s, size_of(db), measure(db, args.runs, explain), explain)
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
