"""A gate's own figures (agent/figures.py) and its answers to the hub's commands (agent/sync.py), without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import SyncSection
from agent.figures import DecisionTimes, gate_figures
from agent.store import AgentStore
from agent.sync import SyncClient
from protocols import topics
from protocols.contract import GateFigures
from protocols.events import GateEvent, new_event_id
from protocols.clock import utc_now


def test_people_per_minute_counts_the_last_minute_and_p95_the_slow_tail() -> None:
    times = DecisionTimes()
    for i in range(100):
        times.add(1000.0 + i * 0.5, 0.2 if i < 95 else 2.0)  # five slow decisions of a hundred
    times.add(900.0, None)  # long ago, untimed
    assert times.per_minute(now=1050.0) == 100.0
    assert times.per_minute(now=1200.0) == 0.0
    assert 200.0 <= times.p95_ms() <= 2000.0
    assert DecisionTimes().p95_ms() is None


def test_figures_carry_the_outbox_depth_and_are_bounded(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", b"k" * 32)
    for _ in range(3):
        store.record(GateEvent(id=new_event_id(), kind="decision", venue="acme", gate="g0", at=utc_now(),
                               decision="admit"))
    assert store.outbox_depth() == 3
    store.mark_sent([item.event_id for item in store.outbox_pending(1)])
    assert store.outbox_depth() == 2
    figures = gate_figures(DecisionTimes(), store.outbox_depth(), -1.23456, None)
    assert figures.outbox == 2 and figures.clock_offset_s == -1.235 and figures.decision_p95_ms is None
    store.close()
    with pytest.raises(ValidationError):
        GateFigures(people_per_min=-1, outbox=0)


def test_malformed_and_unknown_commands_are_refused_by_the_contract() -> None:
    with pytest.raises(ValidationError):
        topics.CommandMessage.model_validate_json('{"command": "explode", "id": "x"}')
    with pytest.raises(ValidationError):
        topics.CommandMessage.model_validate_json('{"command": "open", "id": ""}')
    with pytest.raises(ValidationError):
        topics.ReplyMessage.model_validate_json('{"id": "x", "ok": "maybe", "extra": 1}')
    assert topics.parse(topics.reply("acme", "g0")).channel is topics.Channel.REPLY
    assert topics.Channel.REPLY in topics.DEVICE_PUBLISHES  # the broker's ACL lets a gate answer


class _Link:
    """Stands in for the broker link: records the replies (the MQTT path has its own test with Mosquitto)."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, bool, str]] = []

    def reply(self, command_id: str, ok: bool, detail: str = "", result: object = None) -> bool:
        """As agent/sync_mqtt.MqttLink.reply: a replay's result rides beside the detail."""
        self.replies.append((command_id, ok, detail))
        return True


def test_open_goes_to_the_loop_and_is_answered_once_it_is_done(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent.sqlite", b"k" * 32)
    settings = SyncSection(hub_url="http://127.0.0.1:9", device_id="d", documents_dir=tmp_path / "docs",
                           http_timeout=0.2)
    client = SyncClient(store, settings, venue="acme", gate="g0", secret="s")
    client.mqtt = _Link()  # type: ignore[assignment]
    client.run_command(topics.CommandMessage(command="open", id="c1", reason="r"))
    assert client.mqtt.replies == [("c1", False, "this gate takes no opening from the hub")]
    asked: list = []
    client.open_once = lambda reason, by, done: asked.append((reason, by, done))
    client.run_command(topics.CommandMessage(command="open", id="c2", reason="送货", by="li"))
    assert [(r, b) for r, b, _ in asked] == [("送货", "li")] and len(client.mqtt.replies) == 1  # not yet answered
    asked[0][2](None)  # the loop could not record it (store down): answered as not done
    assert client.mqtt.replies[-1] == ("c2", False, "store unavailable")
    # A reload with the hub unreachable is answered as failed, with why.
    client.run_command(topics.CommandMessage(command="reload", id="c3"))
    assert client.mqtt.replies[-1][:2] == ("c3", False) and "unreachable" in client.mqtt.replies[-1][2]
    store.close()


@pytest.mark.slow
def test_guard_mode_refers_whom_the_rules_would_admit_and_keeps_the_barrier_shut(tmp_path: Path) -> None:
    import segno

    from tests.agent_gate_helpers import start_simulation

    sim = start_simulation(tmp_path)
    try:
        sim.gate.loop.guard_mode = True
        person = sim.factory.person("green")
        png = tmp_path / "phone.png"
        segno.make_qr(person.code, error="m").save(png, scale=4, border=4)
        sim.gate.devices.thermometer_simulator.set_temperature(36.4)
        sim.gate.devices.camera.present_image(png, 1.0)
        event = sim.events.get(timeout=10)
        assert event.decision == "refer" and event.reasons[-1].rule == "GATE-GUARD-01"
        assert all(state != "open" for _, state, _ in sim.gate.devices.barrier.changes)
        assert sim.gate.loop.figures().guard_mode is True
    finally:
        sim.close()
