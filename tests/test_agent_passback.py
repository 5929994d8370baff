"""Anti-passback across gates at the agent: its own records merged with the other gates' presence changes."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.config import SyncSection
from agent.store import AgentStore
from agent.sync import SyncClient
from protocols.events import GateEvent, new_event_id

KEY = b"venue-key-shared-by-every-gate!!"
VENUE = "school-3"
NOW = dt.datetime.now(dt.timezone.utc)
WINDOW = NOW - dt.timedelta(minutes=10)


def at(ago_s: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=ago_s)


def record(store: AgentStore, gate: str, subject: str, *, ago_s: float, direction: str = "in",
           decision: str = "admit") -> GateEvent:
    event = GateEvent(id=new_event_id(), kind="exit" if direction == "out" else "decision", venue=VENUE, gate=gate,
                      at=at(ago_s), direction=direction, decision=decision, subject=store.hash_subject(subject))
    store.record(event)
    return event


def change(store: AgentStore, subject: str, direction: str, ago_s: float) -> dict:
    return {"subject": store.hash_subject(subject), "direction": direction, "at": at(ago_s).isoformat()}


@pytest.fixture
def store(tmp_path):
    s = AgentStore(tmp_path / "gate.sqlite", KEY)
    yield s
    s.close()


def test_the_newest_of_own_and_peer_records_says_who_is_inside(store):
    h = store.hash_subject
    record(store, "gate-2", "S-own", ago_s=60)
    record(store, "gate-2", "S-denied", ago_s=60, decision="deny")
    store.save_peer_presence([change(store, "S-peer", "in", 50), change(store, "S-left", "in", 90),
                              change(store, "S-left", "out", 40), change(store, "S-own-left", "out", 30),
                              change(store, "S-back", "in", 80), change(store, "S-back", "out", 70),
                              change(store, "S-back", "in", 20), change(store, "S-old", "in", 3600)], after=8)
    record(store, "gate-2", "S-own-left", ago_s=45)
    assert store.inside(h("S-own"), WINDOW)  # entered here
    assert store.inside(h("S-peer"), WINDOW)  # entered at another gate: the code passed back is refused here
    assert not store.inside(h("S-left"), WINDOW)  # entered, then left by the exit gate
    assert not store.inside(h("S-own-left"), WINDOW)  # entered here, then left by the exit gate
    assert store.inside(h("S-back"), WINDOW)  # left and came back in elsewhere
    assert not store.inside(h("S-old"), WINDOW)  # before the anti-passback window
    assert not store.inside(h("S-denied"), WINDOW) and not store.inside(h("S-nobody"), WINDOW)
    assert store.peer_cursor() == 8


def test_the_check_is_one_indexed_lookup_per_table(store):
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.inside(store.hash_subject("S-1"), WINDOW)
    store.db.conn.set_trace_callback(None)
    (sql,) = [s for s in statements if "peer_presence" in s]  # as executed, with its values in place
    plan = " ".join(r[3] for r in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "events_subject_at" in plan and "peer_presence_subject_at" in plan and "SCAN events" not in plan


def test_peer_presence_goes_with_retention_and_never_outlives_a_day(store):
    store.save_peer_presence([change(store, "S-1", "in", 2 * 86400), change(store, "S-2", "in", 10)], after=2)
    store.purge(retention_days=28, now=NOW)
    left = [r[0] for r in store.db.conn.execute("SELECT subject FROM peer_presence")]
    assert left == [store.hash_subject("S-2")]


@pytest.fixture
def hub(hub_factory):
    gates = ("gate-1", "gate-2", "exit-1")
    built = hub_factory(venues={VENUE: {}}, gates={VENUE: gates}, enroll=[(VENUE, g) for g in gates], serve=True)
    secrets = {gate: (device.id, secret) for gate, (device, secret) in built.devices.items()}
    return built.url, secrets, built.server


def client(tmp_path, url: str, secrets: dict, gate: str) -> SyncClient:
    device_id, secret = secrets[gate]
    return SyncClient(AgentStore(tmp_path / f"{gate}.sqlite", KEY), SyncSection(
        hub_url=url, device_id=device_id, documents_dir=tmp_path / gate, http_timeout=2),
        venue=VENUE, gate=gate, secret=secret, presence_window_s=600)


@pytest.mark.slow
def test_sync_brings_other_gates_entries_and_exits_and_offline_the_gate_uses_what_it_heard(hub, tmp_path):
    url, secrets, server = hub
    gate1, gate2, exit1 = (client(tmp_path, url, secrets, g) for g in ("gate-1", "gate-2", "exit-1"))
    subject = gate2.store.hash_subject("S-1")
    record(gate1.store, "gate-1", "S-1", ago_s=30)
    gate1.sync_http()
    assert not gate2.store.inside(subject, WINDOW)  # not heard yet
    gate2.sync_http()
    assert gate2.store.inside(subject, WINDOW) and gate2.store.peer_cursor() > 0
    record(exit1.store, "exit-1", "S-1", ago_s=10, direction="out")
    exit1.sync_http()
    gate2.sync_http()
    assert not gate2.store.inside(subject, WINDOW)
    # gate-1 hears the exit too: its own entry is older than it.
    gate1.sync_http()
    assert not gate1.store.inside(subject, WINDOW)
    # Back in at gate-1, then the hub goes away: gate-2 keeps what it last heard, across a restart too.
    record(gate1.store, "gate-1", "S-1", ago_s=5)
    gate1.sync_http()
    gate2.sync_http()
    server.shutdown()
    gate2.store.close()
    again = AgentStore(tmp_path / "gate-2.sqlite", KEY)
    assert again.inside(subject, WINDOW)
    again.close()
