"""`checkpoint hardware`: on-site checks run against the simulators and gpiozero's mock pins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from click.testing import CliRunner
from gpiozero import Device
import pytest

from hardware.cli import hardware
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig
from hardware.thermometer.simulated_serial import PtyThermometerSimulator
from checkpoint.cli import main


@pytest.mark.slow
def test_thermometer_check_prints_readings_from_a_real_pty(tmp_path: Path):
    link = tmp_path / "ttyIR"
    with PtyThermometerSimulator(link, wire_format="binary", celsius=37.4, interval_s=0.05):
        result = CliRunner().invoke(main, ["hardware", "thermometer", str(link), "--wire-format", "binary",
                                           "--seconds", "0.5"])
    assert result.exit_code == 0, result.output
    assert "37.40 °C ok" in result.output and "raw=66 66 01 04" in result.output
    assert "bad_checksums=0" in result.output


@pytest.mark.slow
def test_thermometer_check_fails_clearly_on_a_missing_port(tmp_path: Path):
    result = CliRunner().invoke(hardware, ["thermometer", str(tmp_path / "none"), "--seconds", "0.1"])
    assert result.exit_code == 1
    assert "device_error" in result.output and "Traceback" not in result.output


def test_thermometer_check_with_the_wrong_format_says_no_reading(tmp_path: Path):
    link = tmp_path / "ttyIR"
    with PtyThermometerSimulator(link, wire_format="binary", interval_s=0.05):
        result = CliRunner().invoke(hardware, ["thermometer", str(link), "--seconds", "0.4"])
    assert result.exit_code == 1 and "--wire-format" in result.output


@pytest.mark.slow
def test_simulate_thermometer_feeds_a_real_driver(tmp_path: Path):
    link = tmp_path / "ttySIM"
    seen = []
    runner = threading.Thread(target=lambda: seen.append(CliRunner().invoke(
        hardware, ["simulate-thermometer", str(link), "--celsius", "36.9", "--interval", "0.05", "--seconds", "1.5"])))
    runner.start()
    deadline = time.monotonic() + 5
    while not link.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    with SerialThermometer(SerialThermometerConfig(port=str(link))) as thermo:
        while thermo.latest() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert thermo.latest().celsius == 36.9
    runner.join()
    assert seen[0].exit_code == 0 and "sent " in seen[0].output


def test_relay_check_pulses_then_leaves_the_relay_safe(pins):
    result = CliRunner().invoke(hardware, ["relay", "17", "--seconds", "0.1"])
    assert result.exit_code == 0, result.output
    assert "relay coil on" in result.output and "locked (relay coil off)" in result.output
    assert [s.state for s in Device.pin_factory.pin(17).states][-1] is False


def test_say_renders_both_languages_to_wav(tmp_path: Path):
    result = CliRunner().invoke(hardware, ["say", "请通行", "Please enter", "--wav", str(tmp_path / "msg.wav")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "msg-zh.wav").stat().st_size > 1000 and (tmp_path / "msg-en.wav").stat().st_size > 1000


def test_camera_check_reads_a_video_file_and_saves_a_snapshot(tmp_path: Path):
    video = tmp_path / "gate.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (320, 240))
    for i in range(10):
        writer.write(np.full((240, 320, 3), 20 * i, dtype=np.uint8))
    writer.release()
    snap = tmp_path / "snap.png"
    result = CliRunner().invoke(hardware, ["camera", str(video), "--seconds", "1", "--snapshot", str(snap)])
    assert result.exit_code == 0, result.output
    assert "320x240" in result.output and cv2.imread(str(snap)).shape == (240, 320, 3)


@pytest.mark.slow
def test_camera_check_fails_clearly_without_a_source(tmp_path: Path):
    result = CliRunner().invoke(hardware, ["camera", str(tmp_path / "none.avi"), "--seconds", "0.2"])
    assert result.exit_code == 1 and "device_error" in result.output


def test_say_speaks_and_waits_until_done():
    # No sound card here: espeak-ng still runs to the end; the command returns after it.
    result = CliRunner().invoke(hardware, ["say", "请通行", "Please enter"])
    assert result.exit_code == 0, result.output
