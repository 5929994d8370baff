"""Event times are bounded (issue 9, item 7): a future-dated entry cannot hold a dwell-time venue's
place forever, and 9999-12-31 is refused with a clear error; a refused event is named to the gate,
which logs it and stops resending it (its own record stays)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

from agent.config import SyncSection
from agent.store import AgentStore
from agent.sync import SyncClient
from protocols import contract
from protocols.events import GateEvent, new_event_id


def _entry(at: dt.datetime, subject: str = "s1") -> GateEvent:
    return GateEvent(id=new_event_id(), kind="decision", venue="expo", gate="g0", at=at, decision="admit",
                     subject=subject)


def test_9999_is_no_event_time() -> None:
    with pytest.raises(ValidationError, match="outside 1970-2100"):
        _entry(dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone.utc))
    with pytest.raises(ValidationError, match="UTC offset"):
        _entry(dt.datetime(2026, 1, 1))
    _entry(dt.datetime(1970, 1, 1, 0, 0, 5, tzinfo=dt.timezone.utc))  # a Pi without a clock battery, just booted


@pytest.mark.slow
def test_future_and_ancient_events_are_refused_named_and_leave_the_outbox(hub_factory, tmp_path: Path, caplog) -> None:
    hub = hub_factory(venues={"expo": {"cap": 3, "dwell_minutes": 60}}, gates={"expo": ["g0"]}, enroll=[("expo", "g0")],
                      serve=True)
    _, secret = hub.devices["g0"]
    now = dt.datetime.now(dt.timezone.utc)
    # 9999-12-31 over HTTP: a 422 that says why, nothing stored.
    body = contract.wire(contract.SyncRequest(events=[_entry(now)]))
    body["events"][0]["at"] = "9999-12-31T23:59:59Z"
    answer = requests.post(hub.url + contract.path(contract.DEVICE_SYNC), json=body, timeout=10,
                           headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 422 and "1970-2100" in answer.text, answer.text
    # A gate's sync: a year-ahead entry and a two-year-old one refused, the timely one stored.
    local = AgentStore(tmp_path / "g0.sqlite", b"k" * 32)
    client = SyncClient(local, SyncSection(hub_url=hub.url, device_id="g0", documents_dir=tmp_path / "docs"),
                        venue="expo", gate="g0", secret=secret)
    future, ancient, timely = (_entry(now + dt.timedelta(days=365), "f"), _entry(now - dt.timedelta(days=800), "a"),
                               _entry(now - dt.timedelta(seconds=5), "t"))
    for e in (future, ancient, timely):
        local.record(e)
    with caplog.at_level("WARNING"):
        assert client.sync_http() == 1
    assert local.outbox_pending() == []  # not resent forever
    assert local.event(future.id) is not None  # the gate keeps its own record
    assert f"hub refused event {future.id} (event_in_future)" in caplog.text
    assert f"hub refused event {ancient.id} (event_too_old)" in caplog.text
    assert hub.store.event_count("expo") == 1
    occ = hub.store.occupancy("expo", now + dt.timedelta(days=2))
    assert occ is not None and occ["inside"] == 0  # nothing holds a place beyond the dwell time
