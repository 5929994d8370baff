"""Compressed sync batches (issue 14 item 3): the gate sends gzip, the hub inflates it within a bound.

A compressed batch is stored exactly once; a body that inflates past the bound (a zip bomb) is
answered 413 with nothing stored; a gate whose batch the hub finds too large sends it again in
smaller batches, and a gate whose hub cannot read gzip sends it plain: nothing is lost either way.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from agent.config import SyncSection
from agent.documents import DocumentCache
from agent.store import AgentStore
from agent.sync import SyncClient
from protocols import contract
from protocols.events import GateEvent, new_event_id

KEY = bytes(range(32))


@pytest.fixture
def served(hub_factory):
    """A served hub with one enrolled gate, and the Content-Encoding and status of every sync call it saw."""
    hub = hub_factory(venues={"acme": {}}, gates={"acme": ["g0"]}, enroll=[("acme", "g0")], serve=True)
    seen: list[tuple[str | None, int]] = []

    @hub.app.after_request
    def _note(response):
        from flask import request
        if request.path == contract.path(contract.DEVICE_SYNC):
            seen.append((request.headers.get("Content-Encoding"), response.status_code))
        return response

    return hub, seen


def gate(tmp_path, hub, n: int, **settings) -> tuple[AgentStore, SyncClient]:
    """A gate store holding n pending admitted entries, and its sync client."""
    store = AgentStore(tmp_path / "agent.sqlite", KEY)
    for i in range(n):
        store.record(GateEvent(id=new_event_id(), kind="decision", venue="acme", gate="g0",
                               at=dt.datetime.now(dt.timezone.utc), decision="admit", colour="green",
                               subject=f"{i:032x}", celsius=36.5))
    device, secret = hub.devices["g0"]
    client = SyncClient(store, SyncSection(hub_url=hub.url, device_id=device.id, **settings), venue="acme",
                        gate="g0", secret=secret, presence_window_s=0, documents=DocumentCache(tmp_path / "docs"))
    return store, client


def hub_events(hub) -> tuple[int, int]:
    """(rows, distinct ids) in the hub's events table."""
    return hub.sql("SELECT count(*), count(DISTINCT id) FROM events")[0]


def post(hub, body: bytes, encoding: str | None) -> requests.Response:
    """A sync call as device g0, with the body sent as given."""
    headers = {"Authorization": f"Bearer {hub.devices['g0'][1]}", "Content-Type": "application/json"}
    if encoding:
        headers["Content-Encoding"] = encoding
    return requests.post(hub.url + contract.path(contract.DEVICE_SYNC), data=body, headers=headers, timeout=30)


def test_a_gzip_batch_is_stored_exactly_once(tmp_path, served) -> None:
    hub, seen = served
    store, client = gate(tmp_path, hub, 40)
    assert client.sync_http() == 40
    assert seen and all(enc == "gzip" and status == 200 for enc, status in seen)
    assert hub_events(hub) == (40, 40) and store.outbox_pending() == []
    # The same compressed batch again (a lost answer): acked, nothing stored twice, nothing counted twice.
    events = [json.loads(ev.model_dump_json()) for ev in store.events()]
    again = post(hub, contract.compress_body(json.dumps({"events": events}).encode(), "gzip"), "gzip")
    assert again.status_code == 200 and again.json()["new"] == 0 and len(again.json()["acked"]) == 40
    assert hub_events(hub) == (40, 40)
    store.close()


def test_a_zip_bomb_is_answered_413_and_stores_nothing(served) -> None:
    hub, _ = served
    # 17 MiB of JSON whitespace around one event: a 17 kB body, past the 16 MiB bound once inflated.
    event = {"id": new_event_id(), "kind": "decision", "venue": "acme", "gate": "g0",
             "at": dt.datetime.now(dt.timezone.utc).isoformat(), "decision": "admit"}
    bomb = b'{"events": [' + json.dumps(event).encode() + b" " * (17 * 1024 * 1024) + b"]}"
    squeezed = contract.compress_body(bomb, "gzip")
    assert len(squeezed) < 100_000
    answer = post(hub, squeezed, "gzip")
    assert answer.status_code == 413 and answer.json()["error"]["reason"] == "body_too_large"
    assert hub_events(hub) == (0, 0)
    # Data that is no gzip stream (400), or an encoding the contract does not name (415): a reason, never a traceback.
    truncated = contract.compress_body(b'{"events": []}', "gzip")[:-6]
    trailing = contract.compress_body(b'{"events": []}', "gzip") + b"more"
    for body in (b"not gzip at all", truncated, trailing, b"\x1f\x8b" + bytes(30)):
        refused = post(hub, body, "gzip")
        assert refused.status_code == 400 and refused.json()["error"]["reason"] == "malformed_body", refused.text
        assert "gzip" in refused.json()["error"]["message"]
    refused = post(hub, b"{}", "br")
    assert refused.status_code == 415 and refused.json()["error"]["reason"] == "bad_encoding", refused.text
    assert hub_events(hub) == (0, 0)


@pytest.mark.slow  # 120 decisions committed at synchronous=FULL, then several calls
def test_a_batch_too_large_once_inflated_goes_again_smaller_and_all_arrive_once(tmp_path, served) -> None:
    hub, seen = served
    store, client = gate(tmp_path, hub, 120, batch=120)
    one = len(json.dumps({"events": [e.model_dump(mode="json") for e in store.events(limit=1)]}))
    hub.app.config["MAX_INFLATED_LENGTH"] = one * 40  # room for about 40 events a call
    assert client.sync_http() == 120
    assert (None, 413) not in seen and ("gzip", 413) in seen  # refused whole, then taken in smaller batches
    assert hub_events(hub) == (120, 120) and store.outbox_pending() == []
    store.close()


def test_a_hub_that_cannot_read_gzip_gets_the_batches_plain(tmp_path, served) -> None:
    hub, seen = served
    # A hub from before compression parses the gzip bytes as JSON and answers 422: the gate goes plain.
    inner = hub.app.wsgi_app

    def before_compression(environ, start_response):
        environ.pop("HTTP_CONTENT_ENCODING", None)
        return inner(environ, start_response)

    hub.app.wsgi_app = before_compression
    store, client = gate(tmp_path, hub, 30, batch=10)
    assert client.sync_http() == 30
    assert seen[0] == (None, 422) and all(status == 200 for _, status in seen[1:])
    assert hub_events(hub) == (30, 30) and store.outbox_pending() == []
    assert client.sync_http() == 0 and seen[-1][1] == 200  # and stays plain
    store.close()


def test_more_events_than_a_batch_takes_is_answered_413_batch_too_large(served) -> None:
    hub, _ = served
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    events = [{"id": new_event_id(), "kind": "decision", "venue": "acme", "gate": "g0", "at": now, "decision": "admit"}
              for _ in range(contract.MAX_BATCH + 1)]
    for encoding in (None, "gzip"):
        body = json.dumps({"events": events}).encode()
        answer = post(hub, contract.compress_body(body, encoding) if encoding else body, encoding)
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert error["reason"] == "batch_too_large" and str(contract.MAX_BATCH) in error["message"]
    assert hub_events(hub) == (0, 0)


def _events_in(environ) -> int:
    """How many events a sync call's body holds (read, then put back for the hub)."""
    import io
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)
    return len(json.loads(contract.inflate_body(raw, environ.get("HTTP_CONTENT_ENCODING")))["events"])


def test_a_hub_from_before_413_saying_422_on_events_gets_smaller_batches(tmp_path, served) -> None:
    hub, seen = served
    inner = hub.app.wsgi_app
    old_hub = {"error": {"reason": "invalid_body", "message": "请求内容无效 / invalid request body",
                         "details": [{"loc": ["events"], "msg": "List should have at most 16 items after validation"}]}}

    def bounded(environ, start_response):
        if environ["PATH_INFO"] == contract.path(contract.DEVICE_SYNC) and _events_in(environ) > 16:
            start_response("422 UNPROCESSABLE ENTITY", [("Content-Type", "application/json")])
            return [json.dumps(old_hub).encode()]
        return inner(environ, start_response)

    hub.app.wsgi_app = bounded
    store, client = gate(tmp_path, hub, 50, batch=40)
    assert client.sync_http() == 50  # 40 refused, then batches of 20, refused, then of 10
    assert client._batch == 10 and seen and all(status == 200 for _, status in seen)
    assert hub_events(hub) == (50, 50) and store.outbox_pending() == []
    store.close()


def test_a_drain_through_a_hub_that_fails_batches_loses_nothing_and_stores_nothing_twice(tmp_path, served) -> None:
    from agent.sync import SyncError

    hub, _ = served
    inner = hub.app.wsgi_app
    calls = {"n": 0}

    def failing(environ, start_response):
        if environ["PATH_INFO"] != contract.path(contract.DEVICE_SYNC):
            return inner(environ, start_response)
        calls["n"] += 1
        if calls["n"] % 3 == 1:  # refused before storing: a proxy's error page
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("503 SERVICE UNAVAILABLE", [("Content-Type", "text/html")])
            return [b"<html>busy</html>"]
        if calls["n"] % 3 == 2:  # stored, then the answer lost on the way back
            list(inner(environ, lambda *a, **k: None))
            start_response("502 BAD GATEWAY", [("Content-Type", "text/html")])
            return [b"<html>lost</html>"]
        return inner(environ, start_response)

    hub.app.wsgi_app = failing
    store, client = gate(tmp_path, hub, 95, batch=20)
    failures = 0
    while store.outbox_depth():
        try:
            client.sync_http()
        except SyncError:
            failures += 1
        assert failures < 50
    assert failures >= 5
    assert hub_events(hub) == (95, 95)
    assert {e.id for e in store.events()} == {r[0] for r in hub.sql("SELECT id FROM events")}
    assert store.outbox_pending() == [] and store.unsynced_places() == 0
    store.close()
