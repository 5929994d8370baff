"""The venue's state reaching a gate: the quota lease caps admissions, the roster and appointments reach the rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from agent.loop import ManualRequest
from agent.store import AgentStore
from agent.config import SyncSection
from agent.documents import GateDocuments, VenueDocuments
from agent.sync import Lease, SyncClient
from agent.venue_documents import VenueDocumentError, parse_appointments, parse_roster, pick_appointment
from protocols.errors import ConfigError
from protocols.verify import verify_code
from tests.agent_gate_helpers import gate_config, start_simulation
from demo.processes import free_port


def failed(event) -> set[str]:
    return {r.rule for r in event.reasons if r.outcome == "FAIL"}


def lease_with(places: int, cap: int | None = 5) -> Lease:
    lease = Lease()
    lease.set({"grant": places, "cap": cap})
    return lease


def subject_of(sim, person) -> str:
    return verify_code(person.code, sim.factory.trust, dt.datetime.now(dt.timezone.utc)).credential.subject


# ---- the lease ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_admission_without_a_place_is_a_recorded_cap_denial_and_the_barrier_stays_shut(tmp_path):
    sim = start_simulation(tmp_path)
    try:
        sim.gate.loop.lease = lease_with(1)
        first = sim.present(sim.factory.person("green"))
        assert first.decision == "admit"
        second = sim.present(sim.factory.person("green"))
        assert second.decision == "deny" and "GATE-CAP-01" in failed(second)
        cap = next(r for r in second.reasons if r.rule == "GATE-CAP-01")
        assert (cap.message_zh, cap.message_en) == ("场所已满，请稍候", "The venue is full, please wait")
        # Recorded like any decision, outbox included, and only the first person's pulse moved the relay.
        assert sim.gate.store.event(second.id) == second
        assert second.id in {i.event_id for i in sim.gate.store.outbox_pending()}
        opened = [reason for _, state, reason in sim.gate.devices.barrier.changes if state == "open"]
        assert opened == [f"admit {first.id}"]
        # A refusal for another reason spends nothing and says only its own reason.
        red = sim.present(sim.factory.person("red"))
        assert red.decision == "deny" and "GATE-CAP-01" not in failed(red)
    finally:
        sim.close()


@pytest.mark.slow
def test_a_guard_cannot_admit_past_the_cap(tmp_path):
    sim = start_simulation(tmp_path)
    try:
        sim.gate.loop.lease = lease_with(0)
        sim.gate.loop.manual_requests.put(ManualRequest("admit", "访客登记 visitor logged", "guard-7"))
        event = sim.events.get(timeout=5)
        assert event.kind == "manual" and event.decision == "deny" and "GATE-CAP-01" in failed(event)
        assert sim.gate.devices.barrier.states() == ["locked"]
    finally:
        sim.close()


@pytest.mark.slow
def test_an_exit_gate_needs_no_place(tmp_path):
    sim = start_simulation(tmp_path, gate={"direction": "out"})
    try:
        sim.gate.loop.lease = lease_with(0)
        event = sim.present(sim.factory.person("green"))
        assert event.decision == "admit" and event.direction == "out"
    finally:
        sim.close()


def test_an_uncapped_venue_never_runs_out_and_an_unanswered_lease_admits_nobody():
    open_venue = lease_with(0, cap=None)
    assert all(open_venue.take() for _ in range(50))
    assert Lease().take() is False  # never heard from the hub: the venue may be full
    lease = lease_with(2)
    assert lease.take() and lease.take() and not lease.take()


def test_places_taken_while_a_renewal_was_asked_come_off_the_new_grant():
    lease = lease_with(3)
    before = lease.taken
    assert lease.take()  # admitted while the hub was answering: not in the `unsynced` it was told
    lease.set({"grant": 2, "cap": 5}, before)
    assert lease.remaining == 1


@pytest.mark.slow
def test_the_lease_kept_in_the_store_survives_a_restart(tmp_path):
    store = AgentStore(tmp_path / "agent.sqlite", b"k" * 32)  # the store the simulation below opens
    assert store.lease_left() is None
    store.save_lease(5, 2, store.last_event_id())
    store.close()
    sim = start_simulation(tmp_path, sync={"hub_url": f"http://127.0.0.1:{free_port()}", "device_id": "d1",
                                           "interval_s": 0.2})
    try:
        # The hub is gone, yet the gate knows it still holds two places.
        assert [sim.present(sim.factory.person("green")).decision for _ in range(3)] == ["admit", "admit", "deny"]
        assert sim.gate.store.lease_left() == (5, 0)
    finally:
        sim.close()


# ---- roster and appointments -------------------------------------------------------------------


def test_document_shapes_are_checked():
    assert parse_roster(b'["S-1", "S-2"]') == {"S-1": {}, "S-2": {}}
    assert parse_roster(b'{"subjects": ["S-1"]}') == {"S-1": {}}
    assert parse_roster(b'{"S-1": {"highRiskPosition": true}}') == {"S-1": {"highRiskPosition": True}}
    appts = parse_appointments(b'{"appointments": [{"subject": "V", "from": "2026-11-29T08:00:00+08:00",'
                               b' "to": "2026-11-29T12:00:00+08:00", "approvedBy": "x"}]}')
    assert appts[0]["subject"] == "V"
    for bad in (b"not json", b'{"S-1": 3}', b"[1, 2]"):
        with pytest.raises(VenueDocumentError):
            parse_roster(bad)
    for bad in (b'{"subject": "V"}', b'[{"from": "2026-11-29T08:00:00Z", "to": "2026-11-29T09:00:00Z"}]',
                b'[{"subject": "V", "from": "tomorrow", "to": "2026-11-29T09:00:00Z"}]',
                b'[{"subject": "V", "from": "2026-11-29T08:00:00", "to": "2026-11-29T09:00:00"}]'):
        with pytest.raises(VenueDocumentError):
            parse_appointments(bad)


@pytest.mark.slow
def test_roster_and_appointments_reach_the_closed_management_and_visitor_rules(tmp_path):
    docs = tmp_path / "documents"
    docs.mkdir()
    sim = start_simulation(tmp_path, rules={"params": {"mode": "closed"}})
    try:
        sim.gate.loop.venue_facts = VenueDocuments(docs).facts
        member, stranger, member2 = (sim.factory.person("green") for _ in range(3))
        visitor, late_visitor = sim.factory.person("visitor_tested"), sim.factory.person("visitor_tested")
        # No roster loaded yet: closed management does not admit blindly.
        assert sim.present(member).decision != "admit"
        now = dt.datetime.now(dt.timezone.utc)
        window = {"from": (now - dt.timedelta(hours=1)).isoformat(), "to": (now + dt.timedelta(hours=1)).isoformat()}
        roster = [subject_of(sim, p) for p in (member, member2, visitor, late_visitor)]
        (docs / "roster").write_text(json.dumps(roster))
        (docs / "appointments").write_text(json.dumps([
            {"subject": subject_of(sim, visitor), "approvedBy": "王*华", **window},
            {"subject": subject_of(sim, late_visitor), "approvedBy": "王*华",
             "from": (now + dt.timedelta(hours=3)).isoformat(), "to": (now + dt.timedelta(hours=4)).isoformat()},
        ]))
        sim.visit(sim.factory.person("red"))  # let the dedupe window of the first presentation pass
        assert sim.present(member).decision == "admit"
        refused = sim.present(stranger)
        assert refused.decision == "deny" and "GATE-CLOSED-01" in failed(refused)
        assert sim.present(visitor).decision == "admit"
        early = sim.present(late_visitor)
        assert early.decision == "deny" and failed(early) == {"GATE-VISIT-01"}
        # A broken new roster keeps the last good one running.
        (docs / "roster").write_text("{broken")
        assert sim.present(member2).decision == "admit"
    finally:
        sim.close()


@pytest.fixture
def hub(hub_factory):
    built = hub_factory(venues={"factory-1": {"cap": 4}}, gates={"factory-1": ["north-1"]},
                     enroll=[("factory-1", "north-1")], serve=True)
    return built.store, built.url, *built.devices["north-1"]


@pytest.mark.slow
def test_the_hub_roster_is_fetched_checked_and_read_by_the_gate(hub, tmp_path):
    store, url, device, secret = hub
    cfg = gate_config(tmp_path, sync={"hub_url": url, "device_id": device.id, "documents_dir": str(tmp_path / "docs")})
    client = SyncClient(AgentStore(tmp_path / "gate.sqlite", b"k" * 32), SyncSection(
        hub_url=url, device_id=device.id, documents_dir=tmp_path / "docs", lease_want=10),
        venue="factory-1", gate="north-1", secret=secret, documents=GateDocuments(cfg.rules, tmp_path / "docs").cache)
    facts = VenueDocuments(tmp_path / "docs").facts
    now = dt.datetime.now(dt.timezone.utc)
    store.put_document("factory-1", "roster", b'{"S-1": {"highRiskPosition": true}}', "application/json")
    client.sync_http()
    assert facts("S-1", now) == ({"S-1": {"highRiskPosition": True}}, None)
    store.put_document("factory-1", "roster", b'{"S-1": "not an object"}', "application/json")
    client.sync_http()
    assert facts("S-1", now)[0] == {"S-1": {"highRiskPosition": True}}  # refused: the last good one runs
    # The lease: the hub lends at most the venue's cap.
    answer = client.renew_lease(10)
    assert answer["grant"] == 4 and client.lease.remaining == 4
    assert client.store.lease_left() == (4, 4)


# ---- the bundle and trust list the hub sent ------------------------------------------------------


def test_with_sync_the_gate_decides_with_the_fetched_bundle_and_trust_list(tmp_path):
    from agent.decider import Decider
    from agent.people import PeopleFactory
    from protocols.bundle import build_bundle, sign_bundle
    from protocols.keys import generate_private_key, save_public_key
    from protocols.rules import load_pack

    root, forger = generate_private_key("ES256"), generate_private_key("ES256")
    save_public_key(root, tmp_path / "root.pub.pem")
    first_issuer, new_issuer = PeopleFactory(seed=1), PeopleFactory(seed=2)
    first_issuer.trust.save(tmp_path / "trust.json", root)
    now = dt.datetime.now(dt.timezone.utc)
    configured = build_bundle(load_pack("factory-gate"), issued_at=now - dt.timedelta(minutes=5))
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(configured, root)))
    docs = tmp_path / "docs"
    cfg = gate_config(tmp_path, rules={"bundle": str(tmp_path / "bundle.json"), "trust_list": str(tmp_path / "trust.json"),
                                       "root_public_key": str(tmp_path / "root.pub.pem")},
                      sync={"hub_url": "http://127.0.0.1:9", "device_id": "d1", "documents_dir": str(docs)})
    documents = GateDocuments(cfg.rules, docs)
    decider, trust = Decider(documents.bundle()), documents.trust()
    assert decider.bundle.version == configured.version  # nothing fetched yet
    cache = documents.cache
    closed = build_bundle(load_pack("factory-gate"), {"mode": "closed"}, issued_at=now)
    assert cache.install("bundle", "2", '"e2"', json.dumps(sign_bundle(closed, root)).encode())
    decider.refresh()
    assert decider.bundle.version == closed.version
    # Signed by someone else: refused before it replaces anything; garbage written behind its back: kept.
    forged = build_bundle(load_pack("factory-gate"), {"mode": "open"}, issued_at=now)
    assert not cache.install("bundle", "3", '"e3"', json.dumps(sign_bundle(forged, forger)).encode())
    (docs / "bundle").write_text("{not json")
    decider.refresh()
    assert decider.bundle.version == closed.version
    # The hub's trust list replaces the configured one: the new issuer's codes verify, the old one's no longer.
    code_new, code_old = new_issuer.person("green").code, first_issuer.person("green").code
    assert not verify_code(code_new, trust.current(), now).ok
    body = tmp_path / "new-trust.json"
    new_issuer.trust.save(body, root)
    assert cache.install("trustlist", "2", '"t2"', body.read_bytes())
    assert verify_code(code_new, trust.current(), now).ok and not verify_code(code_old, trust.current(), now).ok
    # A restarted gate starts from the documents it holds.
    assert verify_code(code_new, GateDocuments(cfg.rules, docs).trust().current(), now).ok
    # The fetched bundle file is broken, and the configured one is older than the one accepted: a rollback, refused.
    with pytest.raises(ConfigError, match="rollback"):
        GateDocuments(cfg.rules, docs).bundle()
    assert cache.install("bundle", "2", '"e2"', json.dumps(sign_bundle(closed, root)).encode())
    assert Decider(GateDocuments(cfg.rules, docs).bundle()).bundle.version == closed.version


def test_the_consoles_appointments_document_is_what_the_gate_reads():
    from server.console.appointments import appointments

    body = json.dumps(appointments([{"subject": "V-1", "starts_at": "2026-11-29T08:00:00+08:00",
                                     "ends_at": "2026-11-29T12:00:00+08:00", "decided_by": "supervisor-1",
                                     "name": "王*华", "host": "李*", "id": 7}])).encode()
    at = dt.datetime(2026, 11, 29, 1, 0, tzinfo=dt.timezone.utc)  # 09:00 in Beijing
    picked = pick_appointment(parse_appointments(body), "V-1", at)
    assert picked is not None and picked["approvedBy"] == "supervisor-1"
