"""The gate under a long backlog (issue 14 item 3): no query on the decision path grows with the pending rows.

The outbox order comes from an index (no sort), and the lease renewal's count of admissions the hub has
not seen is a counter kept by triggers, equal to the count it replaced across record, ack, purge, an
upgrade from a store that already held a backlog, and a kill -9 of a real process between record and ack.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
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


def test_the_outbox_order_is_read_from_an_index_not_sorted(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    for _ in range(50):
        store.record(event())
    store.db.execute("ANALYZE")
    plan = " | ".join(r[3] for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + PENDING_SQL, [100]))
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
    events = [event(), event("deny"), event(direction="out"), event(), event(kind="manual"), event(kind="alarm"), event()]
    for e in events:
        store.record(e)
        assert store.unsynced_places() == counted(store)
    assert store.unsynced_places() == 4  # 3 admitted entries and a guard's opening (not the alarm)
    store.mark_sent([events[0].id, events[1].id])
    assert store.unsynced_places() == counted(store) == 3
    store.mark_sent([events[0].id, events[3].id])  # an ack heard twice (MQTT, then HTTP) counts once
    assert store.unsynced_places() == counted(store) == 2
    store.mark_failed([events[6].id], "hub unreachable")
    assert store.unsynced_places() == counted(store) == 2
    # Purging past retention never takes a pending row, nor miscounts a delivered one.
    assert store.purge(0, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) == 3
    assert store.unsynced_places() == counted(store) == 2
    store.close()


def test_an_old_store_with_a_backlog_starts_the_counter_at_its_count(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
    old = AgentStore(tmp_path / "agent.sqlite", KEY)
    events = [event(), event(), event("deny"), event()]
    for e in events:
        old.record(e)
    old.mark_sent([events[0].id])
    old.close()
    monkeypatch.undo()
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    assert store.unsynced_places() == counted(store) == 2
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
        store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
