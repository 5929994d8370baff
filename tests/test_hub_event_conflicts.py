"""Duplicate ids with other content and oversized reasons (issue 9, low items): the hub reports a
conflict and keeps the first event; an event's reasons are bounded in number and size."""

from __future__ import annotations

import datetime as dt

import requests

from protocols import contract
from protocols.events import MAX_REASONS, new_event_id


def _body(**fields) -> dict:
    event = {"id": new_event_id(), "kind": "decision", "venue": "acme", "gate": "g0", "direction": "in",
             "at": dt.datetime.now(dt.timezone.utc).isoformat(), "decision": "admit", "subject": "s1"}
    return {"events": [{**event, **fields}]}


def test_a_duplicate_id_with_other_content_is_a_conflict_and_the_first_is_kept(hub_factory) -> None:
    hub = hub_factory(venues={"acme": {"cap": 10}}, gates={"acme": ["g0"]}, enroll=[("acme", "g0")], serve=True)
    headers = {"Authorization": f"Bearer {hub.devices['g0'][1]}"}
    url = hub.url + contract.path(contract.DEVICE_SYNC)
    first = _body()
    assert requests.post(url, json=first, headers=headers, timeout=10).json()["new"] == 1
    same = requests.post(url, json=first, headers=headers, timeout=10).json()
    assert same["acked"] == [first["events"][0]["id"]] and "conflicts" not in same  # a plain resend
    other = {"events": [{**first["events"][0], "decision": "deny", "subject": "s2"}]}
    answer = requests.post(url, json=other, headers=headers, timeout=10).json()
    assert answer["conflicts"] == [first["events"][0]["id"]] and answer["new"] == 0
    stored = hub.store.access_log(venue="acme")
    assert [(r["decision"], r["subject"]) for r in stored] == [("admit", "s1")]
    assert hub.store.occupancy("acme")["entries"] == 1  # type: ignore[index]


def test_reasons_are_bounded_in_number_and_size(hub_factory) -> None:
    hub = hub_factory(venues={"acme": {"cap": 10}}, gates={"acme": ["g0"]}, enroll=[("acme", "g0")], serve=True)
    headers = {"Authorization": f"Bearer {hub.devices['g0'][1]}"}
    url = hub.url + contract.path(contract.DEVICE_SYNC)
    many = [{"rule": f"R{i}", "outcome": "FAIL"} for i in range(MAX_REASONS + 1)]
    huge = [{"rule": "R1", "outcome": "FAIL", "message_en": "x" * 100_000}]
    for reasons in (many, huge):
        answer = requests.post(url, json=_body(reasons=reasons), headers=headers, timeout=10)
        assert answer.status_code == 422, answer.text[:200]
    assert hub.store.event_count() == 0
