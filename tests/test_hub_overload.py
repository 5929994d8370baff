"""Overload is answered, not timed out (issue 14 item 2): past its bound of syncs in flight the hub answers
503 with a Retry-After at once; the gate waits that long (plus jitter), loses nothing, and a Retry-After
it cannot read is taken as a default, never an error."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import requests

from agent.backoff import DEFAULT_RETRY_AFTER_S, MAX_RETRY_AFTER_S, RETRY_JITTER_S, Backoff, parse_retry_after
from agent.config import SyncSection
from agent.documents import DocumentCache
from agent.store import AgentStore
from agent.sync import SyncBusy, SyncClient
from protocols import contract
from protocols.events import GateEvent, new_event_id
from server import overload
from server.store import HubStore
from tests.conftest import wait_until

KEY = bytes(range(32))


@pytest.fixture
def busy_hub(hub_factory):
    """A served hub that runs one sync at a time, sheds the next at once, and tells gates 2-3 s."""
    hub = hub_factory(venues={"acme": {}}, gates={"acme": ["g0", "g1"]}, enroll=[("acme", "g0"), ("acme", "g1")],
                      serve=True)
    hub.app.config.update(SYNC_MAX_IN_FLIGHT=1, SYNC_MAX_WAITING=0, SYNC_QUEUE_WAIT_S=0, SYNC_RETRY_AFTER_S="2-3")
    overload.init_app(hub.app)
    return hub


def _event(gate: str) -> GateEvent:
    return GateEvent(id=new_event_id(), kind="decision", venue="acme", gate=gate, at=dt.datetime.now(dt.timezone.utc),
                     decision="admit", colour="green", subject=new_event_id().lower(), celsius=36.5, direction="in")


def _post(hub, gate: str, events: list[GateEvent]) -> requests.Response:
    body = contract.SyncRequest(events=events).model_dump_json()
    return requests.post(hub.url + contract.path(contract.DEVICE_SYNC), data=body, timeout=30,
                         headers={"Authorization": f"Bearer {hub.devices[gate][1]}", "Content-Type": "application/json"})


def test_a_sync_past_the_bound_is_answered_503_with_retry_after_and_stores_nothing(busy_hub):
    hub = busy_hub
    slots = hub.app.extensions["sync_slots"]
    blocker = HubStore(hub.db)
    first: list[requests.Response] = []
    with blocker.write():  # every hub write queues behind this one: the first sync stays in flight
        held = threading.Thread(target=lambda: first.append(_post(hub, "g0", [_event("g0")])))
        held.start()
        wait_until(lambda: slots.in_flight == 1, what="the first sync in flight")
        shed_event = _event("g1")
        answer = _post(hub, "g1", [shed_event])
        assert answer.status_code == 503
        assert answer.json()["error"]["reason"] == "hub_busy"
        assert 2 <= int(answer.headers["Retry-After"]) <= 3
    held.join(timeout=30)
    blocker.close()
    assert first[0].status_code == 200  # the one in flight went through once the lock was free
    assert hub.sql("SELECT count(*) FROM events WHERE id = :id", {"id": shed_event.id})[0][0] == 0
    assert slots.shed == 1 and slots.in_flight == 0
    # Room again: the same batch is taken.
    assert _post(hub, "g1", [shed_event]).status_code == 200


def test_the_gate_honours_retry_after_and_keeps_its_events(busy_hub, tmp_path):
    hub = busy_hub
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    for _ in range(3):
        store.record(_event("g0"))
    device, secret = hub.devices["g0"]
    client = SyncClient(store, SyncSection(hub_url=hub.url, device_id=device.id, interval_s=1), venue="acme", gate="g0",
                        secret=secret, presence_window_s=0, documents=DocumentCache(tmp_path / "docs"))
    slot = hub.app.extensions["sync_slots"]._slots
    slot.acquire()  # the hub's one slot taken: the gate's sync is shed
    try:
        with pytest.raises(SyncBusy) as busy:
            client.sync_http()
        assert busy.value.retry_after_s in (2.0, 3.0)
        before = time.monotonic()
        client.step()  # the loop's round: no error, the next round not before Retry-After (plus jitter)
        assert before + 2.0 <= client.not_before <= time.monotonic() + 3.0 + RETRY_JITTER_S
    finally:
        slot.release()
    pending = store.outbox_pending()
    assert len(pending) == 3 and all(item.attempts == 0 for item in pending)  # not a failed delivery
    assert client.sync_http() == 3 and store.outbox_pending() == []
    assert hub.sql("SELECT count(*) FROM events")[0][0] == 3


@pytest.mark.parametrize("value, seconds", [
    ("7", 7.0), (" 2 ", 2.0), ("0", 0.0), ("1.5", 1.5), ("86400", MAX_RETRY_AFTER_S),
    ("soon", None), ("", None), ("-3", None), ("nan", None), ("inf", None), ("1e999", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date gone by: at once
    ("Thu, 03 Dec 2026 12:00:30 GMT", 30.0),
    ("Thu, 32 Dec 2026 12:00:30 GMT", None),
])
def test_retry_after_is_read_as_seconds_or_a_date_and_anything_else_is_no_time(value, seconds):
    now = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after(value, now) == seconds


def test_a_malformed_retry_after_waits_the_default_and_timeouts_back_off_doubling():
    import random

    backoff = Backoff(5.0, random.Random(1))
    waits = [backoff.busy(parse_retry_after("soon")) for _ in range(50)]
    assert all(DEFAULT_RETRY_AFTER_S <= w < DEFAULT_RETRY_AFTER_S + RETRY_JITTER_S for w in waits)
    assert len(set(waits)) > 1  # jittered: gates told the same come back apart
    failures = [backoff.failed() for _ in range(6)]
    assert [2.5 <= failures[0] <= 5, 5 <= failures[1] <= 10, 10 <= failures[2] <= 20] == [True] * 3
    assert all(w <= 30 for w in failures)
    backoff.ok()
    assert backoff.failed() <= 5


def test_a_gate_told_503_with_a_malformed_retry_after_still_keeps_its_events(hub_factory, tmp_path):
    # A proxy in front of the hub answering 503 with "Retry-After: later": the gate waits the default.
    from tests.test_gate_hostile_hub import HostileHub

    with HostileHub() as proxy:
        proxy_handler = proxy.server.RequestHandlerClass

        def do_post(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._send(503, b"busy", {"Retry-After": "later"})

        proxy_handler.do_POST = do_post
        store = AgentStore(tmp_path / "agent.sqlite", KEY)
        store.record(_event("g0"))
        client = SyncClient(store, SyncSection(hub_url=proxy.url, device_id="d", interval_s=1), venue="acme", gate="g0",
                            secret="s", presence_window_s=0, documents=DocumentCache(tmp_path / "docs"))
        before = time.monotonic()
        client.step()
        assert client.not_before >= before + DEFAULT_RETRY_AFTER_S
        assert [item.attempts for item in store.outbox_pending()] == [0]
