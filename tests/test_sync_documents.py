"""The sync client fetches new document versions with ETags, switches atomically, refuses bad ones, keeps a lease."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.store import AgentStore
from agent.config import SyncSection
from agent.documents import DocumentCache
from agent.sync import SyncClient
from protocols.errors import BundleError


@pytest.fixture
def hub(hub_factory):
    built = hub_factory(venues={"acme": {"cap": 12}}, gates={"acme": ["g0", "g1"]}, enroll=[("acme", "g0")], serve=True)
    return built.store, built.url, *built.devices["g0"]


def _client(tmp: Path, url: str, device, secret: str, verify=None, **kw) -> SyncClient:
    settings = SyncSection(hub_url=url, device_id=device.id, documents_dir=tmp / "docs", **kw)
    return SyncClient(AgentStore(tmp / "gate.db", b"k" * 32), settings, venue="acme", gate="g0", secret=secret,
                      documents=DocumentCache(tmp / "docs", verify))


@pytest.mark.slow
def test_documents_switch_atomically_and_bad_ones_are_refused(hub, tmp_path: Path) -> None:
    store, url, device, secret = hub

    def verify(kind: str, body: bytes) -> None:
        if b"forged" in body:
            raise BundleError("signature does not verify")

    client = _client(tmp_path, url, device, secret, verify)
    store.put_document("acme", "bundle", b'{"v": 1}', "application/json")
    store.put_document("acme", "trustlist", b'{"keys": []}', "application/json")
    client.sync_http()
    assert client.documents.running() == {"bundle": "1", "trustlist": "1"}
    assert client.documents.path("bundle").read_bytes() == b'{"v": 1}'
    assert client.documents.conditional_headers("bundle")["If-None-Match"].startswith('"')
    store.put_document("acme", "bundle", b'{"v": 2, "forged": true}', "application/json")
    client.sync_http()
    assert client.documents.running()["bundle"] == "1"  # the old one keeps running
    assert client.documents.path("bundle").read_bytes() == b'{"v": 1}'
    store.put_document("acme", "bundle", b'{"v": 3}', "application/json")
    client.sync_http()
    client.sync_http()  # reports what it runs now
    assert client.documents.running()["bundle"] == "3"
    assert store.gates("acme", "g0")[0]["running"] == {"bundle": "3", "trustlist": "1"}
    assert not list((tmp_path / "docs").glob("*.tmp"))


@pytest.mark.slow
def test_the_sync_loop_keeps_a_lease_within_the_cap(hub, tmp_path: Path) -> None:
    store, url, device, secret = hub
    client = _client(tmp_path, url, device, secret, lease_want=8)
    client.step()
    # Fair share of a cap of 12 over 2 gates is 6: less than wanted, never more than the share.
    assert client.lease.remaining == 6
    assert store.occupancy("acme")["leased"] == 6
    assert [client.lease.take() for _ in range(7)] == [True] * 6 + [False]
