"""Shared by the agent's end-to-end tests: a simulated gate built the way `checkpoint agent simulate` builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.config import parse_config
from agent.simulation import Simulation

ENV = {"CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_GUARD_PIN": "2468",
       "CHECKPOINT_DEVICE_SECRET": "device-secret-for-the-tests-only"}


def gate_config(tmp_path: Path, **sections: dict[str, Any]):
    """A config with every device simulated, fast timings, journals in tmp_path; sections override."""
    data: dict[str, Any] = {
        "gate": {"venue": "factory-1", "gate": "north-1", "open_s": 0.3},
        "store": {"path": str(tmp_path / "agent.sqlite")},
        "camera": {"type": "simulated", "fps": 30, "seed": 7},
        "thermometer": {"type": "simulated", "interval_s": 0.05},
        "barrier": {"type": "simulated", "journal": str(tmp_path / "relay.jsonl")},
        "speaker": {"type": "recording"},
        "kiosk": {"port": 0, "countdown_s": 0.3, "journal": str(tmp_path / "screens.jsonl")},
        "measure": {"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0},
        "presentation": {"dedupe_s": 0.5, "anti_passback_s": 60},
    }
    for name, values in sections.items():
        same_type = values.get("type", data.get(name, {}).get("type")) == data.get(name, {}).get("type")
        data[name] = {**data.get(name, {}), **values} if same_type else dict(values)
    return parse_config(data, ENV)


def start_simulation(tmp_path: Path, seed: int = 1, **sections: dict[str, Any]) -> Simulation:
    """A running simulated gate."""
    return Simulation(gate_config(tmp_path, **sections), seed=seed)
