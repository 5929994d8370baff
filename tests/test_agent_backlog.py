"""The gate under a long backlog (issue 14 item 3): no query on the decision path grows with the pending rows.

The outbox order comes from an index (no sort), and the lease renewal's count of admissions the hub has
not seen and the figures' count of pending events are counters kept by triggers, each equal to the count
it replaced across record, ack, purge, an upgrade from a store that already held a backlog, and a kill -9
of a real process between record and ack (whose acks go on the outbox's own connection).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent import migrations
from agent.store import PENDING_SQL, AgentStore
from protocols.events import TAKES_PLACE_SQL, GateEvent, new_event_id, takes_place

KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[1]


def event(decision: str = "admit", direction: str = "in", kind: str = "decision") -> GateEvent:
    return GateEvent(id=new_event_id(), kind=kind, venue="v", gate="g", at=dt.datetime.now(dt.timezone.utc),
                     decision=decision, direction=direction, colour="green")


def counted(store: AgentStore) -> int:
    """The count the counter replaced: every pending outbox row that takes a place (what renew_lease summed)."""
    return sum(1 for i in store.outbox_pending(limit=10**9)
               if takes_place(i.payload.get("kind"), i.payload.get("direction", "in"), i.payload.get("decision")))


def pending(store: AgentStore) -> int:
    """The count the depth counter replaced: every pending outbox row."""
    return len(store.outbox_rows(limit=10**9))


def test_the_outbox_order_is_read_from_an_index_not_sorted(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    for _ in range(50):
        store.record(event())
    # No ANALYZE: a gate's store never runs it, and without statistics the planner chose the old
    # (sent_at, created_at) index and sorted.
    plan = " | ".join(r[3] for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + PENDING_SQL, ["", 100]))
    store.close()
    assert "TEMP B-TREE" not in plan.upper(), plan
    assert "outbox_unsent" in plan, plan


def test_the_counter_triggers_say_what_takes_place_as_protocols_events_does(tmp_path) -> None:
    # The triggers froze TAKES_PLACE_SQL when migration 006 ran: a changed definition needs a new migration.
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    triggers = [r[0] for r in store.db.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                                    "AND name LIKE 'outbox_unsynced_%'")]
    store.close()
    assert len(triggers) == 3 and all(TAKES_PLACE_SQL in sql for sql in triggers)


def test_the_unsynced_counter_equals_the_count_across_record_ack_and_purge(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    events = [event(), event("deny"), event(direction="out"), event(), event(kind="manual"), event(kind="alarm"),
              event()]
    for e in events:
        store.record(e)
        assert store.unsynced_places() == counted(store)
        assert store.outbox_depth() == pending(store)
    assert store.unsynced_places() == 4  # 3 admitted entries and a guard's opening (not the alarm)
    assert store.outbox_depth() == 7
    store.mark_sent([events[0].id, events[1].id])
    assert store.unsynced_places() == counted(store) == 3
    assert store.outbox_depth() == pending(store) == 5
    store.mark_sent([events[0].id, events[3].id])  # an ack heard twice (MQTT, then HTTP) counts once
    assert store.unsynced_places() == counted(store) == 2
    assert store.outbox_depth() == pending(store) == 4
    store.mark_failed([events[6].id], "hub unreachable")
    assert store.unsynced_places() == counted(store) == 2
    assert store.outbox_depth() == pending(store) == 4
    # Purging past retention never takes a pending row, nor miscounts a delivered one.
    assert store.purge(0, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) == 3
    assert store.unsynced_places() == counted(store) == 2
    assert store.outbox_depth() == pending(store) == 4
    store.close()


def test_acks_larger_than_a_chunk_commit_whole_and_the_counters_follow(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    events = [event() for _ in range(600)]  # more than two of the ack connection's chunks
    for e in events:
        store.record(e)
    store.mark_sent([e.id for e in events[:550]])
    assert store.outbox_depth() == pending(store) == 50
    assert store.unsynced_places() == counted(store) == 50
    assert [i for i, _ in store.outbox_rows(limit=10)] == [e.id for e in events[550:560]]
    store.close()


@pytest.mark.parametrize("before", [5, 6], ids=["before-006", "before-007"])
def test_an_old_store_with_a_backlog_starts_the_counters_at_its_counts(tmp_path, monkeypatch, before) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:before])
    old = AgentStore(tmp_path / "agent.sqlite", KEY)
    events = [event(), event(), event("deny"), event(), event(direction="out")]
    for e in events:
        old.record(e)
    old.mark_sent([events[0].id])
    old.close()
    monkeypatch.undo()
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    assert store.unsynced_places() == counted(store) == 2
    assert store.outbox_depth() == pending(store) == 4
    store.record(event())
    assert store.unsynced_places() == counted(store) == 3
    assert store.outbox_depth() == pending(store) == 5
    store.close()


_WRITER = textwrap.dedent("""
    import sys, datetime as dt
    from agent.store import AgentStore
    from protocols.events import GateEvent, new_event_id
    store = AgentStore(sys.argv[1], bytes(range(32)))
    n = 0
    while True:
        e = GateEvent(id=new_event_id(), kind="decision", venue="v", gate="g", at=dt.datetime.now(dt.timezone.utc),
                      decision="admit" if n % 3 else "deny", direction="in", colour="green")
        store.record(e)
        if n % 2:
            store.mark_sent([e.id])
        n += 1
        if n % 50 == 0:
            print(n, flush=True)
""")


@pytest.mark.slow
def test_the_counter_survives_a_kill_9_between_record_and_ack(tmp_path) -> None:
    path = tmp_path / "agent.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):  # three crashes at whatever moment the writer was in
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                                 env=env, cwd=ROOT)
        try:
            for _ in range(4):
                assert child.stdout.readline(), "the writer stopped by itself"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        store = AgentStore(path, KEY)
        assert store.count() >= 200
        assert store.unsynced_places() == counted(store) > 0
        assert store.outbox_depth() == pending(store) > 0
        store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_the_outbox_order_after_a_cursor_is_read_from_the_index_too(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    events = [event() for _ in range(20)]
    for e in events:
        store.record(e)
    assert [i.event_id for i in store.outbox_pending(limit=5, after=events[9].id)] == [e.id for e in events[10:15]]
    plan = " | ".join(r[3] for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + PENDING_SQL, [events[9].id, 5]))
    store.close()
    assert "TEMP B-TREE" not in plan.upper() and "outbox_unsent" in plan, plan


@pytest.mark.slow
def test_the_mqtt_publisher_reads_on_from_its_cursor_not_the_in_flight_head(tmp_path) -> None:
    from agent.config import SyncSection
    from agent.documents import DocumentCache
    from agent.sync import SyncClient
    from demo.processes import start_mosquitto

    broker = start_mosquitto(tmp_path)
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    read: list[int] = []
    rows_of = store.outbox_rows

    def counting(*args, **kwargs):
        rows = rows_of(*args, **kwargs)
        read.append(len(rows))
        return rows

    store.outbox_rows = counting  # the real query, its rows counted
    client = SyncClient(store, SyncSection(hub_url="http://127.0.0.1:9", device_id="dev", mqtt_host="127.0.0.1",
                                           mqtt_port=broker.port), venue="v", gate="g", secret="s",
                        presence_window_s=0, documents=DocumentCache(tmp_path / "docs"))
    try:
        client.start_mqtt()
        deadline = time.monotonic() + 10
        while not client.mqtt.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.mqtt.connected
        for _ in range(30):
            store.record(event())
        assert client.publish_pending() == 30
        later = [event() for _ in range(5)]
        for e in later:
            store.record(e)
        assert client.publish_pending() == 5  # none acked yet: the 30 are still in flight
        assert read == [30, 5]  # the second round read the 5 new rows, not the 30 in flight again
        assert client.publish_pending() == 0 and read[-1] == 0
    finally:
        client.mqtt.stop()
        store.close()
        broker.stop()
