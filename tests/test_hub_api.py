"""The hub's HTTP API on a real SQLite file: enrollment, idempotent sync, scope, documents, access log."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from ulid import ULID

from server.app import create_app
from server.store import HubStore

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-pass").decode()}


def make_hub(tmp: Path, venues: dict[str, dict] | None = None, gates: int = 2, database: str | None = None):
    """An app on a fresh database (`database`, else tmp/hub.db) with an admin, venues and gates: (app, client)."""
    db = database or str(tmp / "hub.db")
    app = create_app({"DATABASE": db, "TESTING": True})
    HubStore(db).create_user("admin", "admin-pass", "admin")
    client = app.test_client()
    for venue, settings in (venues or {"acme": {"cap": 100}}).items():
        assert client.post("/api/v1/venues", json={"id": venue, **settings}, headers=ADMIN).status_code == 201
        for i in range(gates):
            assert client.post(f"/api/v1/venues/{venue}/gates", json={"id": f"g{i}"}, headers=ADMIN).status_code == 201
    return app, client


def enroll(client, venue: str, gate: str) -> dict[str, str]:
    """Enroll a device at a gate: its bearer header."""
    token = client.post(f"/api/v1/venues/{venue}/gates/{gate}/enroll-token", headers=ADMIN).get_json()["token"]
    answer = client.post("/api/v1/enroll", json={"token": token})
    assert answer.status_code == 201
    return {"Authorization": "Bearer " + answer.get_json()["secret"]}


def event(venue: str, gate: str, *, decision: str = "admit", kind: str = "decision", direction: str = "in",
          failed: tuple[str, ...] = (), at: dt.datetime | None = None) -> dict:
    """A GateEvent body."""
    return {
        "id": str(ULID()), "kind": kind, "venue": venue, "gate": gate, "direction": direction,
        "at": (at or dt.datetime.now(dt.timezone.utc)).isoformat(), "decision": decision,
        "reasons": [{"rule": r, "outcome": "FAIL", "message_zh": "未通过", "message_en": "failed"} for r in failed],
        "colour": "green", "celsius": 36.5, "name": "张*明",
    }


@pytest.fixture
def hub(tmp_path: Path, hub_database: str):
    return make_hub(tmp_path, database=hub_database)


def test_an_enrollment_token_works_once(hub) -> None:
    _, client = hub
    token = client.post("/api/v1/venues/acme/gates/g0/enroll-token", headers=ADMIN).get_json()["token"]
    first = client.post("/api/v1/enroll", json={"token": token})
    assert first.status_code == 201 and first.get_json()["gate"] == "g0"
    again = client.post("/api/v1/enroll", json={"token": token})
    assert again.status_code == 403 and again.get_json()["error"]["reason"] == "bad_token"


def test_duplicated_and_late_events_are_stored_once_and_counted_once(hub) -> None:
    _, client = hub
    dev, out = enroll(client, "acme", "g0"), enroll(client, "acme", "g1")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)
    batch = [{**event("acme", "g0"), "subject": f"h{i}"} for i in range(5)]
    first = client.post("/api/v1/device/sync", json={"events": batch}, headers=dev).get_json()
    assert first["new"] == 5 and sorted(first["acked"]) == sorted(e["id"] for e in batch)
    # An exit gate's late exit (an old time) of someone inside counts once, sent twice.
    leave = {**event("acme", "g1", kind="exit", direction="out", at=old), "subject": "h0"}
    for _ in range(2):
        assert client.post("/api/v1/device/sync", json={"events": [leave]}, headers=out).get_json()["acked"] == [leave["id"]]
    # The same batch again, reversed, plus one new: only the new one counts.
    again = client.post("/api/v1/device/sync", json={"events": batch[::-1] + [event("acme", "g0")]}, headers=dev)
    assert again.get_json()["new"] == 1
    occ = client.get("/api/v1/venues/acme/occupancy", headers=ADMIN).get_json()
    assert (occ["entries"], occ["exits"], occ["inside"]) == (6, 1, 5)


def test_a_device_cannot_post_as_another_gate_or_without_credential(hub) -> None:
    _, client = hub
    dev = enroll(client, "acme", "g0")
    forged = client.post("/api/v1/device/sync", json={"events": [event("acme", "g1")]}, headers=dev)
    assert forged.status_code == 403 and forged.get_json()["error"]["reason"] == "wrong_gate"
    anon = client.post("/api/v1/device/sync", json={"events": [event("acme", "g0")]})
    assert anon.status_code == 401
    wrong = client.post("/api/v1/device/sync", json={"events": []}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert HubStore(hub[0].config["DATABASE"]).event_count() == 0


def test_bad_bodies_get_the_json_error_shape(hub) -> None:
    _, client = hub
    dev = enroll(client, "acme", "g0")
    bad = client.post("/api/v1/device/sync", data=b"{not json", headers={**dev, "Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["error"]["reason"] == "invalid_body"
    extra = client.post("/api/v1/device/sync", json={"events": [{**event("acme", "g0"), "raw": "HC1:..."}]}, headers=dev)
    assert extra.status_code == 422
    assert client.get("/api/v1/nowhere").get_json()["error"]["reason"] == "not_found"


def test_documents_are_versioned_fetched_with_etags_and_reported_running(hub) -> None:
    _, client = hub
    dev = enroll(client, "acme", "g0")
    put = client.put("/api/v1/venues/acme/documents/bundle", data=b'{"body":{"v":1}}',
                     content_type="application/json", headers=ADMIN)
    assert put.status_code == 201 and put.get_json()["version"] == 1
    sync = client.post("/api/v1/device/sync", json={"events": [], "running": {}}, headers=dev).get_json()
    assert sync["versions"] == {"bundle": "1"} and sync["fetch"] == ["bundle"]
    got = client.get("/api/v1/device/documents/bundle", headers=dev)
    assert got.status_code == 200 and got.data == b'{"body":{"v":1}}' and got.headers["X-Document-Version"] == "1"
    same = client.get("/api/v1/device/documents/bundle", headers={**dev, "If-None-Match": got.headers["ETag"]})
    assert same.status_code == 304
    client.put("/api/v1/venues/acme/documents/bundle", data=b'{"body":{"v":2}}', content_type="application/json",
               headers=ADMIN)
    changed = client.get("/api/v1/device/documents/bundle", headers={**dev, "If-None-Match": got.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["X-Document-Version"] == "2"
    sync = client.post("/api/v1/device/sync", json={"events": [], "running": {"bundle": "2"}}, headers=dev).get_json()
    assert sync["fetch"] == []
    gates = client.get("/api/v1/venues/acme/gates", headers=ADMIN).get_json()
    assert gates[0]["running"] == {"bundle": "2"} and gates[0]["last_seen"]


def test_access_log_filters_by_gate_decision_rule_and_time_and_exports_csv(hub) -> None:
    _, client = hub
    now = dt.datetime.now(dt.timezone.utc)
    d0, d1 = enroll(client, "acme", "g0"), enroll(client, "acme", "g1")
    client.post("/api/v1/device/sync", headers=d0, json={"events": [
        event("acme", "g0"), event("acme", "g0", decision="deny", failed=("GR-COLOUR", "GR-TEMP")),
        event("acme", "g0", decision="deny", failed=("GR-TEMP",), at=now - dt.timedelta(days=2))]})
    client.post("/api/v1/device/sync", headers=d1, json={"events": [event("acme", "g1", decision="deny", failed=("GR-COLOUR",))]})

    def log(**q):
        return client.get("/api/v1/events", query_string=q, headers=ADMIN).get_json()

    assert len(log(venue="acme")) == 4
    assert len(log(gate="g0", decision="deny")) == 2
    assert {r["gate"] for r in log(rule="GR-COLOUR")} == {"g0", "g1"}
    assert len(log(rule="GR-TEMP", since=(now - dt.timedelta(days=1)).isoformat())) == 1
    assert log(rule="GR-TE") == []
    got = client.get("/api/v1/events", query_string={"format": "csv", "decision": "deny"}, headers=ADMIN)
    rows = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert rows[0][0] == "编号 id" and len(rows) == 4
    assert client.get("/api/v1/events", query_string={"since": "yesterday"}, headers=ADMIN).status_code == 400
    assert client.get("/api/v1/events").status_code == 401


def test_gathering_tiers_are_venue_settings(tmp_path: Path, hub_database: str) -> None:
    _, client = make_hub(tmp_path, venues={"hall": {"gathering": 40}}, gates=0, database=hub_database)
    cases = [(49, None, 201), (50, None, 422), (60, True, 201), (100, True, 422), (301, True, 422)]
    for i, (size, plan, status) in enumerate(cases):
        body = {"id": f"v{i}", "gathering": size, **({"plan_approved": plan} if plan is not None else {})}
        answer = client.post("/api/v1/venues", json=body, headers=ADMIN)
        assert answer.status_code == status, (size, answer.get_json())
    reasons = [client.post("/api/v1/venues", json={"id": f"w{n}", "gathering": n}, headers=ADMIN).get_json()["error"]["reason"]
               for n in (50, 100, 301)]
    assert reasons == ["gathering_needs_plan", "gathering_refused", "gathering_banned"]


def test_reservations_fill_staggered_slots_up_to_their_capacity(tmp_path: Path) -> None:
    _, client = make_hub(tmp_path, venues={"park": {"slot_minutes": 30, "slot_capacity": 2}}, gates=0)
    at = "2026-12-01T09:10:00+00:00"
    answers = [client.post("/api/v1/venues/park/reservations", json={"subject": s, "at": at}, headers=ADMIN)
               for s in ("a", "b", "a", "c")]
    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert answers[0].get_json()["slot"] == "2026-12-01T09:00:00.000000Z"
    later = client.post("/api/v1/venues/park/reservations", json={"subject": "c", "at": "2026-12-01T09:31:00Z"},
                        headers=ADMIN)
    assert later.status_code == 201
    assert client.get("/api/v1/venues/park/reservations", headers=ADMIN).get_json()[0]["booked"] == 2


def test_venues_without_exit_gates_free_places_after_the_dwell_time(tmp_path: Path) -> None:
    _, client = make_hub(tmp_path, venues={"market": {"cap": 50, "dwell_minutes": 30}}, gates=1)
    dev = enroll(client, "market", "g0")
    now = dt.datetime.now(dt.timezone.utc)
    batch = [event("market", "g0", at=now - dt.timedelta(minutes=m)) for m in (45, 31, 20, 5, 1)]
    client.post("/api/v1/device/sync", json={"events": batch}, headers=dev)
    occ = client.get("/api/v1/venues/market/occupancy", headers=ADMIN).get_json()
    assert (occ["entries"], occ["inside"], occ["free"]) == (5, 3, 47)


def test_a_revoked_device_is_refused_at_once_and_left_out_of_the_broker_files(hub, tmp_path: Path) -> None:
    app, client = hub
    dev = enroll(client, "acme", "g0")
    assert client.post("/api/v1/device/sync", json={"events": []}, headers=dev).status_code == 200
    device_id = client.get("/api/v1/venues/acme/devices", headers=ADMIN).get_json()[0]["id"]
    assert client.delete(f"/api/v1/venues/acme/devices/{device_id}", headers=ADMIN).status_code == 204
    assert client.post("/api/v1/device/sync", json={"events": []}, headers=dev).status_code == 401
    assert client.delete(f"/api/v1/venues/acme/devices/{device_id}", headers=ADMIN).status_code == 404
    from server.broker_files import write_broker_files

    files = write_broker_files(HubStore(app.config["DATABASE"]), tmp_path / "broker")
    assert device_id not in files.password_file.read_text() and device_id not in files.acl_file.read_text()
