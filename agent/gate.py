"""One gate assembled from its config: store, devices, rules, trust list and the decision loop."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.config import AgentConfig
from agent.decider import Decider
from agent.decode import decode_frame
from agent.devices import Devices, build_devices
from agent.loop import GateLoop, LoopSettings, ManualRequest, MaskSensor
from agent.store import AgentStore
from hardware.display.base import Display
from protocols.credential import Verification
from protocols.errors import ConfigError
from protocols.events import GateEvent
from protocols.trustlist import TrustList
from protocols.verify import verify_code

log = logging.getLogger(__name__)


def load_trust(cfg: AgentConfig) -> TrustList:
    """The signed trust list the config names, checked against the root key; ConfigError if none."""
    if cfg.rules.trust_list is None:
        raise ConfigError("rules.trust_list is not set: a gate cannot verify codes without one")
    return TrustList.load(cfg.rules.trust_list, cfg.rules.root_public_key)


def load_decider(cfg: AgentConfig) -> Decider:
    """The signed rule bundle the config names, checked against the root key; ConfigError if none."""
    if cfg.rules.bundle is None or cfg.rules.root_public_key is None:
        raise ConfigError("rules.bundle and rules.root_public_key must be set: a gate decides by a signed bundle")
    return Decider.from_signed_file(cfg.rules.bundle, cfg.rules.root_public_key, cfg.rules.bundle_max_age_h)


def loop_settings(cfg: AgentConfig) -> LoopSettings:
    """The loop's timings from the config."""
    return LoopSettings(
        venue=cfg.gate.venue, gate=cfg.gate.gate, direction=cfg.gate.direction,
        dedupe_s=cfg.presentation.dedupe_s, anti_passback_s=cfg.presentation.anti_passback_s,
        max_age_s=cfg.measure.max_age_s, wait_s=cfg.measure.wait_s, rest_s=cfg.measure.rest_s,
        countdown_s=cfg.kiosk.countdown_s, open_s=cfg.gate.open_s,
        decode_every_n_frames=cfg.presentation.decode_every_n_frames,
    )


@dataclass
class Gate:
    """A running gate: call start(), then run() on this thread or run_in_thread(); close() at the end."""

    cfg: AgentConfig
    store: AgentStore
    devices: Devices
    loop: GateLoop

    def start(self) -> None:
        """Open the devices and purge records past the venue's retention."""
        self.store.purge(self.cfg.gate.retention_days)
        self.devices.open()

    def run(self, max_decisions: int | None = None) -> None:
        """Run the loop here until stop() (the barrier is left safe)."""
        self.loop.run(max_decisions)

    def run_in_thread(self) -> threading.Thread:
        """Run the loop on a named thread."""
        thread = threading.Thread(target=self.loop.run, name="gate-loop", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Ask the loop to stop."""
        self.loop.stop()

    def close(self) -> None:
        """Release every device (barrier safe first) and close the store."""
        self.devices.close()
        self.store.close()


def build_gate(cfg: AgentConfig, *, trust: TrustList | None = None, decider: Decider | None = None,
               on_event: Callable[[GateEvent], None] | None = None, mask: MaskSensor | None = None,
               extra_displays: list[Display] | None = None) -> Gate:
    """Assemble a gate; trust and decider default to the ones the config names."""
    trust = trust if trust is not None else load_trust(cfg)
    decider = decider or load_decider(cfg)
    max_age = cfg.rules.max_code_age_s
    store = AgentStore(cfg.store.path, cfg.subject_key)
    holder: dict[str, GateLoop] = {}

    def verify(text: str, at: dt.datetime) -> Verification:
        return verify_code(text, trust, at, max_age)

    def on_guard(decision: str, reason: str, operator: str) -> None:
        holder["loop"].manual_requests.put(ManualRequest(decision, reason, operator))

    devices = build_devices(cfg, on_guard, extra_displays)
    loop = GateLoop(loop_settings(cfg), devices, store, verify, decider, decode_frame, on_event,
                    mask or (lambda: True))
    holder["loop"] = loop
    return Gate(cfg, store, devices, loop)
