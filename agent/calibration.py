"""Thermometer calibration against reference readings: fit offset (one point) or gain and offset (two),
write them into the gate's TOML (comments kept, by tomlkit) and append an audit line beside it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import tomlkit

from hardware.thermometer.base import ThermometerSettings
from protocols.clock import utc_text, utc_now
from protocols.errors import ConfigError

AUDIT_FILE = "thermometer-calibration.jsonl"  # beside the config: who calibrated, against what, from what to what


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: calibrated = measured * gain + offset_c."""

    offset_c: float
    gain: float


def fit(points: list[tuple[float, float]], current: Calibration) -> Calibration:
    """From (reference, shown) pairs, `shown` read with the `current` calibration, the calibration that shows the references.

    One pair moves the offset only; two fit the gain too. Raises ConfigError naming the key out of bounds."""
    if not 1 <= len(points) <= 2:
        raise ConfigError("give one or two reference readings")
    # Undo the current calibration: what the sensor itself said.
    raw = [((shown - current.offset_c) / current.gain, ref) for ref, shown in points]
    if len(raw) == 1:
        gain = current.gain
    else:
        (m1, r1), (m2, r2) = raw
        if abs(m2 - m1) < 0.5:
            raise ConfigError("the two reference readings must be at least 0.5 °C apart to fit a gain")
        gain = (r2 - r1) / (m2 - m1)
    offset = raw[0][1] - raw[0][0] * gain
    bounds = ThermometerSettings.model_fields
    for key, value in (("calibration_gain", gain), ("calibration_offset_c", offset)):
        meta = {type(m).__name__: m for m in bounds[key].metadata}
        low, high = meta["Ge"].ge, meta["Le"].le
        if not low <= value <= high:
            raise ConfigError(f"thermometer.{key} would be {value:.3f}, outside {low}..{high}: "
                              "check the reference and the sensor before calibrating")
    return Calibration(round(offset, 3), round(gain, 4))


def write(config_file: Path, new: Calibration, old: Calibration, points: list[tuple[float, float]],
          operator: str) -> Path:
    """Set [thermometer] calibration keys in the TOML file (atomically) and append the audit line; the audit file."""
    try:
        doc = tomlkit.parse(config_file.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ConfigError(f"{config_file}: {exc}") from exc
    section = doc.get("thermometer")
    if section is None:
        raise ConfigError(f"{config_file}: no [thermometer] section to calibrate")
    section["calibration_offset_c"] = new.offset_c
    if len(points) == 2 or "calibration_gain" in section:
        section["calibration_gain"] = new.gain
    tmp = config_file.with_suffix(config_file.suffix + ".tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(config_file)  # a crash leaves the old file or the new, never half of one
    audit = config_file.parent / AUDIT_FILE
    line = {"at": utc_text(utc_now()), "operator": operator, "config": str(config_file),
            "points": [{"reference_c": r, "shown_c": s} for r, s in points], "from": asdict(old), "to": asdict(new)}
    with open(audit, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return audit
