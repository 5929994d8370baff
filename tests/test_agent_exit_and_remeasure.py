"""What a person sees: an exit gate lets everybody out, a first high reading is an amber re-measure, a second the fever screen."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from agent.loop import ManualRequest
from agent.simulation import Simulation
from hardware.display.simulated import RecordingDisplay
from protocols.events import GateEvent
from server.store import effect
from tests.agent_gate_helpers import gate_config
from tests.conftest import wait_until


@pytest.fixture
def exit_gate(tmp_path):
    display = RecordingDisplay()
    sim = Simulation(gate_config(tmp_path, gate={"direction": "out"}), seed=3, extra_displays=[display])
    yield sim, display
    sim.close()


@pytest.fixture
def entry_gate(tmp_path):
    display = RecordingDisplay()
    sim = Simulation(gate_config(tmp_path, measure={"rest_s": 1.5}), seed=4, extra_displays=[display])
    yield sim, display
    sim.close()


@pytest.mark.slow
def test_an_exit_lets_out_people_an_entry_would_refuse_and_records_who_left(exit_gate):
    sim, display = exit_gate
    barrier = sim.gate.devices.barrier
    for kind, celsius in (("fever", 39.0), ("red", None), ("expired", None), ("screenshot", None), ("no_mask", None)):
        person = sim.factory.person(kind)
        event = sim.present(person, celsius)
        assert event is not None, kind
        assert (event.kind, event.decision, event.direction) == ("exit", "admit", "out"), (kind, event.reasons)
        assert event.celsius is None and len(event.subject) == 32 and event.subject not in person.code
        assert [r.outcome for r in event.reasons] == ["PASS"]
        assert effect(event) == -1  # the hub counts it as one person out
        wait_until(lambda: display.current is not None and display.current.title_zh == "再见", what="goodbye")
        assert display.current.state == "admit" and display.current.title_en == "Goodbye"
        wait_until(lambda: barrier.state == "locked", what="the pulse to end")
    opened = [c for c in barrier.changes if c[1] == "open"]
    assert len(opened) == 5
    said = sim.gate.devices.speaker.said
    assert said[-1][1].startswith("再见") and said[-1][2].startswith("Goodbye")
    assert all(e.kind == "exit" for e in sim.gate.store.events())


@pytest.mark.slow
def test_an_unreadable_code_at_an_exit_calls_the_guard_who_opens(exit_gate):
    sim, display = exit_gate
    barrier = sim.gate.devices.barrier
    for kind in ("forged", "not_a_code"):
        event = sim.present(sim.factory.person(kind))
        assert (event.kind, event.decision, event.direction) == ("decision", "refer", "out"), kind
        assert event.subject is None and event.note.startswith("exit code: ")
        assert display.current.state == "refer"
        assert (display.current.title_zh, display.current.title_en) == ("请联系值班人员", "Please ask the guard")
        assert effect(event) == 0  # nobody has left yet: the guard's opening is the exit
    assert barrier.states() == ["locked"]
    sim.gate.loop.manual_requests.put(ManualRequest("admit", "无法扫码，人工放行 code unreadable", "guard-2"))
    manual = sim.events.get(timeout=5)
    assert (manual.kind, manual.decision, manual.direction) == ("manual", "admit", "out")
    assert effect(manual) == -1
    wait_until(lambda: "open" in barrier.states(), what="the guard's opening")


@pytest.mark.slow
def test_a_first_high_reading_is_an_amber_remeasure_and_the_second_the_fever_screen(entry_gate, tmp_path):
    sim, display = entry_gate
    person = sim.factory.person("fever")
    first = sim.present(person)
    # A re-measure prompt, not a denial (the hub lists and counts it apart); nobody passes on it.
    assert (first.kind, first.decision) == ("remeasure", "deny") and first.celsius == 38.2
    assert [r.rule for r in first.reasons if r.outcome == "FAIL"] == ["GATE-TEMP-01"]
    screen = display.current
    assert screen.state == "remeasure" and (screen.title_zh, screen.title_en) == ("请稍候复测", "Please rest, then measure again")
    assert screen.countdown_s == 2  # the rest period (1.5 s), rounded by the display interface
    kiosk = json.loads((tmp_path / "screens.jsonl").read_text().splitlines()[-1])
    assert kiosk["state"] == "remeasure" and kiosk["celsius"] == 38.2 and kiosk["countdown_s"] == 1.5
    said = sim.gate.devices.speaker.said[-1]
    assert said[1].startswith("请稍候复测") and said[2].startswith("Please rest, then measure again")
    assert sim.gate.devices.barrier.states() == ["locked"]

    sim.gate.loop.dedupe.forget(person.code)
    wait_until(lambda: display.current.state == "idle", timeout=20, what="the prompt again")
    time.sleep(1.6)  # the rest
    second = sim.present(person, 38.0)
    assert second.kind == "fever" and "GATE-TEMP-02" in {r.rule for r in second.reasons}
    screen = display.current
    assert screen.state == "fever"
    assert (screen.title_zh, screen.title_en) == ("体温异常，请前往发热门诊", "Abnormal temperature: please go to the fever clinic")
    assert sim.gate.devices.speaker.said[-1][1].startswith("体温异常")
    assert sim.gate.devices.barrier.states() == ["locked"]


@pytest.mark.slow
def test_a_high_reading_with_another_refusal_is_a_plain_refusal(entry_gate):
    sim, display = entry_gate
    event = sim.present(sim.factory.person("red"), 38.4)
    assert (event.kind, event.decision) == ("decision", "deny")
    assert {"GATE-COLOUR-01", "GATE-TEMP-01"} <= {r.rule for r in event.reasons}
    assert display.current.state == "deny" and display.current.title_zh == "禁止通行"


def test_the_hub_counts_a_refusal_or_a_referral_at_an_exit_as_nobody_leaving() -> None:
    base = {"id": "0" * 26, "venue": "v", "gate": "exit-1", "at": dt.datetime.now(dt.timezone.utc), "direction": "out"}
    assert effect(GateEvent(kind="decision", decision="refer", **base)) == 0
    assert effect(GateEvent(kind="decision", decision="deny", **base)) == 0
    assert effect(GateEvent(kind="exit", decision="admit", **base)) == -1
