"""Alerts on the hub (issue 12): raised at ingest once per event from what the event carries, raised by
the background check (gate offline, documents expiring), listed and acknowledged through the API with an
audit row each, scoped to the venue; on both engines (`hub_engine`)."""

from __future__ import annotations

import base64
import datetime as dt
import json

from ulid import ULID

from agent.outcome import raises_alert
from protocols.clock import utc_now, utc_text
from protocols.events import GateEvent, RuleResult
from server import alerts as rules

PASSWORD = "pass-word-1"


def event(venue: str = "school1", gate: str = "north", *, kind: str = "decision", decision: str | None = "deny",
          colour: str | None = "green", failed: tuple[str, ...] = (), celsius: float | None = 36.6,
          at: dt.datetime | None = None) -> GateEvent:
    """One gate event as an agent syncs it."""
    at = at or utc_now() - dt.timedelta(minutes=1)
    return GateEvent(id=str(ULID.from_datetime(at)), kind=kind, venue=venue, gate=gate, at=at, direction="in",
                     decision=decision, colour=colour, name="张*明", subject="ab" * 16, celsius=celsius,
                     reasons=[RuleResult(rule=r, outcome="FAIL", message_zh=r, message_en=r) for r in failed])


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


def make_hub(hub_factory):
    hub = hub_factory(venues={"school1": {"cap": 10}, "factory1": {}}, gates={"school1": ["north"], "factory1": ["north"]},
                      testing=True)
    for user, role, venue in (("li", "supervisor", "school1"), ("wu", "supervisor", "factory1"),
                              ("wang", "guard", "school1"), ("boss", "admin", "school1")):
        hub.store.create_user(user, PASSWORD, role)
        hub.store.set_user_venue(user, venue)
    return hub


def test_each_kind_of_event_raises_its_alert_once_per_event(hub_factory):
    hub = make_hub(hub_factory)
    red = event(colour="red", failed=("GATE-CODE-01",))
    fever = event(kind="fever", decision="deny", celsius=38.4, failed=("GATE-TEMP-02",))
    drift = event(kind="alarm", decision=None, colour=None, celsius=None, failed=("GATE-THERM-01",))
    full = [event(failed=("GATE-CAP-01",), at=utc_now() - dt.timedelta(seconds=s)) for s in (30, 20)]
    positive = event(failed=("GATE-TEST-02",))
    admitted = event(decision="admit")
    result = hub.store.ingest([red, fever, drift, *full, positive, admitted])
    kinds = {a["kind"]: a for a in hub.store.alerts("school1")}
    assert sorted(kinds) == ["cap_reached", "fever", "positive_test", "red_code", "thermometer_drift"]
    assert len(hub.store.alerts("school1")) == 5  # two refusals of a full venue in one hour: one alert
    # The sync answer names the alerted events (the kiosk's "reported"), not the admitted one.
    assert set(result.alerted) == {red.id, fever.id, drift.id, positive.id, kinds["cap_reached"]["event_id"]}
    # What the gate's kiosk promises to report is what the hub raised for a person (agent/outcome.py).
    assert [raises_alert(e) for e in (red, fever, positive, admitted, drift, full[0])] == [True] * 3 + [False] * 3
    # A fever carries its 2-hour report deadline (POLICY.md), the others none.
    assert kinds["fever"]["deadline"] == utc_text(fever.at + dt.timedelta(hours=2))
    assert kinds["red_code"]["deadline"] is None
    assert kinds["fever"]["detail"] == {"celsius": 38.4, "colour": "green", "decision": "deny", "direction": "in",
                                        "name": "张*明", "rules": ["GATE-TEMP-02"]}
    # Sent again (a gate's resend, over MQTT then HTTP): held already, no second alert, still "reported".
    again = hub.store.ingest([red, fever])
    assert len(hub.store.alerts("school1")) == 5 and set(again.alerted) == {red.id, fever.id}
    raised = [r for r in hub.store.audit_log(100) if r["action"] == "alert.raise"]
    assert len(raised) == 5 and all(r["username"] == "hub" and r["venue"] == "school1" for r in raised)
    # Each alert waits in the outbox for MQTT (the venue has no webhook or mail yet).
    assert [d["channel"] for d in hub.store.deliveries(kinds["fever"]["id"])] == ["mqtt"]


def test_fever_deadline_counts_down_then_is_overdue_until_acknowledged():
    at = dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
    row = rules.from_event({"id": "01" * 13, "kind": "fever", "venue": "v", "gate": "g", "at": utc_text(at),
                            "failed": ",GATE-TEMP-02,", "celsius": 38.2})
    alert = {"deadline": row.deadline, "acked_at": None}
    assert rules.state(alert, at + dt.timedelta(minutes=30)) == "open"
    assert rules.countdown_s(alert, at + dt.timedelta(minutes=30)) == 90 * 60
    assert rules.state(alert, at + dt.timedelta(hours=2, seconds=1)) == "overdue"
    assert rules.countdown_s(alert, at + dt.timedelta(hours=3)) == -3600
    acked = {**alert, "acked_at": utc_text(at)}
    assert rules.state(acked, at + dt.timedelta(hours=3)) == "acked" and rules.countdown_s(acked, at) is None


def test_the_check_raises_gate_offline_once_per_silence_and_expiring_documents(hub_factory):
    hub = make_hub(hub_factory)
    hub.store.touch_gate("school1", "north", None)
    assert hub.store.check_alerts() == []  # just seen: nothing
    later = utc_now() + rules.OFFLINE_AFTER + dt.timedelta(seconds=5)
    first = hub.store.check_alerts(later)
    assert len(first) == 1 and hub.store.alert(first[0])["kind"] == "gate_offline"
    assert hub.store.check_alerts(later + dt.timedelta(minutes=1)) == []  # the same silence: once
    hub.store.set_gate_status("school1", "north", "offline")  # its last will now too: still the same silence
    assert hub.store.check_alerts(later) == []
    hub.store.touch_gate("school1", "north", None)  # back over HTTP (its status still says offline): no alert
    assert hub.store.check_alerts() == []
    assert len(hub.store.check_alerts(utc_now() + 2 * rules.OFFLINE_AFTER)) == 1  # silent again: a new one
    # A bundle issued 21 h ago expires at the gates (24 h) within the 4 h warning: one alert per version.
    issued = utc_now() - dt.timedelta(hours=21)
    body = json.dumps({"body": {"type": "checkpoint-bundle", "issued_at": utc_text(issued)}, "signature": {}}).encode()
    hub.store.put_document("factory1", "bundle", body, "application/json")
    hub.store.put_document("factory1", "roster", b"not json", "application/json")  # not a kind that expires
    found = [hub.store.alert(i) for i in hub.store.check_alerts()]
    expiry = [a for a in found if a["kind"] == "document_expiry"]
    assert len(expiry) == 1 and expiry[0]["venue"] == "factory1" and expiry[0]["detail"]["document"] == "bundle v1"
    assert not [i for i in hub.store.check_alerts() if hub.store.alert(i)["kind"] == "document_expiry"]


def test_the_api_lists_filters_and_acknowledges_with_a_note_audited_and_scoped(hub_factory):
    hub = make_hub(hub_factory)
    red, fever = event(colour="red"), event(kind="fever", celsius=38.5)
    hub.store.ingest([red, fever, event("factory1", colour="red")])
    c = hub.app.test_client()
    listed = c.get("/api/v1/venues/school1/alerts", headers=basic("li")).get_json()
    assert [a["kind"] for a in listed] == ["fever", "red_code"] or [a["kind"] for a in listed] == ["red_code", "fever"]
    fever_row = next(a for a in listed if a["kind"] == "fever")
    assert fever_row["state"] == "open" and 0 < fever_row["countdown_s"] <= 7200
    assert [a["kind"] for a in c.get("/api/v1/venues/school1/alerts?kind=fever", headers=basic("li")).get_json()] == ["fever"]
    # Bad input: a clear 400 each, nothing changed.
    for query in ("state=closed", "kind=bomb", "limit=0", "limit=x"):
        answer = c.get(f"/api/v1/venues/school1/alerts?{query}", headers=basic("li"))
        assert answer.status_code == 400 and answer.get_json()["error"]["message"]
    url = f"/api/v1/venues/school1/alerts/{fever_row['id']}/ack"
    assert c.post(url, json={"note": ""}, headers=basic("li")).status_code == 422
    assert c.post(url, data="x", headers=basic("li")).status_code == 415
    assert c.post(url, json={"note": "已上报疾控 reported to the CDC"}, headers=basic("wang")).status_code == 403  # a guard
    # Another venue's supervisor: 403 on this venue's URL, 404 naming this alert under their own venue.
    assert c.post(url, json={"note": "x"}, headers=basic("wu")).status_code == 403
    assert c.post(f"/api/v1/venues/factory1/alerts/{fever_row['id']}/ack", json={"note": "x"},
                  headers=basic("wu")).status_code == 404
    assert c.get("/api/v1/venues/school1/alerts", headers=basic("wu")).status_code == 403
    done = c.post(url, json={"note": "已上报疾控 reported to the CDC"}, headers=basic("li"))
    assert done.status_code == 200
    body = done.get_json()
    assert body["state"] == "acked" and body["acked_by"] == "li" and body["countdown_s"] is None
    assert c.post(url, json={"note": "again"}, headers=basic("li")).status_code == 409
    acks = [r for r in hub.store.audit_log(100) if r["action"] == "alert.ack"]
    assert len(acks) == 1 and acks[0]["username"] == "li" and "reported to the CDC" in acks[0]["target"]
    assert [a["kind"] for a in c.get("/api/v1/venues/school1/alerts?state=open", headers=basic("li")).get_json()] == ["red_code"]
    assert [a["kind"] for a in c.get("/api/v1/venues/school1/alerts?state=acked", headers=basic("li")).get_json()] == ["fever"]


def test_delivery_settings_take_only_good_values_and_never_answer_the_secret(hub_factory):
    hub = make_hub(hub_factory)
    c = hub.app.test_client()
    url = "/api/v1/venues/school1/alert-settings"
    assert c.put(url, json={"mail_to": "duty@x.org"}, headers=basic("li")).status_code == 403  # admins only
    for bad in ({"webhook_url": "ftp://x"}, {"webhook_kind": "slack"}, {"mail_to": "not an address"}, {"extra": 1}):
        assert c.put(url, json=bad, headers=basic("boss")).status_code == 422, bad
    answer = c.put(url, json={"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "webhook_kind": "dingtalk",
                              "webhook_secret": "SEC123", "mail_to": "duty@x.org, head@x.org"}, headers=basic("boss"))
    assert answer.status_code == 200
    shown = c.get(url, headers=basic("li")).get_json()
    assert shown == {"venue": "school1", "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                     "webhook_kind": "dingtalk", "webhook_secret_set": True, "mail_to": "duty@x.org, head@x.org"}
    assert "SEC123" not in json.dumps(shown)
    # An alert raised now goes to all three channels.
    hub.store.ingest([e := event(colour="red")])
    alert = hub.store.alerts("school1")[0]
    assert alert["event_id"] == e.id
    assert [d["channel"] for d in hub.store.deliveries(alert["id"])] == ["mail", "mqtt", "webhook"]


def test_message_shapes_of_the_robots_and_the_dingtalk_signature():
    import base64 as b64
    import hashlib
    import hmac
    import urllib.parse

    alert = {"id": "A" * 26, "venue": "school1", "kind": "fever", "gate": "north", "event_id": "E" * 26,
             "at": "2030-01-01T08:00:00Z", "raised_at": "2030-01-01T08:00:01Z", "deadline": "2030-01-01T10:00:00Z",
             "detail": {"name": "张*明", "celsius": 38.4}}
    wecom = rules.webhook_body(alert, "wecom")
    assert wecom["msgtype"] == "markdown" and "发热" in wecom["markdown"]["content"] and "38.4" in wecom["markdown"]["content"]
    ding = rules.webhook_body(alert, "dingtalk")
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"].startswith("【告警】发热")
    assert rules.webhook_body(alert, "generic")["alert"]["deadline"] == "2030-01-01T10:00:00Z"
    url = rules.dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SEC", 1700000000000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expected = b64.b64encode(hmac.new(b"SEC", b"1700000000000\nSEC", hashlib.sha256).digest()).decode()
    assert query["timestamp"] == ["1700000000000"] and query["sign"] == [expected] and query["access_token"] == ["t"]
    assert [rules.backoff_s(n) for n in (1, 2, 3, 20)] == [2.0, 4.0, 8.0, 600.0]
