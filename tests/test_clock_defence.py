"""The clock defence (issue 9 item 15, issue 11 item 7): a gate decides by the hub's time when its wall clock jumps.

A real hub (tests/conftest.py hub_factory, served over HTTP), a real gate loop with simulated
devices syncing to it every 0.2 s. The gate's wall clock is moved through the one seam the loop
reads it by (`TrustedClock.wall`), never by patching time for the whole process.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.people import Person
from agent.simulation import Simulation
from agent.store import AgentStore
from agent.trusted_clock import TrustedClock
from protocols.clock import utc_now
from tests.conftest import wait_until

VENUE, GATE = "clock-v", "g1"
SUBJECT_KEY = "00112233445566778899aabbccddeeff"
MAX_CODE_AGE_S = 600  # codes issued longer ago are screenshots


def gate_config(work: Path, hub_url: str, device: Any, secret: str, **gate: Any) -> Any:
    """A gate with simulated devices that syncs to the hub every 0.2 s."""
    data: dict[str, Any] = {
        "gate": {"venue": VENUE, "gate": GATE, "open_s": 0.3, **gate},
        "store": {"path": str(work / "agent.sqlite")},
        "camera": {"type": "simulated", "fps": 30, "seed": 7},
        "thermometer": {"type": "simulated", "interval_s": 0.05},
        "barrier": {"type": "simulated", "journal": str(work / "relay.jsonl")},
        "speaker": {"type": "recording"},
        "kiosk": {"port": 0, "countdown_s": 0.3},
        "measure": {"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0},
        "presentation": {"dedupe_s": 0.5, "anti_passback_s": 0},
        "rules": {"max_code_age_s": MAX_CODE_AGE_S},
        "sync": {"hub_url": hub_url, "device_id": device.id, "documents_dir": str(work / "documents"),
                 "interval_s": 0.2},
    }
    return parse_config(data, {"CHECKPOINT_SUBJECT_KEY": SUBJECT_KEY, "CHECKPOINT_DEVICE_SECRET": secret})


@pytest.fixture
def synced(tmp_path: Path, hub_factory):
    """(simulation, hub) once the gate holds the hub's time."""
    hub = hub_factory(venues={VENUE: {"name": "时钟"}}, gates={VENUE: [GATE]}, enroll=[(VENUE, GATE)], serve=True)
    device, secret = hub.devices[GATE]
    sim = Simulation(gate_config(tmp_path / "gate", hub.url, device, secret), seed=3)
    try:
        wait_until(lambda: sim.gate.loop.clock.offset() is not None, 15, "the gate's first sync with the hub")
        yield sim, hub
    finally:
        sim.close()


def set_wall(sim: Simulation, shift: dt.timedelta) -> None:
    """The gate's wall clock now reads true time + shift (true time: this process's clock)."""
    sim.gate.loop.clock.wall = lambda: utc_now() + shift


def failed(event) -> set[str]:
    return {r.rule for r in event.reasons if r.outcome == "FAIL"}


def hub_rows(hub, kind: str) -> list[tuple]:
    return hub.sql("SELECT id, at, wall_at FROM events WHERE kind = ? ORDER BY id", [kind])


def green(sim: Simulation, issued: dt.datetime, expires: dt.datetime) -> Person:
    """A green person whose signed code was issued at `issued` and expires at `expires`."""
    now = utc_now()
    code = sim.factory._code(now, issued_ago=now - issued, valid_for=expires - issued)
    return Person("green", code, 36.5)


@pytest.mark.slow
def test_a_clock_jumped_back_an_hour_decides_by_the_hubs_time_and_raises_the_alarm(synced) -> None:
    sim, hub = synced
    true_now = utc_now()
    # Expired 30 minutes ago; by a clock an hour behind, issued 5 minutes ago and valid for 35 more.
    expired = green(sim, true_now - dt.timedelta(minutes=65), true_now - dt.timedelta(minutes=30))
    set_wall(sim, -dt.timedelta(hours=1))
    alarm = sim.events.get(timeout=5)  # raised by the loop's next tick, before anybody presents
    refused = sim.present(expired)
    assert refused is not None and refused.decision == "deny", refused
    assert refused.note == "code: expired", refused.note
    assert alarm.kind == "alarm" and failed(alarm) == {"GATE-CLOCK-01"}, alarm
    assert alarm.wall_at is not None and abs((alarm.at - alarm.wall_at) - dt.timedelta(hours=1)) < dt.timedelta(seconds=5)
    # Both times: the hub's (decided by) and the gate's wall clock, an hour behind.
    assert refused.wall_at is not None
    assert abs(refused.at - utc_now()) < dt.timedelta(seconds=30)
    assert abs((refused.at - refused.wall_at) - dt.timedelta(hours=1)) < dt.timedelta(seconds=5)
    # A code issued seconds ago is not "issued in the future" by the clock set back.
    wait_until(lambda: sim.gate.loop._pending is None, 5, "the gate to be idle")
    fresh = sim.present(sim.factory.person("green"))
    assert fresh is not None and fresh.decision == "admit", fresh.reasons
    # Once per episode: still one alarm; it reached the hub with both times, as the decisions did.
    assert len(sim.gate.store.events(kind="alarm")) == 1
    wait_until(lambda: len(hub_rows(hub, "alarm")) == 1 and len(hub_rows(hub, "decision")) == 2, 15,
               "the alarm and the decisions to reach the hub")
    (_, at, wall_at), = hub_rows(hub, "alarm")
    assert wall_at is not None and dt.datetime.fromisoformat(at) - dt.datetime.fromisoformat(wall_at) > dt.timedelta(minutes=59)
    assert all(row[2] is not None for row in hub_rows(hub, "decision"))


@pytest.mark.slow
def test_a_clock_jumped_forward_an_hour_neither_expires_a_valid_code_nor_ages_a_fresh_one(synced) -> None:
    sim, _hub = synced
    true_now = utc_now()
    # Valid for 30 more minutes: expired, and an hour old, by a clock an hour ahead.
    soon = green(sim, true_now - dt.timedelta(seconds=20), true_now + dt.timedelta(minutes=30))
    set_wall(sim, dt.timedelta(hours=1))
    alarm = sim.events.get(timeout=5)
    assert alarm.kind == "alarm" and failed(alarm) == {"GATE-CLOCK-01"}
    admitted = sim.present(soon)
    assert admitted is not None and admitted.decision == "admit", admitted.reasons
    wait_until(lambda: sim.gate.loop._pending is None, 5, "the gate to be idle")
    fresh = sim.present(sim.factory.person("green"))  # an hour old by the wall clock: past the code age limit
    assert fresh is not None and fresh.decision == "admit", fresh.reasons
    assert fresh.wall_at is not None and fresh.wall_at - fresh.at > dt.timedelta(minutes=59)
    # Ids are minted from the time decided by: no event id from the future becomes the clock's floor.
    assert sim.gate.store.last_event_id() <= str(fresh.id)


@pytest.mark.slow
def test_a_small_drift_within_the_tolerance_changes_nothing(synced) -> None:
    sim, _hub = synced
    set_wall(sim, dt.timedelta(seconds=90))  # inside the default 120 s
    event = sim.present(sim.factory.person("green"))
    assert event is not None and event.decision == "admit", event.reasons
    assert event.at == event.wall_at  # the wall clock decided, as without the defence
    assert sim.gate.store.events(kind="alarm") == []


def test_the_trusted_time_survives_a_restart_of_the_same_boot_and_is_only_a_floor_after_a_reboot(tmp_path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", b"k" * 16)
    mono = [1000.0]
    hub_at = utc_now().timestamp()
    clock = TrustedClock(store, 120, wall=lambda: utc_now() - dt.timedelta(hours=1), monotonic=lambda: mono[0],
                         boot="boot-a")
    clock.anchor(hub_at, 999.0, 1001.0)  # midpoint 1000: the hub's time then
    mono[0] = 1060.0
    again = TrustedClock(store, 120, wall=lambda: utc_now() - dt.timedelta(hours=1), monotonic=lambda: mono[0],
                         boot="boot-a")
    reading = again.read()
    assert reading.jumped and abs(reading.at.timestamp() - (hub_at + 60)) < 0.01
    # Another boot: the monotonic clock started again, the kept time is only a floor the wall clock is behind.
    rebooted = TrustedClock(store, 120, wall=lambda: utc_now() - dt.timedelta(hours=1), monotonic=lambda: 5.0,
                            boot="boot-b")
    reading = rebooted.read()
    assert reading.trusted is None and reading.floor is not None and not reading.jumped
    assert abs(reading.floor.timestamp() - hub_at) < 0.01
    store.close()


def test_a_bad_clock_tolerance_names_the_key() -> None:
    from pydantic import ValidationError

    from agent.config import error_lines

    with pytest.raises(ValidationError) as info:
        parse_config({"gate": {"venue": "v", "gate": "g", "clock_tolerance_s": -5}},
                     {"CHECKPOINT_SUBJECT_KEY": SUBJECT_KEY})
    assert any(line.startswith("gate.clock_tolerance_s:") for line in error_lines(info.value))
