"""The signed `schedule` document: the hub builds it from its bookings and groups and publishes it on every
change; the gate verifies it (its key, the rollback mark) before the time-window rules read it."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from agent.config import RulesSection
from agent.documents import GateDocuments, VenueDocuments
from protocols.contract import DocumentKind
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.schedule import ScheduleError, parse_schedule, sign_schedule, verify_schedule
from tests.test_hub_api import ADMIN, enroll, make_hub

MEAL = {"kind": "meal", "zones": ["east"], "slots": [{"from": "11:00", "to": "11:30"}]}


@pytest.fixture
def keyed_hub(tmp_path: Path, monkeypatch):
    """A hub with a schedule key ($CHECKPOINT_SCHEDULE_KEY), a venue taking 30-minute bookings, a device."""
    key = generate_private_key()
    save_private_key(key, tmp_path / "schedule-key.pem")
    save_public_key(key, tmp_path / "schedule-pub.pem")
    monkeypatch.setenv("CHECKPOINT_SCHEDULE_KEY", str(tmp_path / "schedule-key.pem"))
    app, client = make_hub(tmp_path, {"canteen1": {"slot_minutes": 30, "slot_capacity": 5}})
    return client, enroll(client, "canteen1", "g0"), key


def fetch(client, dev) -> dict:
    got = client.get("/api/v1/device/documents/schedule", headers=dev)
    assert got.status_code == 200, got.data
    return json.loads(got.data)


def test_editing_a_group_publishes_a_new_signed_schedule(keyed_hub):
    client, dev, key = keyed_hub
    # Bad input first: a reason each, and nothing published.
    bad = client.put("/api/v1/venues/canteen1/schedule/groups/A", json={**MEAL, "slots": [{"from": "25:00", "to": "26:00"}]},
                     headers=ADMIN)
    assert bad.status_code == 422 and bad.get_json()["error"]["reason"]
    name = client.put("/api/v1/venues/canteen1/schedule/groups/a%20b", json=MEAL, headers=ADMIN)
    assert name.status_code == 422 and name.get_json()["error"]["reason"] == "bad_group"
    assert client.get("/api/v1/device/documents/schedule", headers=dev).status_code == 404
    put = client.put("/api/v1/venues/canteen1/schedule/groups/A", json=MEAL, headers=ADMIN)
    assert put.status_code == 200, put.data
    first = fetch(client, dev)
    schedule = verify_schedule(first, key.public_key())
    assert schedule.groups["A"].zones == ["east"] and schedule.groups["A"].slots[0].text() == "11:00-11:30"
    assert schedule.timezone == "Asia/Shanghai"
    later = {**MEAL, "slots": [{"from": "12:00", "to": "12:30"}]}
    assert client.put("/api/v1/venues/canteen1/schedule/groups/A", json=later, headers=ADMIN).status_code == 200
    second = fetch(client, dev)
    assert verify_schedule(second, key.public_key()).groups["A"].slots[0].text() == "12:00-12:30"
    assert verify_schedule(second, key.public_key()).issued_at >= schedule.issued_at
    sync = client.post("/api/v1/device/sync", json={"events": [], "running": {}}, headers=dev).get_json()
    assert "schedule" in sync["fetch"] and sync["versions"]["schedule"] == "2"
    shown = client.get("/api/v1/venues/canteen1/schedule", headers=ADMIN).get_json()
    assert shown == {"groups": {"A": {"kind": "meal", "zones": ["east"], "slots": [{"from": "12:00", "to": "12:30"}]}},
                     "version": "2"}
    assert client.delete("/api/v1/venues/canteen1/schedule/groups/A", headers=ADMIN).status_code == 204
    assert verify_schedule(fetch(client, dev), key.public_key()).groups == {}


def test_a_booking_reaches_the_gates_by_keyed_hash(keyed_hub):
    client, dev, key = keyed_hub
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).replace(minute=10, second=0, microsecond=0)
    booked = client.post("/api/v1/venues/canteen1/reservations", json={"subject": "ab" * 16, "at": at.isoformat()},
                         headers=ADMIN)
    assert booked.status_code == 201
    schedule = verify_schedule(fetch(client, dev), key.public_key())
    (slot,) = schedule.reservations["ab" * 16]
    assert slot.start == at.replace(minute=0) and slot.end - slot.start == dt.timedelta(minutes=30)


def test_a_hub_without_a_schedule_key_refuses_to_edit_windows(tmp_path, monkeypatch):
    monkeypatch.delenv("CHECKPOINT_SCHEDULE_KEY", raising=False)
    _, client = make_hub(tmp_path, {"canteen1": {"slot_minutes": 30, "slot_capacity": 5}})
    refused = client.put("/api/v1/venues/canteen1/schedule/groups/A", json=MEAL, headers=ADMIN)
    assert refused.status_code == 409 and refused.get_json()["error"]["reason"] == "no_schedule_key"
    assert client.get("/api/v1/venues/canteen1/schedule", headers=ADMIN).get_json()["groups"] == {}


def schedule_doc(key, issued: str, slot: str = "11:00", venue: str = "canteen1") -> bytes:
    body = {"venue": venue, "issued_at": issued, "groups": {"A": {**MEAL, "slots": [{"from": slot, "to": "13:00"}]}}}
    return json.dumps(sign_schedule(parse_schedule(body), key)).encode()


def test_the_gate_refuses_a_schedule_rollback_unsigned_foreign_or_of_another_venue(tmp_path):
    key, other = generate_private_key(), generate_private_key()
    save_public_key(key, tmp_path / "schedule-pub.pem")
    docs = GateDocuments(RulesSection(schedule_public_key=tmp_path / "schedule-pub.pem"), tmp_path / "documents",
                         venue="canteen1")
    new, old = schedule_doc(key, "2026-11-29T08:00:00Z", "12:00"), schedule_doc(key, "2026-11-28T08:00:00Z")
    assert docs.cache.install(DocumentKind.SCHEDULE, "2", "e2", new)
    venue = docs.venue()
    assert venue.schedule().groups["A"].slots[0].start == "12:00"
    # A replayed older schedule (a lifted restriction brought back) is refused, fetched or after a restart.
    assert not docs.cache.install(DocumentKind.SCHEDULE, "1", "e1", old)
    assert not docs.cache.install(DocumentKind.SCHEDULE, "3", "e3", schedule_doc(other, "2026-11-30T08:00:00Z"))
    # Another venue's schedule, signed by the same hub key, does not open this venue's gates.
    assert not docs.cache.install(DocumentKind.SCHEDULE, "5", "e5", schedule_doc(key, "2026-11-30T08:00:00Z", venue="other"))
    unsigned = json.dumps({"body": json.loads(new)["body"]}).encode()
    assert not docs.cache.install(DocumentKind.SCHEDULE, "4", "e4", unsigned)
    path = docs.cache.path(DocumentKind.SCHEDULE)
    path.write_bytes(old)  # written over the installed one behind the installer's back
    os.utime(path, (1, 1))
    assert venue.schedule().groups["A"].slots[0].start == "12:00"  # the last good one keeps running
    restarted = GateDocuments(RulesSection(schedule_public_key=tmp_path / "schedule-pub.pem"), tmp_path / "documents",
                              venue="canteen1")
    assert restarted.venue().schedule() is None  # the rollback mark survives: none, so the window rules are OPEN
    with pytest.raises(ScheduleError, match="rollback"):
        restarted.verify(DocumentKind.SCHEDULE, old)


@pytest.mark.slow
def test_a_group_edited_at_the_hub_reaches_a_syncing_gate_and_its_rules(hub_factory, tmp_path, monkeypatch):
    """Hub (served over HTTP) -> the gate's own sync client -> the installed, verified schedule -> a decision."""
    from agent.store import AgentStore
    from agent.config import SyncSection
    from agent.sync import SyncClient
    from protocols.bundle import build_bundle
    from protocols.credential import Credential
    from protocols.decision import GateContext, evaluate
    from protocols.rules import load_pack

    key = generate_private_key()
    save_private_key(key, tmp_path / "schedule-key.pem")
    save_public_key(key, tmp_path / "schedule-pub.pem")
    monkeypatch.setenv("CHECKPOINT_SCHEDULE_KEY", str(tmp_path / "schedule-key.pem"))
    hub = hub_factory(venues={"canteen1": {}}, gates={"canteen1": ["g0"]}, enroll=[("canteen1", "g0")], serve=True)
    hub.store.create_user("admin", "admin-pass", "admin")
    put = hub.app.test_client().put("/api/v1/venues/canteen1/schedule/groups/A", headers=ADMIN, json=MEAL)
    assert put.status_code == 200, put.data
    device, secret = hub.devices["g0"]
    docs = GateDocuments(RulesSection(schedule_public_key=tmp_path / "schedule-pub.pem"), tmp_path / "docs",
                         venue="canteen1")
    client = SyncClient(AgentStore(tmp_path / "gate.db", b"k" * 32),
                        SyncSection(hub_url=hub.url, device_id=device.id, documents_dir=tmp_path / "docs"),
                        venue="canteen1", gate="g0", secret=secret, documents=docs.cache)
    client.sync_http()
    schedule = docs.venue().schedule()
    assert schedule is not None and schedule.groups["A"].zones == ["east"]
    assert schedule.zone_of("g0", "west") == "west"  # the hub names no zone for g0 yet: the gate's config decides
    bundle = build_bundle(load_pack("canteen"), {"mealGroupsRequired": True})
    staff = Credential.model_validate({"format": "HP1", "issuer": "i", "kid": "k", "subject": "S-1", "name": "张*明",
                                       "person_class": "staff", "colour": "green",
                                       "issued_at": "2026-11-29T03:59:00Z", "expires_at": "2026-11-29T05:00:00Z"})
    at = dt.datetime(2026, 11, 29, 4, 0, tzinfo=dt.timezone.utc)  # 12:00 in Shanghai: after A's 11:00-11:30
    result = evaluate(bundle, staff, GateContext(at=at, celsius=36.5, mask=True, inside=False,
                                                 roster={"S-1": {"group": "A"}}, schedule=schedule, zone="east"))
    assert result.decision == "deny" and [r.rule for r in result.reasons] == ["GATE-GROUP-01"]
    assert "11:00-11:30" in result.reasons[0].message_zh


def test_a_gates_zone_set_at_the_hub_is_signed_into_the_schedule_and_decides_over_its_config(keyed_hub):
    client, dev, key = keyed_hub
    assert client.put("/api/v1/venues/canteen1/schedule/groups/A", json=MEAL, headers=ADMIN).status_code == 200
    assert client.put("/api/v1/venues/canteen1/schedule/gates/nope", json={"zone": "east"}, headers=ADMIN).status_code == 404
    assert client.put("/api/v1/venues/canteen1/schedule/gates/g0", json={"zone": "a b"}, headers=ADMIN).status_code == 422
    assert client.put("/api/v1/venues/canteen1/schedule/gates/g0", data="east", headers=ADMIN).status_code == 415
    put = client.put("/api/v1/venues/canteen1/schedule/gates/g0", json={"zone": "west"}, headers=ADMIN)
    assert put.status_code == 200, put.data
    schedule = verify_schedule(fetch(client, dev), key.public_key())
    assert schedule.gate_zones == {"g0": "west"}
    assert schedule.zone_of("g0", "east") == "west" and schedule.zone_of("g9", "east") == "east"
    assert client.get("/api/v1/venues/canteen1/gates", headers=ADMIN).get_json()[0]["zone"] == "west"
    # Cleared: the gate's own config decides again.
    assert client.put("/api/v1/venues/canteen1/schedule/gates/g0", json={"zone": None}, headers=ADMIN).status_code == 200
    assert verify_schedule(fetch(client, dev), key.public_key()).gate_zones == {}


def test_a_gate_decides_in_the_zone_its_schedule_gives_it():
    from protocols.bundle import build_bundle
    from protocols.credential import Credential
    from protocols.decision import GateContext, evaluate
    from protocols.rules import load_pack

    key = generate_private_key()
    body = {"venue": "canteen1", "issued_at": "2026-11-29T00:00:00Z", "groups": {"A": MEAL}, "gate_zones": {"g0": "west"}}
    schedule = verify_schedule(sign_schedule(parse_schedule(body), key), key.public_key())
    bundle = build_bundle(load_pack("canteen"), {"mealGroupsRequired": True})
    staff = Credential.model_validate({"format": "HP1", "issuer": "i", "kid": "k", "subject": "S-1", "name": "张*明",
                                       "person_class": "staff", "colour": "green",
                                       "issued_at": "2026-11-29T03:14:00Z", "expires_at": "2026-11-29T04:00:00Z"})
    at = dt.datetime(2026, 11, 29, 3, 15, tzinfo=dt.timezone.utc)  # 11:15 in Shanghai: inside A's slot
    decided = {zone: evaluate(bundle, staff, GateContext(at=at, celsius=36.5, mask=True, inside=False, roster={"S-1": {"group": "A"}},
                                                         schedule=schedule, zone=schedule.zone_of("g0", zone)))
               for zone in ("east", None)}
    # Configured "east" (where A eats), but the venue moved g0 to "west": A is refused there either way.
    assert {z: r.decision for z, r in decided.items()} == {"east": "deny", None: "deny"}
    assert all("GATE-ZONE-01" in [x.rule for x in r.reasons] for r in decided.values())
