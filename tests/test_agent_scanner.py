"""A gate fed by QR scanner modules: a pty UART scanner and a uinput wedge, through the camera's presentation logic."""

from __future__ import annotations

import queue
import time

import pytest

from hardware.scanner.simulated import PtyScannerSimulator, uinput_missing_reason
from tests.agent_gate_helpers import start_simulation
from tests.conftest import wait_until
from tests.test_agent_store_fault import fill, small_disk  # noqa: F401 (small_disk is a fixture)


def present_by_scanner(sim, scan, person):
    """The person's temperature on the thermometer, then their code read by the scanner; the decision."""
    sim.gate.devices.thermometer_simulator.set_temperature(person.celsius)
    time.sleep(2.5 * sim.cfg.thermometer.interval_s)
    scan(person.code)
    return sim.events.get(timeout=10)


@pytest.mark.slow
def test_a_pty_uart_scanner_feeds_the_gate_admit_deny_and_one_decision_per_presentation(tmp_path):
    with PtyScannerSimulator(tmp_path / "ttySCAN", "CRLF") as uart:
        sim = start_simulation(tmp_path, scanner={"type": "serial", "port": str(uart.link), "terminator": "CRLF"})
        try:
            green = sim.factory.person("green")
            admitted = present_by_scanner(sim, uart.scan, green)
            assert admitted.decision == "admit" and admitted.colour == "green"
            # The module reads the phone again at once: the same presentation, no second decision.
            uart.scan(green.code)
            with pytest.raises(queue.Empty):
                sim.events.get(timeout=0.3)
            # Garbage on the line between people decides nobody and stops nothing.
            uart.write_raw(b"\xff\xfe\x00\x80\r\n")
            forged = present_by_scanner(sim, uart.scan, sim.factory.person("forged"))
            assert forged.decision == "deny" and "GATE-CODE-01" in {r.rule for r in forged.reasons}
            assert forged.note == "code: bad_signature"
            assert sim.gate.store.count() == 2 and sim.gate.devices.scanner.lines_dropped == 1
        finally:
            sim.close()


@pytest.mark.slow
@pytest.mark.skipif(uinput_missing_reason() is not None, reason=str(uinput_missing_reason()))
def test_a_uinput_wedge_scanner_feeds_the_gate_admit_and_deny(tmp_path):
    sim = start_simulation(tmp_path, scanner={"type": "simulated-hid"})
    try:
        scanner = sim.gate.devices.scanner
        admitted = present_by_scanner(sim, scanner.present, sim.factory.person("green"))
        assert admitted.decision == "admit"
        denied = present_by_scanner(sim, scanner.present, sim.factory.person("red"))
        assert denied.decision == "deny" and "GATE-COLOUR-01" in {r.rule for r in denied.reasons}
    finally:
        sim.close()


def test_a_scanner_section_without_its_device_names_the_key(tmp_path):
    from pydantic import ValidationError

    from agent.config import error_lines
    from tests.agent_gate_helpers import gate_config

    with pytest.raises(ValidationError) as exc:
        gate_config(tmp_path, scanner={"type": "evdev"})
    assert error_lines(exc.value) == ["scanner.evdev.device: Field required"]
    assert gate_config(tmp_path).scanner is None  # no [scanner]: the camera alone, as before


@pytest.mark.slow
def test_a_scanner_plugged_in_after_the_gate_started_is_opened_and_read(tmp_path):
    link = tmp_path / "ttySCAN"
    sim = start_simulation(tmp_path, scanner={"type": "serial", "port": str(link), "open_attempts": 1})
    try:
        with PtyScannerSimulator(link, "CR") as uart:
            scanner = sim.gate.devices.scanner
            deadline = time.monotonic() + 10
            while not scanner._reader.running and time.monotonic() < deadline:  # the background opener's work
                time.sleep(0.05)
            admitted = present_by_scanner(sim, uart.scan, sim.factory.person("green"))
            assert admitted.decision == "admit"
    finally:
        sim.close()


def test_a_gate_with_neither_camera_nor_scanner_is_refused_naming_both_keys(tmp_path):
    from pydantic import ValidationError

    from agent.config import error_lines
    from tests.agent_gate_helpers import gate_config

    with pytest.raises(ValidationError) as exc:
        gate_config(tmp_path, camera={"type": "off"})
    assert 'camera.type = "off" needs a [scanner] section' in error_lines(exc.value)[0]
    assert gate_config(tmp_path, camera={"type": "off"}, scanner={"type": "simulated"}).camera.type == "off"


@pytest.mark.slow
def test_a_scanner_only_gate_without_a_camera_decides_by_the_scanner(tmp_path):
    sim = start_simulation(tmp_path, camera={"type": "off"}, scanner={"type": "simulated", "terminator": "LF"})
    try:
        scanner = sim.gate.devices.scanner
        admitted = present_by_scanner(sim, scanner.present, sim.factory.person("green"))
        assert admitted.decision == "admit"
        denied = present_by_scanner(sim, scanner.present, sim.factory.person("expired"))
        assert denied.decision == "deny" and "GATE-CODE-02" in {r.rule for r in denied.reasons}
    finally:
        sim.close()


@pytest.mark.slow
def test_a_code_scanned_while_the_store_is_down_is_not_decided_once_it_is_back(tmp_path, small_disk):
    sim = start_simulation(tmp_path, store={"path": str(small_disk / "agent.sqlite")}, scanner={"type": "simulated"})
    try:
        scanner = sim.gate.devices.scanner
        assert present_by_scanner(sim, scanner.present, sim.factory.person("green")).decision == "admit"
        filler = fill(small_disk)
        scanner.present(sim.factory.person("green").code)  # this one finds the store full: the gate closes
        wait_until(lambda: sim.gate.loop._store_fault is not None, what="the store fault")
        scanner.present(sim.factory.person("green").code)  # scanned while closed: that person is told so, and goes
        time.sleep(0.3)
        filler.unlink()
        assert sim.events.get(timeout=10).kind == "alarm"
        with pytest.raises(queue.Empty):
            sim.events.get(timeout=1.0)
        assert sim.gate.store.count() == 2  # the first admit and the alarm
    finally:
        sim.close()
