"""`checkpoint agent calibrate-thermometer`: offset from one reference reading (read from the real driver on a
pty), gain and offset from two, written into the TOML with its comments kept and an audit line beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import agent
from agent.config import AgentConfig, read_toml

CONFIG = """# the north gate
[gate]
venue = "v"
gate = "north"

[store]
path = "agent.sqlite"

[thermometer]
type = "simulated"  # the real serial driver on a pty
interval_s = 0.05
calibration_offset_c = -0.5  # set by hand last winter
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.mark.slow  # reads the simulated sensor for a second
def test_one_reference_reading_sets_the_offset_from_what_the_sensor_shows(tmp_path: Path) -> None:
    path = _config(tmp_path)
    # The simulated sensor sees 36.6 °C; with -0.5 the gate shows 36.1 for a reference that reads 36.8.
    result = CliRunner().invoke(agent, ["calibrate-thermometer", str(path), "--reference", "36.8", "--seconds", "1",
                                        "--operator", "li"])
    assert result.exit_code == 0, result.output
    cfg = AgentConfig.model_validate(read_toml(path))
    assert cfg.thermometer.calibration_offset_c == pytest.approx(0.2, abs=0.02)
    assert "# set by hand last winter" in path.read_text() and "# the north gate" in path.read_text()
    [line] = (tmp_path / "thermometer-calibration.jsonl").read_text().splitlines()
    audit = json.loads(line)
    assert audit["operator"] == "li" and audit["from"]["offset_c"] == -0.5 and audit["points"][0]["reference_c"] == 36.8


def test_two_reference_readings_fit_gain_and_offset(tmp_path: Path) -> None:
    path = _config(tmp_path)
    # The gate showed 35.5 and 38.5 (with its -0.5) for references of 36.0 and 39.3.
    result = CliRunner().invoke(agent, ["calibrate-thermometer", str(path), "--reference", "36.0", "--measured", "35.5",
                                        "--reference", "39.3", "--measured", "38.5", "--operator", "li"])
    assert result.exit_code == 0, result.output
    t = AgentConfig.model_validate(read_toml(path)).thermometer
    for raw, reference in ((36.0, 36.0), (39.0, 39.3)):  # the sensor's own values, before any calibration
        assert raw * t.calibration_gain + t.calibration_offset_c == pytest.approx(reference, abs=0.01)


def test_a_calibration_out_of_bounds_is_refused_naming_the_key_and_the_file_is_unchanged(tmp_path: Path) -> None:
    path = _config(tmp_path)
    result = CliRunner().invoke(agent, ["calibrate-thermometer", str(path), "--reference", "36.8", "--measured", "28.0",
                                        "--operator", "li"])
    assert result.exit_code == 1 and "thermometer.calibration_offset_c" in result.output, result.output
    assert "Traceback" not in result.output and path.read_text() == CONFIG
    assert not (tmp_path / "thermometer-calibration.jsonl").exists()


def test_every_driver_applies_gain_then_offset() -> None:
    from hardware.thermometer.base import Thermometer, ThermometerSettings

    class Bench(Thermometer):
        def open(self) -> None: ...
        def close(self) -> None: ...

    bench = Bench(ThermometerSettings(calibration_offset_c=0.3, calibration_gain=1.1), "bench")
    assert bench._record(33.0, b"").celsius == pytest.approx(36.6)
