"""The agent's SQLite store: durable events with an outbox, keyed hashes, retention."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from agent.store import AgentStore
from protocols.events import GateEvent, mask_name, new_event_id

KEY = bytes(range(32))
NOW = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone.utc)


def event(store: AgentStore, at: dt.datetime = NOW, decision: str = "admit", subject: str = "S-1") -> GateEvent:
    return GateEvent(
        id=new_event_id(), kind="decision", venue="v", gate="g", at=at, decision=decision,
        subject=store.hash_subject(subject), name=mask_name("张三丰"), colour="green", celsius=36.5,
    )


@pytest.fixture
def store(tmp_path):
    s = AgentStore(tmp_path / "agent.sqlite", KEY)
    yield s
    s.close()


def test_schema_is_created_by_named_migrations_once(tmp_path, store):
    store.close()
    again = AgentStore(tmp_path / "agent.sqlite", KEY)
    names = [r["name"] for r in again.db.query("SELECT name FROM _migrations")]
    assert names == ["001_events_and_outbox", "002_lease", "003_decision_inputs", "004_peer_presence",
                     "005_clock_anchor", "006_outbox_backlog", "007_outbox_depth"]
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again.close()


def test_recorded_event_is_readable_from_another_connection_with_its_outbox_row(tmp_path, store):
    e = event(store)
    store.record(e)
    other = sqlite3.connect(tmp_path / "agent.sqlite")
    assert other.execute("SELECT id FROM events").fetchall() == [(e.id,)]
    assert other.execute("SELECT event_id, attempts, sent_at FROM outbox").fetchall() == [(e.id, 0, None)]
    other.close()
    assert store.event(e.id) == e


def test_the_store_holds_a_keyed_hash_and_a_masked_name_never_the_subject(tmp_path, store):
    store.record(event(store, subject="110101199001011234"))
    raw = (tmp_path / "agent.sqlite").read_bytes() + (tmp_path / "agent.sqlite-wal").read_bytes()
    assert b"110101199001011234" not in raw
    assert "张三丰".encode() not in raw
    assert len(store.hash_subject("x")) == 32 and store.hash_subject("x") != store.hash_subject("y")


def test_recording_the_same_id_twice_fails_and_leaves_one_row(store):
    e = event(store)
    store.record(e)
    with pytest.raises(sqlite3.IntegrityError):
        store.record(e)
    assert store.count() == 1 and len(store.outbox_pending()) == 1


def test_outbox_drains_in_order_and_counts_failures(store):
    events = [event(store) for _ in range(3)]
    for e in events:
        store.record(e)
    pending = store.outbox_pending()
    assert [p.event_id for p in pending] == [e.id for e in events]
    assert pending[0].payload["id"] == events[0].id
    store.mark_failed([events[0].id], "hub unreachable")
    store.mark_sent([events[1].id])
    pending = store.outbox_pending()
    assert [(p.event_id, p.attempts) for p in pending] == [(events[0].id, 1), (events[2].id, 0)]


def test_last_admit_finds_the_subjects_latest_admission(store):
    store.record(event(store, at=NOW - dt.timedelta(seconds=30)))
    store.record(event(store, at=NOW - dt.timedelta(seconds=10), decision="deny"))
    found = store.last_admit(store.hash_subject("S-1"), "in", NOW - dt.timedelta(minutes=1))
    assert found == NOW - dt.timedelta(seconds=30)
    assert store.last_admit(store.hash_subject("S-1"), "in", NOW - dt.timedelta(seconds=20)) is None
    assert store.last_admit(store.hash_subject("S-2"), "in", NOW - dt.timedelta(minutes=1)) is None


def test_purge_removes_old_delivered_events_and_keeps_undelivered_ones(store):
    old_sent, old_unsent, recent = (event(store, at=NOW - dt.timedelta(days=d)) for d in (40, 35, 1))
    for e in (old_sent, old_unsent, recent):
        store.record(e)
    store.mark_sent([old_sent.id])
    assert store.purge(28, now=NOW) == 1
    assert store.event_ids() == {old_unsent.id, recent.id}


@pytest.mark.parametrize("name, masked", [("张三丰", "张*丰"), ("李四", "李*"), ("王", "*"), ("张*丰", "张*丰"), ("", None)])
def test_mask_name(name, masked):
    assert mask_name(name) == masked
