"""Honest caps at the hub and on the screen: exit gates hold no places, a silent gate's places come back
only by an explicit, audited reclaim after the venue's time, and a full venue says "please wait" in amber."""

from __future__ import annotations

import datetime as dt

import pytest

from agent import messages
from agent.outcome import result_screen
from protocols.clock import utc_now
from protocols.events import GateEvent, RuleResult, new_event_id
from server.leases import ReclaimRefused
from server.store import HubStore


def test_an_exit_gate_is_lent_no_places_and_takes_no_share(hub_database) -> None:
    store = HubStore(hub_database)
    store.migrate()
    store.create_venue("v", {"cap": 10})
    store.create_gate("v", "in1", direction="in")
    store.create_gate("v", "out1", direction="out")
    assert store.lease("v", "out1", want=10)["grant"] == 0
    # The one entry gate gets the whole free cap: no share of it is kept for the exit gate.
    assert store.lease("v", "in1", want=10)["grant"] == 10
    assert {p.gate: p.held for p in store.lent_places("v")} == {"in1": 10, "out1": 0}


def test_a_reclaim_is_refused_before_the_venues_time_and_audited_after(hub_database) -> None:
    store = HubStore(hub_database)
    store.migrate()
    store.create_venue("v", {"cap": 4, "lease_reclaim_after_s": 600})
    store.create_gate("v", "g", direction="in")
    store.lease("v", "g", want=4)
    now = utc_now()
    with pytest.raises(ReclaimRefused) as refused:
        store.reclaim_lease("v", "g", "sup", now=now + dt.timedelta(seconds=60))
    assert refused.value.reason == "gate_not_silent" and "600" in str(refused.value)
    assert store.lent_places("v")[0].held == 4
    lent = store.reclaim_lease("v", "g", "sup", now=now + dt.timedelta(seconds=601))
    assert lent.held == 4 and store.lent_places("v")[0].held == 0
    assert store.occupancy("v")["free"] == 4
    assert [(a["username"], a["action"], a["target"]) for a in store.audit_log()] == [("sup", "lease.reclaim", "g: 4")]
    with pytest.raises(ReclaimRefused) as again:
        store.reclaim_lease("v", "g", "sup", now=now + dt.timedelta(seconds=700))
    assert again.value.reason == "nothing_lent"
    with pytest.raises(KeyError):
        store.reclaim_lease("v", "nope", "sup")


def _refusal(*reasons: RuleResult) -> GateEvent:
    return GateEvent(id=new_event_id(), kind="decision", venue="v", gate="g", at=utc_now(), direction="in",
                     decision="deny", reasons=list(reasons))


def test_a_full_venue_shows_amber_please_wait_not_a_red_refusal() -> None:
    screen = result_screen(_refusal(messages.VENUE_FULL), 3.0)
    assert (screen.state, screen.title_zh, screen.title_en) == ("wait", "请稍候", "Please wait")
    # A person refused for a reason of their own is still refused in red, even at a full venue.
    red = RuleResult(rule="HC-COLOUR-01", outcome="FAIL", message_zh="红码", message_en="red code")
    assert result_screen(_refusal(red, messages.VENUE_FULL), 3.0).state == "deny"
