"""What a device's token can do to presence and occupancy (issue 9, Low), on a real SQLite hub:
post only as its own gate of its own venue, free no other venue's place, hear only its own venue's
presence, and admissions beyond its lease are stored (the people are inside) but audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store import HubStore
from tests.test_hub_api import ADMIN, enroll, event, make_hub

SYNC = "/api/v1/device/sync"


@pytest.fixture
def two_venues(tmp_path: Path, hub_database: str):
    """Venues a and b, cap 5 each, gates g0 (entry) and g1 (exit)."""
    app, client = make_hub(tmp_path, {"a": {"cap": 5}, "b": {"cap": 5}}, database=hub_database)
    for venue in ("a", "b"):
        assert client.post(f"/api/v1/venues/{venue}/gates", json={"id": "out", "direction": "out"},
                           headers=ADMIN).status_code == 201
    return HubStore(app.config["DATABASE"]), client


def occupancy(client, venue: str) -> tuple[int, int, int]:
    occ = client.get(f"/api/v1/venues/{venue}/occupancy", headers=ADMIN).get_json()
    return occ["entries"], occ["exits"], occ["inside"]


def test_a_batch_with_one_event_of_another_gate_or_venue_is_refused_whole(two_venues) -> None:
    store, client = two_venues
    dev = enroll(client, "a", "g0")
    for forged in (event("a", "g1"), event("b", "g0"), event("b", "out", kind="exit", direction="out")):
        answer = client.post(SYNC, json={"events": [event("a", "g0"), forged]}, headers=dev)
        assert answer.status_code == 403 and answer.get_json()["error"]["reason"] == "wrong_gate"
    assert store.event_count() == 0 and occupancy(client, "b") == (0, 0, 0)


def test_an_exit_gate_cannot_free_a_place_of_another_venue(two_venues) -> None:
    store, client = two_venues
    b_in, a_out = enroll(client, "b", "g0"), enroll(client, "a", "out")
    inside_b = {**event("b", "g0"), "subject": "s" * 32}
    assert client.post(SYNC, json={"events": [inside_b]}, headers=b_in).status_code == 200
    # The same subject hash at venue a's exit: a's own event, matched only against a's entries.
    leave = {**event("a", "out", kind="exit", direction="out"), "subject": "s" * 32}
    answer = client.post(SYNC, json={"events": [leave]}, headers=a_out).get_json()
    assert answer["acked"] == [leave["id"]]
    assert occupancy(client, "b") == (1, 0, 1) and occupancy(client, "a") == (0, 0, 0)


def test_a_gate_hears_only_its_own_venues_presence(two_venues) -> None:
    _, client = two_venues
    b_in, a_out = enroll(client, "b", "g0"), enroll(client, "a", "out")
    a_in = enroll(client, "a", "g0")
    client.post(SYNC, json={"events": [{**event("b", "g0"), "subject": "b" * 32}]}, headers=b_in)
    client.post(SYNC, json={"events": [{**event("a", "g0"), "subject": "a" * 32}]}, headers=a_in)
    heard = client.post(SYNC, json={"events": [], "presence_after": 0}, headers=a_out).get_json()["presence"]
    assert [p["subject"] for p in heard] == ["a" * 32]


def test_entries_beyond_the_gates_lease_are_stored_counted_and_audited(two_venues) -> None:
    store, client = two_venues
    dev = enroll(client, "a", "g0")
    assert client.post("/api/v1/device/lease", json={"want": 2}, headers=dev).get_json()["held"] == 2
    within = [{**event("a", "g0"), "subject": f"{i:032x}"} for i in range(2)]
    assert client.post(SYNC, json={"events": within}, headers=dev).get_json()["new"] == 2
    assert [r for r in store.audit_log(100) if r["action"] == "device.beyond_lease"] == []
    # Made-up people to fill the venue: the hub cannot tell them from real ones, but sees no lease for them.
    made_up = [{**event("a", "g0"), "subject": f"{i:032x}"} for i in range(10, 17)]
    assert client.post(SYNC, json={"events": made_up}, headers=dev).get_json()["new"] == 7
    assert occupancy(client, "a") == (9, 0, 9)
    alerts = [r for r in store.audit_log(100) if r["action"] == "device.beyond_lease"]
    assert [(r["username"], r["target"], r["venue"]) for r in alerts] == [("gate:g0", "g0: 7 of 7", "a")]
