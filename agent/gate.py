"""One gate assembled from its config: store, devices, rules, trust list and the decision loop."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.decider import Decider
from agent.decode import decode_frame
from agent.devices import Devices, build_devices
from agent.loop import GateLoop, LoopSettings, ManualRequest, MaskSensor
from agent.store import AgentStore
from hardware.display.base import Display
from protocols.credential import Verification
from protocols.bundle import verify_bundle
from protocols.errors import BundleError, ConfigError, TrustListError
from protocols.keys import load_public_key
from protocols.events import GateEvent
from protocols.trustlist import TrustList
from protocols.verify import verify_code

log = logging.getLogger(__name__)


class TrustSource:
    """The trust list file, reloaded when the sync client replaces it; a bad new file keeps the old list."""

    def __init__(self, path: Path, root_public_key: Path | None):
        self.path = path
        self.root_public_key = root_public_key
        try:
            self.trust = TrustList.load(path, root_public_key)
        except TrustListError as exc:
            raise ConfigError(f"trust list {path}: {exc}") from exc
        self._mtime = path.stat().st_mtime

    def current(self) -> TrustList:
        """The trust list to verify with now."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            log.warning("trust list %s unreadable, keeping the loaded one: %s", self.path, exc)
            return self.trust
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.trust = TrustList.load(self.path, self.root_public_key)
                log.info("reloaded trust list %s", self.path)
            except TrustListError as exc:
                log.warning("new trust list refused, keeping the loaded one: %s", exc)
        return self.trust


def load_trust(cfg: AgentConfig) -> TrustSource:
    """The signed trust list the config names, checked against the root key; ConfigError if none."""
    if cfg.rules.trust_list is None:
        raise ConfigError("rules.trust_list is not set: a gate cannot verify codes without one")
    return TrustSource(cfg.rules.trust_list, cfg.rules.root_public_key)


def document_verifier(cfg: AgentConfig) -> Callable[[str, bytes], None]:
    """What the sync client runs on a fetched document before it replaces the running one."""
    root = load_public_key(cfg.rules.root_public_key) if cfg.rules.root_public_key else None

    def verify(kind: str, body: bytes) -> None:
        if root is None or kind not in ("bundle", "trustlist"):
            return
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise BundleError(f"{kind} is not JSON: {exc}") from exc
        if kind == "bundle":
            max_age = None if cfg.rules.bundle_max_age_h is None else dt.timedelta(hours=cfg.rules.bundle_max_age_h)
            verify_bundle(doc, root, dt.datetime.now(dt.timezone.utc), max_age)
        else:
            TrustList.from_document(doc, root)

    return verify


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
        decode_every_n_frames=cfg.presentation.decode_every_n_frames, retention_days=cfg.gate.retention_days,
    )


@dataclass
class Gate:
    """A running gate: call start(), then run() on this thread or run_in_thread(); close() at the end."""

    cfg: AgentConfig
    store: AgentStore
    devices: Devices
    loop: GateLoop
    sync: Any = None  # agent.sync.SyncClient when [sync] is configured

    def start(self) -> None:
        """Open the devices and purge records past the venue's retention."""
        self.store.purge(self.cfg.gate.retention_days)
        self.devices.open()
        if self.sync is not None:
            self.sync.start()

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
        """Release every device (barrier safe first), stop syncing, close the store."""
        self.devices.close()
        if self.sync is not None:
            self.sync.stop()
        self.store.close()


def build_gate(cfg: AgentConfig, *, trust: TrustList | None = None, decider: Decider | None = None,
               on_event: Callable[[GateEvent], None] | None = None, mask: MaskSensor | None = None,
               extra_displays: list[Display] | None = None) -> Gate:
    """Assemble a gate; trust and decider default to the ones the config names."""
    source = None if trust is not None else load_trust(cfg)
    decider = decider or load_decider(cfg)
    max_age = cfg.rules.max_code_age_s
    store = AgentStore(cfg.store.path, cfg.subject_key)
    holder: dict[str, GateLoop] = {}

    def verify(text: str, at: dt.datetime) -> Verification:
        return verify_code(text, source.current() if source is not None else trust, at, max_age)

    def on_guard(decision: str, reason: str, operator: str) -> None:
        holder["loop"].manual_requests.put(ManualRequest(decision, reason, operator))

    devices = build_devices(cfg, on_guard, extra_displays)
    loop = GateLoop(loop_settings(cfg), devices, store, verify, decider, decode_frame, on_event,
                    mask or (lambda: True))
    holder["loop"] = loop
    sync = None
    if cfg.sync is not None:
        from agent.sync import SyncClient, SyncSettings

        sync = SyncClient(store, SyncSettings(
            hub_url=cfg.sync.hub_url, device_id=cfg.sync.device_id, secret=cfg.device_secret or "",
            venue=cfg.gate.venue, gate=cfg.gate.gate, mqtt_host=cfg.sync.mqtt_host, mqtt_port=cfg.sync.mqtt_port,
            documents_dir=cfg.sync.documents_dir, interval=cfg.sync.interval_s), document_verifier(cfg))
    return Gate(cfg, store, devices, loop, sync)
