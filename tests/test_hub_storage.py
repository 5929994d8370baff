"""Storage that does not grow with the log (issues 13 item 4, 14 item 4), on both engines: the per-hour counters
equal a recount of the events after random ingest with replays and late entries, keyset pages cover every row
once, retention deletes old events but keeps their counts, and one purge runs at a time across processes."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter

import pytest

from protocols.events import REMEASURE_KIND
from server.retention import LOCK, RetentionWorker
from server.store import HubStore
from server.store_console import BadCursor, cursor_of, parse_cursor
from server.store_counts import NO_RULE
from tests.test_console_routes import TZ, Hub, gate_event

RULES = ("GATE-CODE-01", "GATE-TEMP-01", "GATE-MASK-01", "GATE-TRIP-01")


@pytest.fixture
def hub(hub_factory) -> Hub:
    return Hub(hub_factory)


def random_events(rng: random.Random, n: int, start: dt.datetime) -> list:
    """Events of two venues over a few hours: entries, denials, referrals, fevers, re-measures, exits."""
    out = []
    for i in range(n):
        venue = rng.choice(("school1", "factory1"))
        at = start + dt.timedelta(seconds=rng.randrange(0, 5 * 3600))
        subject = f"{rng.randrange(12):032x}"
        roll = rng.random()
        if roll < 0.25:
            e = gate_event(venue, "exit", at, direction="out", kind="exit", decision=None, subject=subject)
        elif roll < 0.35:
            e = gate_event(venue, "north", at, decision="deny", kind="fever", failed=("GATE-TEMP-01",), celsius=38.4,
                           subject=subject)
        elif roll < 0.42:
            e = gate_event(venue, "north", at, decision="deny", kind=REMEASURE_KIND, failed=("GATE-TEMP-01",),
                           subject=subject)
        elif roll < 0.6:
            failed = tuple(rng.sample(RULES, rng.randrange(0, 3)))
            e = gate_event(venue, rng.choice(("north", "south")), at, decision=rng.choice(("deny", "refer")),
                           failed=failed, subject=subject)
        else:
            e = gate_event(venue, rng.choice(("north", "south")), at, subject=subject,
                           person_class=rng.choice(("staff", "student", "visitor")))
        out.append(e.model_copy(update={"id": f"{e.id[:-4]}{i:04d}"}))  # ids unique even at one instant
    return out


def recount(hub: Hub) -> tuple[Counter, Counter, Counter, set]:
    """The counters as the events now stored say they should be, straight from SQL and the rows."""
    rows = hub.store.access_log(limit=100_000)
    effects = dict(hub.store.conn.exec_driver_sql("SELECT id, effect FROM events").all())
    events, rules, minutes, indexed = Counter(), Counter(), Counter(), set()
    for r in rows:
        eff = effects[r["id"]]
        events[(r["venue"], r["at"][:13], r["gate"], r["kind"], r["decision"] or "", r["person_class"] or "", eff)] += 1
        if r["decision"] == "deny" and r["kind"] != REMEASURE_KIND:
            for rule in r["failed"] or [NO_RULE]:
                rules[(r["venue"], r["at"][:13], rule)] += 1
        if eff:
            minutes[(r["venue"], r["at"][:16], "entries" if eff > 0 else "exits")] += 1
        indexed |= {(r["id"], rule) for rule in r["failed"]}
    return events, rules, minutes, indexed


def stored_counters(hub: Hub) -> tuple[Counter, Counter, Counter, set]:
    q = hub.store.conn.exec_driver_sql
    events = Counter({tuple(k): n for *k, n in q(
        "SELECT venue, hour, gate, kind, decision, person_class, effect, n FROM event_counts").all() if n})
    rules = Counter({tuple(k): n for *k, n in q("SELECT venue, hour, rule, n FROM rule_counts").all() if n})
    minutes = Counter()
    for venue, minute, entries, exits in q("SELECT venue, minute, entries, exits FROM occupancy_minutes").all():
        minutes.update({(venue, minute, "entries"): entries, (venue, minute, "exits"): exits})
    minutes = +minutes  # zero entries dropped, as in the recount
    indexed = set(q("SELECT event_id, rule FROM event_rules").all())
    return events, rules, minutes, indexed


@pytest.mark.parametrize("seed", [7, 2026])
def test_counters_equal_a_recount_after_random_ingest_with_replays(hub: Hub, seed: int) -> None:
    rng = random.Random(seed)
    events = random_events(rng, 300, dt.datetime.now(TZ) - dt.timedelta(hours=30))
    sent = 0
    while sent < len(events):
        size = rng.randrange(1, 40)
        batch = events[sent:sent + size]
        # A replay of some earlier events rides along (a gate that lost the answer sends them again), some twice.
        batch += rng.sample(events[:sent], min(sent, rng.randrange(0, 10))) + batch[:rng.randrange(0, 3)]
        rng.shuffle(batch)
        hub.store.ingest(batch)
        sent += size
    assert hub.store.ingest(events).new == 0  # everything sent again: nothing new, nothing counted
    assert hub.store.event_count() == len(events)
    assert stored_counters(hub) == recount(hub)
    # Late entries turned stored exits into counted ones (the exits' counters moved from effect 0 to -1).
    assert any(k[6] == -1 for k in stored_counters(hub)[0])


def test_the_overview_charts_read_the_counters_as_the_events_add_up(hub: Hub) -> None:
    rng = random.Random(11)
    start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    events = random_events(rng, 200, start)
    for i in range(0, len(events), 25):
        hub.store.ingest(events[i:i + 25])
    effects = dict(hub.store.conn.exec_driver_sql("SELECT id, effect FROM events").all())
    expected: dict[tuple, list[int]] = {}
    for r in hub.store.access_log(venue="school1", limit=100_000):
        if r["kind"] != REMEASURE_KIND:
            cell = expected.setdefault((r["at"][:13], r["decision"]), [0, 0])
            cell[0] += 1
            cell[1] += effects[r["id"]]
    since, until = start + dt.timedelta(hours=1), start + dt.timedelta(hours=4)
    got = hub.store.hourly_counts("school1", since.strftime("%Y-%m-%dT%H:%M:%SZ"), until.strftime("%Y-%m-%dT%H:%M:%SZ"))
    hours = {(start + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in (1, 2, 3)}
    assert {(r["hour"], r["decision"]): [r["n"], r["effect"]] for r in got} == {
        k: v for k, v in expected.items() if k[0] in hours}
    assert any(r["decision"] is None for r in got) and any(r["effect"] < 0 for r in got)  # exits: no decision


def test_the_report_reads_the_counters_and_an_old_day_keeps_them_after_deletion(hub: Hub) -> None:
    from server.reports import build_report
    from server.retention import purge

    day = (dt.datetime.now(TZ) - dt.timedelta(days=40)).date()
    at = dt.datetime.combine(day, dt.time(9), tzinfo=TZ)
    hub.store.ingest([gate_event("school1", "north", at + dt.timedelta(minutes=i), subject=f"{i:032x}") for i in range(5)]
                     + [gate_event("school1", "north", at, decision="deny", kind="fever", failed=("GATE-TEMP-01",),
                                   celsius=38.9, subject="ee" * 16)])
    before = build_report(hub.store, hub.store.venue("school1"), day, TZ)
    assert (before.entries, before.denied, before.fevers_total, before.peak_occupancy) == (5, 1, 1, 5)
    assert before.fevers == [{"at": "09:00:00", "gate": "north", "celsius": 38.9}]
    # The counters answer, not the events: with the events gone the figures are the same (fever times go with them).
    assert purge(hub.store)["school1"] == 6 and hub.store.event_count("school1") == 0
    after = build_report(hub.store, hub.store.venue("school1"), day, TZ)
    assert after.fevers == [] and after.fevers_total == 1
    after.fevers = before.fevers
    assert after == before


def test_keyset_pages_cover_every_row_once(hub: Hub) -> None:
    rng = random.Random(5)
    start = dt.datetime.now(TZ) - dt.timedelta(hours=3)
    # Many rows at the same instant: the id breaks the tie, and no row may fall between two pages.
    events = [gate_event("school1", "north", start + dt.timedelta(seconds=rng.randrange(20)), decision="deny",
                         failed=(rng.choice(RULES),)) for _ in range(60)]
    events = [e.model_copy(update={"id": f"{e.id[:-4]}{i:04d}"}) for i, e in enumerate(events)]
    hub.store.ingest(events)
    for filters in ({}, {"rule": "GATE-CODE-01"}, {"venue": "school1", "rule": "GATE-TEMP-01"}):
        everything = hub.store.denials(**filters, limit=1000)
        pages, before = [], None
        while True:
            page = hub.store.denials(**filters, limit=7, before=before)
            if not page:
                break
            pages.append(page)
            before = parse_cursor(cursor_of(page[-1]))
        seen = [r["id"] for p in pages for r in p]
        assert seen == [r["id"] for r in everything] and len(set(seen)) == len(seen) > 0
        # Back from the last page with `after`: the same pages, newest first within each.
        back, after = [], parse_cursor(cursor_of(pages[-1][0]))
        for p in reversed(pages[:-1]):
            got = hub.store.denials(**filters, limit=7, after=after)
            assert [r["id"] for r in got] == [r["id"] for r in p]
            back.append(got)
            after = parse_cursor(cursor_of(got[0]))
    api = hub.store.access_log(limit=1000)
    walked, before = [], None
    while page := hub.store.access_log(limit=9, before=before):
        walked += [r["id"] for r in page]
        before = parse_cursor(cursor_of(page[-1]))
    assert walked == [r["id"] for r in api]


def test_console_pages_follow_cursors_and_old_page_links_still_work(hub: Hub) -> None:
    start = dt.datetime.now(TZ) - dt.timedelta(hours=2)
    hub.store.ingest([gate_event("school1", "north", start + dt.timedelta(seconds=i), decision="deny",
                                 failed=("GATE-CODE-01",)) for i in range(120)])
    client = hub.client("admin")
    ids = [r["id"] for r in hub.store.denials(limit=1000)]
    page = client.get("/console/denials?venue=school1").get_data(as_text=True)
    assert "before=" in page and ids[49] in page and ids[50] not in page
    cursor = cursor_of(hub.store.denials(limit=50)[-1])
    second = client.get("/console/denials", query_string={"venue": "school1", "before": cursor, "page": 2})
    text = second.get_data(as_text=True)
    assert second.status_code == 200 and ids[50] in text and ids[99] in text and ids[49] not in text and "after=" in text
    old_link = client.get("/console/denials?venue=school1&page=2").get_data(as_text=True)
    assert ids[50] in old_link and ids[49] not in old_link
    for bad in ("nonsense", "2026-01-01T00:00:00Z,", ",01ABC", "a,b,c"):
        answer = client.get("/console/denials", query_string={"venue": "school1", "before": bad})
        assert answer.status_code == 400 and "AT,ID" in answer.get_data(as_text=True)
    with pytest.raises(BadCursor):
        parse_cursor("x" * 200 + ",y")


def test_two_purge_workers_do_not_both_run(hub: Hub) -> None:
    stores = [HubStore(hub.db) for _ in range(4)]
    try:
        barrier = threading.Barrier(len(stores))
        won: list[int] = []

        def take(i: int) -> None:
            barrier.wait()
            if stores[i].try_lock(LOCK, f"worker-{i}", 60):
                won.append(i)

        threads = [threading.Thread(target=take, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        holder = f"worker-{won[0]}"
        # While it holds the lock, another process's purge turn is skipped; its own renewal succeeds.
        other = RetentionWorker(hub.db)
        assert other.run_once() is None and other.runs == 0
        assert stores[won[0]].try_lock(LOCK, holder, 60)
        # A holder that died lets it lapse; one that finished gives it back.
        assert stores[0].try_lock(LOCK, "late", 60, now=__import__("time").time() + 61)
        stores[0].release_lock(LOCK, "late")
        assert other.run_once() is not None and other.runs == 1
    finally:
        for s in stores:
            s.close()


def test_a_background_worker_purges_without_being_asked(hub: Hub) -> None:
    from tests.conftest import wait_until

    old = gate_event("school1", "north", dt.datetime.now(TZ) - dt.timedelta(days=40))
    hub.store.ingest([old])
    worker = RetentionWorker(hub.db, interval_s=0.2, first_after_s=0.05).start()
    try:
        wait_until(lambda: hub.store.event_detail(old.id) is None, 10, "the background purge")
        wait_until(lambda: worker.runs >= 2, 10, "a second turn (presence rows pruned continuously)")
    finally:
        worker.stop()
