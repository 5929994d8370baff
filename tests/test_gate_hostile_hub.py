"""A hostile hub on loopback (a real HTTP server): it replays older signed documents and names files outside
the documents folder; the gate refuses both, also after a restart (issue 9, items 1 and 2)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.documents import GateDocuments
from agent.people import PeopleFactory
from agent.store import AgentStore
from agent.sync import SyncClient, SyncError
from protocols.bundle import build_bundle, sign_bundle
from protocols.errors import ConfigError
from protocols.keys import generate_private_key, save_public_key
from protocols.rules import load_pack
from protocols.trustlist import TrustList, subject_revocation_hash
from protocols.verify import verify_code
from tests.agent_gate_helpers import gate_config

SECRET = "device-secret-for-the-tests-only"


class HostileHub:
    """A loopback HTTP server answering the device routes with whatever the test sets: `fetch` and `documents`."""

    def __init__(self) -> None:
        self.fetch: list[Any] = []
        self.documents: dict[str, bytes] = {}  # the last path segment -> body
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                hub.requests.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer: dict[str, Any] = {"acked": [], "new": 0, "versions": {}, "fetch": hub.fetch}
                if self.path.endswith("/device/lease"):
                    answer = {"grant": 10, "held": 10, "cap": None, "inside": 0}
                self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                hub.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                body = hub.documents.get(name, b"#!/bin/sh\necho owned\n")
                self._send(200, body, {"ETag": f'"{len(hub.requests)}"', "X-Document-Version": str(len(hub.requests))})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "HostileHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile():
    with HostileHub() as hub:
        yield hub


def _gate(tmp_path: Path, url: str, **rules: Any):
    """A syncing gate's documents and sync client, as build_gate makes them, against the hub at url."""
    cfg = gate_config(tmp_path, rules={"root_public_key": str(tmp_path / "root.pub.pem"), **rules},
                      sync={"hub_url": url, "device_id": "d1", "documents_dir": str(tmp_path / "docs")})
    assert cfg.sync is not None
    documents = GateDocuments(cfg.rules, cfg.sync.documents_dir)
    client = SyncClient(AgentStore(tmp_path / "gate.sqlite", cfg.subject_key), cfg.sync, venue="factory-1",
                        gate="north-1", secret=SECRET, presence_window_s=0, documents=documents.cache)
    return cfg, documents, client


def _root(tmp_path: Path):
    root = generate_private_key("ES256")
    save_public_key(root, tmp_path / "root.pub.pem")
    return root


def test_an_older_trust_list_never_undoes_a_revocation_also_after_a_restart(hostile, tmp_path):
    root = _root(tmp_path)
    issuer = PeopleFactory(seed=3)
    person = issuer.person("green")
    now = dt.datetime.now(dt.timezone.utc)
    before = issuer.trust.to_document(root, now - dt.timedelta(hours=1))
    subject = verify_code(person.code, issuer.trust, now).credential.subject  # type: ignore[union-attr]
    revoking = TrustList(issuer.trust.keys, revoked_subjects=[subject_revocation_hash(subject)])
    cfg, documents, client = _gate(tmp_path, hostile.url)
    hostile.fetch, hostile.documents = ["trustlist"], {"trustlist": json.dumps(before).encode()}
    client.sync_http()
    trust = documents.trust()
    assert verify_code(person.code, trust.current(), now).ok
    hostile.documents["trustlist"] = json.dumps(revoking.to_document(root, now)).encode()
    client.sync_http()
    assert verify_code(person.code, trust.current(), now).reason == "revoked"
    # The hub replays the older list, signed and valid: refused, the revocation holds.
    hostile.documents["trustlist"] = json.dumps(before).encode()
    client.sync_http()
    assert verify_code(person.code, trust.current(), now).reason == "revoked"
    # A restart: the same, and the older list copied into the folder behind the gate's back is refused too.
    assert verify_code(person.code, GateDocuments(cfg.rules, tmp_path / "docs").trust().current(), now).reason == "revoked"
    (tmp_path / "docs" / "trustlist").write_text(json.dumps(before))
    with pytest.raises(ConfigError, match="rollback"):
        GateDocuments(cfg.rules, tmp_path / "docs").trust()


def test_an_older_bundle_is_refused_also_after_a_restart(hostile, tmp_path):
    root = _root(tmp_path)
    now = dt.datetime.now(dt.timezone.utc)
    pack = load_pack("factory-gate")
    old = build_bundle(pack, {"mode": "open"}, issued_at=now - dt.timedelta(hours=2))
    new = build_bundle(pack, {"mode": "closed"}, issued_at=now - dt.timedelta(minutes=1))
    cfg, documents, client = _gate(tmp_path, hostile.url)
    hostile.fetch, hostile.documents = ["bundle"], {"bundle": json.dumps(sign_bundle(new, root)).encode()}
    client.sync_http()
    assert documents.bundle().value.version == new.version
    hostile.documents["bundle"] = json.dumps(sign_bundle(old, root)).encode()
    client.sync_http()
    assert json.loads((tmp_path / "docs" / "bundle").read_text())["body"]["version"] == new.version
    # Restarted, the gate still decides with the newer one, and an older file put in its place is refused.
    assert GateDocuments(cfg.rules, tmp_path / "docs").bundle().value.version == new.version
    (tmp_path / "docs" / "bundle").write_text(json.dumps(sign_bundle(old, root)))
    with pytest.raises(ConfigError, match="rollback"):
        GateDocuments(cfg.rules, tmp_path / "docs").bundle()


def test_a_trust_list_older_than_its_maximum_age_is_refused(hostile, tmp_path):
    root = _root(tmp_path)
    issuer = PeopleFactory(seed=4)
    now = dt.datetime.now(dt.timezone.utc)
    _, documents, client = _gate(tmp_path, hostile.url, trust_list_max_age_h=24)
    hostile.fetch = ["trustlist"]
    hostile.documents = {"trustlist": json.dumps(issuer.trust.to_document(root, now - dt.timedelta(hours=25))).encode()}
    client.sync_http()
    assert not (tmp_path / "docs" / "trustlist").exists()
    hostile.documents = {"trustlist": json.dumps(issuer.trust.to_document(root, now)).encode()}
    client.sync_http()
    assert (tmp_path / "docs" / "trustlist").exists()


def test_a_fetch_naming_a_path_writes_nothing_outside_the_documents_folder(hostile, tmp_path):
    _root(tmp_path)
    _, documents, client = _gate(tmp_path, hostile.url)
    hostile.fetch = ["../../x.sh"]
    with pytest.raises(SyncError, match="SyncResponse"):
        client.sync_http()
    assert not (tmp_path.parent / "x.sh").exists() and not (tmp_path / "x.sh").exists()
    assert not any("x.sh" in r for r in hostile.requests)  # not even asked for
    # The installer alone refuses a path, and every kind the gate does not read or cannot verify.
    cache = documents.cache
    assert cache is not None
    assert not cache.install("../../x.sh", "1", '"1"', b"#!/bin/sh\n")
    assert not cache.install("parameters", "1", '"1"', b"{}")
    assert not cache.install("risk_areas", "1", '"1"', b"[]")
    assert not cache.install("bundle", "1", '"1"', b"{}")
    assert sorted(p.name for p in tmp_path.rglob("*.sh")) == []
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == []


def test_without_a_root_key_a_fetched_bundle_or_trust_list_is_not_installed(hostile, tmp_path):
    cfg = gate_config(tmp_path, sync={"hub_url": hostile.url, "device_id": "d1", "documents_dir": str(tmp_path / "docs")})
    cache = GateDocuments(cfg.rules, tmp_path / "docs").cache
    assert cache is not None
    assert not cache.install("bundle", "1", '"1"', b'{"body": {}, "signature": "x"}')
    assert not cache.install("trustlist", "1", '"1"', b'{"body": {}, "signature": "x"}')
    assert list((tmp_path / "docs").iterdir()) == []


@pytest.mark.slow
def test_a_gate_back_with_a_bundle_older_than_a_day_starts_refers_everyone_and_recovers_by_sync(hostile, tmp_path):
    from agent.simulation import Simulation
    from protocols.keys import save_private_key

    root = _root(tmp_path)
    issuer = generate_private_key("ES256")
    save_private_key(issuer, tmp_path / "issuer.pem")
    now = dt.datetime.now(dt.timezone.utc)
    PeopleFactory(key=issuer).trust.save(tmp_path / "trust.json", root)
    pack = load_pack("factory-gate")
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(build_bundle(pack, issued_at=now - dt.timedelta(hours=25)), root)))
    cfg = gate_config(tmp_path, rules={"root_public_key": str(tmp_path / "root.pub.pem"),
                                       "bundle": str(tmp_path / "bundle.json"), "trust_list": str(tmp_path / "trust.json")},
                      sync={"hub_url": hostile.url, "device_id": "d1", "documents_dir": str(tmp_path / "docs"),
                            "interval_s": 0.2})
    sim = Simulation(cfg, seed=2, issuer_key=issuer)  # the power cut lasted a day: it starts all the same
    try:
        stale = sim.present(sim.factory.person("green"))
        assert stale is not None and stale.decision == "refer"
        assert [(r.rule, r.message_zh, r.message_en) for r in stale.reasons] == [
            ("gate.bundle_stale", "规则包已过期，请联系值班人员", "Rule bundle out of date: please see the guard")]
        assert sim.gate.devices.barrier.states() == ["locked"]
        # The sync goes on and brings a fresh bundle: the gate decides by it again.
        fresh = build_bundle(pack, issued_at=now)
        hostile.documents["bundle"] = json.dumps(sign_bundle(fresh, root)).encode()
        hostile.fetch = ["bundle"]
        from tests.conftest import wait_until
        wait_until(lambda: (tmp_path / "docs" / "bundle").exists(), what="the fresh bundle")
        event = sim.present(sim.factory.person("green"))
        assert event is not None and event.decision == "admit" and event.bundle_version == fresh.version
    finally:
        sim.close()
