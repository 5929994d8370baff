"""The serial thermometer driver reading REAL bytes from the pty simulator: both wire formats,
noise, unplugging, staleness, range flags and calibration."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from hardware.thermometer.base import Reading
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig
from hardware.thermometer.simulated_serial import PtyThermometerSimulator
from protocols.errors import DeviceError
from tests.conftest import wait_until


@pytest.fixture
def rig(tmp_path: Path):
    """Start a simulator and a driver on its link; both are stopped after the test."""
    made: list = []

    def start(wire_format: str = "ascii", sim_kwargs: dict | None = None, **config) -> tuple:
        link = tmp_path / f"ttyIR{len(made)}"
        sim = PtyThermometerSimulator(link, wire_format=wire_format, interval_s=0.05, seed=7,
                                      **(sim_kwargs or {})).start()
        thermo = SerialThermometer(SerialThermometerConfig(port=str(link), wire_format=wire_format,
                                                           retry_delay_s=0.05, max_backoff_s=0.2, **config))
        made.append((sim, thermo))
        thermo.open()
        return sim, thermo

    yield start
    for sim, thermo in made:
        thermo.close()
        sim.stop()


@pytest.mark.parametrize("wire_format, expected_raw", [("ascii", b"T=36.6\r\n"),
                                                       ("binary", bytes.fromhex("6666 01 04 0E4C 0992 C6"))])
def test_readings_travel_through_a_real_pty(rig, wire_format, expected_raw):
    sim, thermo = rig(wire_format)
    assert wait_until(lambda: thermo.latest() is not None)
    reading = thermo.latest()
    assert thermo.connected
    assert reading.celsius == 36.6 and reading.plausible and reading.raw == expected_raw
    assert reading.at_wallclock.tzinfo is not None


@pytest.mark.slow
@pytest.mark.parametrize("wire_format", ["ascii", "binary"])
def test_garbage_and_dropped_bytes_never_yield_a_wrong_plausible_reading(rig, wire_format):
    sim, thermo = rig(wire_format, {"garbage_rate": 0.5, "drop_rate": 0.03, "celsius": 36.4})
    seen: list[Reading] = []
    thermo.add_listener(seen.append)
    assert wait_until(lambda: len(seen) >= 15, timeout=10)
    plausible = [r.celsius for r in seen if r.plausible]
    assert plausible and set(plausible) == {36.4}
    assert thermo.stats.garbage_bytes + thermo.stats.rejected_lines > 0 and sim.bytes_dropped > 0
    if wire_format == "binary":
        # A checksummed frame never lets a damaged reading through, plausible or not.
        assert {r.celsius for r in seen} == {36.4}
        assert thermo.stats.bad_checksums > 0


def test_unplugging_reports_disconnected_goes_stale_and_recovers_after_replug(rig):
    sim, thermo = rig("binary")
    assert wait_until(lambda: thermo.latest() is not None)
    sim.unplug()
    assert wait_until(lambda: not thermo.connected)
    assert wait_until(lambda: thermo.latest(max_age_s=0.3) is None)
    assert thermo.last_reading() is not None  # kept for status pages, never offered as fresh
    sim.set_temperature(37.9)
    sim.replug()
    assert wait_until(lambda: thermo.connected)
    assert wait_until(lambda: (r := thermo.latest(0.5)) is not None and r.celsius == 37.9)


def test_a_silent_thermometer_reading_goes_stale_while_still_connected(rig):
    sim, thermo = rig("ascii", {"celsius": 36.8})
    assert wait_until(lambda: thermo.latest() is not None)
    sim.interval_s = 60  # the device stops talking after its next reading
    time.sleep(0.1)
    assert wait_until(lambda: thermo.latest(max_age_s=0.3) is None)
    assert thermo.connected and thermo.last_reading().celsius == 36.8


@pytest.mark.slow
# The device flags readings outside the band the gate decides with (protocols/readings.py: 34.0-42.5 C).
@pytest.mark.parametrize("celsius, plausible", [(28.0, False), (33.9, False), (34.0, True), (36.5, True),
                                                (42.5, True), (42.6, False), (-3.0, False)])
def test_readings_outside_the_plausible_band_are_flagged(rig, celsius, plausible):
    sim, thermo = rig("binary", {"celsius": celsius})
    assert wait_until(lambda: thermo.latest() is not None)
    reading = thermo.latest()
    assert reading.celsius == celsius
    assert reading.plausible is plausible and reading.out_of_range is (not plausible)


def test_calibration_offset_is_added_to_every_reading(rig):
    sim, thermo = rig("ascii", {"celsius": 36.2}, calibration_offset_c=0.4)
    assert wait_until(lambda: thermo.latest() is not None)
    assert thermo.latest().celsius == 36.6


def test_ambient_compensation_uses_the_mlx90614_frames_ambient(rig):
    # 36.0 °C skin, 24.5 °C ambient in the frame: 36.0 + 0.1 * (36.0 - 24.5) = 37.15, then the offset.
    sim, thermo = rig("binary", {"celsius": 36.0}, ambient_compensation_k=0.1, calibration_offset_c=0.05)
    assert wait_until(lambda: thermo.latest() is not None)
    assert thermo.latest().celsius == pytest.approx(37.2)


def test_ambient_compensation_without_the_binary_frame_is_a_config_error_naming_the_key():
    with pytest.raises(ValidationError) as exc:
        SerialThermometerConfig(port="/dev/null", wire_format="ascii", ambient_compensation_k=0.1)
    assert "thermometer.ambient_compensation_k" in str(exc.value)


def test_custom_line_pattern_from_config(rig):
    sim, thermo = rig("ascii", {"ascii_template": "Obj: {celsius:.2f} C\r\n", "celsius": 37.15},
                      pattern=r"Obj:\s*(?P<celsius>\d+\.\d+)\s*C")
    assert wait_until(lambda: thermo.latest() is not None)
    assert thermo.latest().celsius == 37.15


def test_a_pattern_without_a_group_is_a_config_error():
    with pytest.raises(ValidationError, match="group"):
        SerialThermometerConfig(port="/dev/ttyUSB0", pattern=r"T=\d+")
    with pytest.raises(ValidationError):
        SerialThermometerConfig(port="/dev/ttyUSB0", baud=9600)  # a typo is refused, not ignored


def test_opening_a_missing_port_fails_after_bounded_retries(tmp_path):
    thermo = SerialThermometer(SerialThermometerConfig(port=str(tmp_path / "nothing"), open_attempts=2,
                                                       retry_delay_s=0.01))
    with pytest.raises(DeviceError, match="2 attempts"):
        thermo.open()
    assert not thermo.connected


def test_reader_runs_on_a_named_thread_and_close_is_idempotent(rig):
    sim, thermo = rig("ascii")
    assert any(t.name == "thermometer-serial-reader" for t in threading.enumerate())
    thermo.close()
    thermo.close()
    assert not thermo.connected
    assert not any(t.name == "thermometer-serial-reader" for t in threading.enumerate())
