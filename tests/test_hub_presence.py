"""The device sync answer carries the venue's presence changes at other gates, from a cursor in the hub's own order."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from protocols.events import GateEvent, new_event_id
from server.retention import purge

VENUE = "plant-9"
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's own moment: one taken at import is minutes old by the time a long run reaches these
    tests, and the hub refuses events older than its presence window or ahead of its clock."""
    global NOW
    NOW = dt.datetime.now(dt.timezone.utc)


def event(gate: str, subject: str | None, *, kind: str = "decision", direction: str = "in",
          decision: str = "admit", ago_s: float = 5.0) -> GateEvent:
    return GateEvent(id=new_event_id(), kind=kind, venue=VENUE, gate=gate, at=NOW - dt.timedelta(seconds=ago_s),
                     direction=direction, decision=decision, subject=subject)


@pytest.fixture
def hub(hub_factory):
    gates = ("gate-1", "gate-2", "exit-1")
    built = hub_factory(venues={VENUE: {}}, gates={VENUE: gates}, enroll=[(VENUE, g) for g in gates])
    yield built.store, built.app.test_client(), {gate: secret for gate, (_, secret) in built.devices.items()}
    built.store.close()


def sync(client, secret: str, **body) -> dict:
    answer = client.post("/api/v1/device/sync", data=json.dumps({"events": [], **body}),
                         headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json


def test_a_gate_hears_admitted_entries_and_exits_at_other_gates_once(hub):
    store, client, secrets = hub
    entry, exit_ = event("gate-1", "h-alice", ago_s=30), event("exit-1", "h-alice", kind="exit", direction="out", ago_s=20)
    store.ingest([entry, event("gate-1", "h-bob", decision="deny"), event("gate-1", None),
                  event("gate-2", "h-carol"), exit_])
    first = sync(client, secrets["gate-2"], presence_after=0, presence_window_s=600)
    # Denials and anonymous events say nothing about presence; gate-2's own admission is not sent back to it.
    assert [(c["subject"], c["direction"]) for c in first["presence"]] == [("h-alice", "in"), ("h-alice", "out")]
    assert dt.datetime.fromisoformat(first["presence"][0]["at"]) == entry.at
    assert first["presence_more"] is False and first["presence_after"] > 0
    # Nothing new since the cursor; the same events sent again (a resend) add nothing either.
    store.ingest([entry, exit_])
    assert sync(client, secrets["gate-2"], presence_after=first["presence_after"])["presence"] == []
    # A late event (recorded offline a while ago, still inside the window) is after the cursor all the same.
    late = event("gate-1", "h-dave", ago_s=300)
    store.ingest([late])
    later = sync(client, secrets["gate-2"], presence_after=first["presence_after"], presence_window_s=600)
    assert [c["subject"] for c in later["presence"]] == ["h-dave"]
    # Older than the gate's window: not sent, but the cursor still moves past it.
    store.ingest([event("gate-1", "h-erin", ago_s=3600)])
    old = sync(client, secrets["gate-2"], presence_after=later["presence_after"], presence_window_s=600)
    assert old["presence"] == [] and old["presence_after"] > later["presence_after"]
    # gate-1 hears gate-2's admission, not its own; a gate that does not ask gets no presence at all.
    assert [c["subject"] for c in sync(client, secrets["gate-1"], presence_after=0)["presence"]] == ["h-carol", "h-alice"]
    assert "presence" not in sync(client, secrets["gate-1"])


def test_the_answer_is_bounded_and_pages_on(hub):
    store, _, _ = hub
    store.ingest([event("gate-1", f"h-{i}", ago_s=10 - i) for i in range(5)])
    since = NOW - dt.timedelta(minutes=5)
    page = store.presence_changes(VENUE, "gate-2", 0, since, limit=2)
    assert [c["subject"] for c in page.changes] == ["h-0", "h-1"] and page.more
    page = store.presence_changes(VENUE, "gate-2", page.cursor, since, limit=2)
    assert [c["subject"] for c in page.changes] == ["h-2", "h-3"] and page.more
    page = store.presence_changes(VENUE, "gate-2", page.cursor, since, limit=2)
    assert [c["subject"] for c in page.changes] == ["h-4"] and not page.more
    # A cursor from some other database (the hub was restored from a backup) starts over.
    assert len(store.presence_changes(VENUE, "gate-2", 10_000, since).changes) == 5


def test_bad_presence_fields_are_refused(hub):
    _, client, secrets = hub
    for body in ({"presence_after": -1}, {"presence_after": "x"}, {"presence_window_s": 86401}):
        answer = client.post("/api/v1/device/sync", data=json.dumps({"events": [], **body}),
                             headers={"Authorization": f"Bearer {secrets['gate-1']}", "Content-Type": "application/json"})
        assert answer.status_code == 422, body


def test_retention_deletes_presence_changes_after_a_day(hub):
    store, _, _ = hub
    store.ingest([event("gate-1", "h-old", ago_s=2 * 86400), event("gate-1", "h-new")])
    purge(store, NOW)
    page = store.presence_changes(VENUE, "gate-2", 0, NOW - dt.timedelta(days=3))
    assert [c["subject"] for c in page.changes] == ["h-new"]
