"""The agent's TOML config: valid files load, mistakes are reported with their key paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.cli import agent
from agent.config import error_lines, load_config
from hardware.barrier.simulated import SimulatedBarrierConfig
from hardware.thermometer.simulated_serial import SimulatedSerialThermometerConfig
from protocols.errors import ConfigError

ENV = {"CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_GUARD_PIN": "2468",
       "CHECKPOINT_DEVICE_SECRET": "s3cret-device-secret-from-enrollment"}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "agent.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_config_loads_and_resolves_paths_against_its_folder():
    cfg = load_config(EXAMPLE, ENV)
    assert cfg.gate.venue and cfg.gate.gate
    assert cfg.store.path.is_absolute()
    assert cfg.subject_key == bytes.fromhex(ENV["CHECKPOINT_SUBJECT_KEY"])
    assert cfg.guard_pin == "2468"


def test_minimal_config_gets_simulated_devices_by_default(tmp_path):
    cfg = load_config(write(tmp_path, '[gate]\nvenue = "v"\ngate = "g"\n'), ENV)
    assert isinstance(cfg.barrier, SimulatedBarrierConfig)
    assert cfg.barrier.fail_mode == "secure"  # fail-secure unless configured otherwise
    assert isinstance(cfg.thermometer, SimulatedSerialThermometerConfig)
    assert cfg.store.path == tmp_path / "var" / "agent.sqlite"


def test_each_error_is_reported_with_its_key_path(tmp_path):
    text = (
        '[gate]\nvenue = "v"\ngate = "g"\nretention_days = 0\n'
        '[thermometer]\ntype = "serial"\nport = "/dev/ttyUSB0"\nwire_format = "morse"\nbaud = 9600\n'
    )
    with pytest.raises(ValidationError) as info:
        load_config(write(tmp_path, text), ENV)
    lines = error_lines(info.value)
    assert any(l.startswith("gate.retention_days:") for l in lines)
    assert any(l.startswith("thermometer.serial.wire_format:") for l in lines)
    assert any(l.startswith("thermometer.serial.baud:") and "Extra" in l for l in lines)


def test_secrets_cannot_be_written_in_the_file(tmp_path):
    text = '_subject_key = "abc"\n[gate]\nvenue = "v"\ngate = "g"\n'
    with pytest.raises(ValidationError):
        load_config(write(tmp_path, text), ENV)


def test_missing_or_short_subject_key_is_a_config_error(tmp_path):
    path = write(tmp_path, '[gate]\nvenue = "v"\ngate = "g"\n')
    with pytest.raises(ConfigError, match="CHECKPOINT_SUBJECT_KEY"):
        load_config(path, {})
    with pytest.raises(ConfigError, match="too short"):
        load_config(path, {"CHECKPOINT_SUBJECT_KEY": "short"})
    passphrase = load_config(path, {"CHECKPOINT_SUBJECT_KEY": "a long venue passphrase"})
    assert len(passphrase.subject_key) == 32


def test_bad_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[gate\n"), ENV)


def test_validate_config_cli_prints_key_paths_and_fails(tmp_path):
    path = write(tmp_path, '[gate]\nvenue = "v"\n[barrier]\ntype = "gpio"\n')
    result = CliRunner().invoke(agent, ["validate-config", str(path)], env=ENV)
    assert result.exit_code == 2  # a bad input file, as for run and simulate
    assert "gate.gate: Field required" in result.output
    assert "barrier.gpio.relay_pin: Field required" in result.output


def test_validate_config_cli_accepts_the_example():
    result = CliRunner().invoke(agent, ["validate-config", str(EXAMPLE)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_sync_needs_the_device_secret_from_the_environment(tmp_path):
    path = write(tmp_path, '[gate]\nvenue = "v"\ngate = "g"\n[sync]\nhub_url = "http://hub:8080"\ndevice_id = "d1"\n')
    cfg = load_config(path, ENV)
    assert cfg.device_secret == ENV["CHECKPOINT_DEVICE_SECRET"]
    assert cfg.sync.documents_dir == tmp_path / "documents"
    with pytest.raises(ConfigError, match="CHECKPOINT_DEVICE_SECRET"):
        load_config(path, {"CHECKPOINT_SUBJECT_KEY": ENV["CHECKPOINT_SUBJECT_KEY"]})


def test_the_example_config_builds_the_real_drivers_without_opening_them():
    from agent.devices import build_devices
    from hardware.barrier.gpio_relay import GpioBarrier
    from hardware.camera.opencv_capture import OpenCVCamera
    from hardware.speaker.voice_and_buzzer import VoiceAndBuzzer
    from hardware.thermometer.serial_line import SerialThermometer

    devices = build_devices(load_config(EXAMPLE, ENV))
    assert isinstance(devices.camera, OpenCVCamera) and isinstance(devices.thermometer, SerialThermometer)
    assert isinstance(devices.barrier, GpioBarrier) and isinstance(devices.speaker, VoiceAndBuzzer)
    assert devices.barrier.settings.fail_mode == "secure"
