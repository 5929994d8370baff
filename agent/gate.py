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
from agent.venue_documents import VenueDocuments, parse_appointments, parse_roster
from hardware.display.base import Display
from protocols.bundle import verify_bundle
from protocols.clock import utc_now
from protocols.credential import Verification
from protocols.errors import BundleError, ConfigError, TrustListError
from protocols.events import GateEvent
from protocols.keys import load_public_key
from protocols.trustlist import TrustList
from protocols.verify import verify_code

log = logging.getLogger(__name__)


class TrustSource:
    """The trust list file, reloaded when the sync client replaces it; a bad new file keeps the old list."""

    def __init__(self, path: Path, root_public_key: Path | None, watch: Path | None = None):
        self.root_public_key = root_public_key
        try:
            self.trust = TrustList.load(path, root_public_key)
        except TrustListError as exc:
            raise ConfigError(f"trust list {path}: {exc}") from exc
        self.path = watch or path
        # Following a file not loaded yet (the hub's copy): read it as soon as it appears.
        self._mtime = path.stat().st_mtime if self.path == path else None

    def current(self) -> TrustList:
        """The trust list to verify with now."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return self.trust  # the hub has not sent one yet
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


def _synced(cfg: AgentConfig, kind: str) -> Path | None:
    """Where the sync client puts a document of this kind, when the gate syncs."""
    return cfg.sync.documents_dir / kind if cfg.sync is not None else None


def load_trust(cfg: AgentConfig) -> TrustSource:
    """The trust list the hub sent (with [sync]) or the config names, checked against the root key."""
    synced = _synced(cfg, "trustlist")
    start = synced if synced is not None and synced.exists() else cfg.rules.trust_list
    if start is None:
        raise ConfigError("rules.trust_list is not set: a gate cannot verify codes without one")
    try:
        return TrustSource(start, cfg.rules.root_public_key, watch=synced)
    except ConfigError:
        if start == synced and cfg.rules.trust_list is not None:  # a bad fetched copy: start from the configured one
            return TrustSource(cfg.rules.trust_list, cfg.rules.root_public_key, watch=synced)
        raise


def document_verifier(cfg: AgentConfig) -> Callable[[str, bytes], None]:
    """What the sync client runs on a fetched document before it replaces the running one."""
    root = load_public_key(cfg.rules.root_public_key) if cfg.rules.root_public_key else None

    def verify(kind: str, body: bytes) -> None:
        if kind == "roster":
            parse_roster(body)
            return
        if kind == "appointments":
            parse_appointments(body)
            return
        if root is None or kind not in ("bundle", "trustlist"):
            return
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise BundleError(f"{kind} is not JSON: {exc}") from exc
        if kind == "bundle":
            max_age = None if cfg.rules.bundle_max_age_h is None else dt.timedelta(hours=cfg.rules.bundle_max_age_h)
            verify_bundle(doc, root, utc_now(), max_age)
        else:
            TrustList.from_document(doc, root)

    return verify


def load_decider(cfg: AgentConfig) -> Decider:
    """The signed rule bundle the hub sent (with [sync]) or the config names; ConfigError if none."""
    synced = _synced(cfg, "bundle")
    if cfg.rules.root_public_key is None or (cfg.rules.bundle is None and not (synced and synced.exists())):
        raise ConfigError("rules.bundle and rules.root_public_key must be set: a gate decides by a signed bundle")
    decider = None
    if synced is not None and synced.exists():
        try:
            decider = Decider.from_signed_file(synced, cfg.rules.root_public_key, cfg.rules.bundle_max_age_h)
        except ConfigError as exc:
            if cfg.rules.bundle is None:
                raise
            log.warning("fetched bundle unusable, starting from %s: %s", cfg.rules.bundle, exc)
    if decider is None:
        decider = Decider.from_signed_file(cfg.rules.bundle, cfg.rules.root_public_key,  # type: ignore[arg-type]
                                           cfg.rules.bundle_max_age_h)
    if synced is not None:
        decider.watch(synced)
    return decider


def fetch_missing_documents(cfg: AgentConfig, sync: Any) -> None:
    """A syncing gate with no bundle or trust list yet (none fetched, none configured) asks the hub for them first."""
    missing = [kind for kind, configured in (("bundle", cfg.rules.bundle), ("trustlist", cfg.rules.trust_list))
               if configured is None and not sync.documents.path(kind).exists()]
    if not missing:
        return
    from agent.sync import SyncError

    try:
        sync.fetch(missing)
    except SyncError as exc:
        raise ConfigError(f"no {' or '.join(missing)} yet and the hub cannot be reached: {exc}") from exc


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
        """Release every device (barrier safe first), send what is left and return the lease, close the store."""
        self.devices.close()
        if self.sync is not None:
            self.sync.stop()
            self.sync.drain()
        self.store.close()


def build_gate(cfg: AgentConfig, *, trust: TrustList | None = None, decider: Decider | None = None,
               on_event: Callable[[GateEvent], None] | None = None, mask: MaskSensor | None = None,
               extra_displays: list[Display] | None = None) -> Gate:
    """Assemble a gate; trust and decider default to the ones the hub sent (with [sync]) or the config names."""
    store = AgentStore(cfg.store.path, cfg.subject_key)
    sync = None
    if cfg.sync is not None:
        from agent.sync import SyncClient, SyncSettings

        sync = SyncClient(store, SyncSettings(
            hub_url=cfg.sync.hub_url, device_id=cfg.sync.device_id, secret=cfg.device_secret or "",
            venue=cfg.gate.venue, gate=cfg.gate.gate, mqtt_host=cfg.sync.mqtt_host, mqtt_port=cfg.sync.mqtt_port,
            documents_dir=cfg.sync.documents_dir, interval=cfg.sync.interval_s, lease_want=cfg.sync.lease_want,
            presence_window_s=cfg.presentation.anti_passback_s),
            document_verifier(cfg))
    try:
        if sync is not None and (trust is None or decider is None):
            fetch_missing_documents(cfg, sync)
        source = None if trust is not None else load_trust(cfg)
        decider = decider or load_decider(cfg)
    except ConfigError:
        store.close()
        raise
    max_age = cfg.rules.max_code_age_s
    holder: dict[str, GateLoop] = {}

    def verify(text: str, at: dt.datetime) -> Verification:
        return verify_code(text, source.current() if source is not None else trust, at, max_age)

    def on_guard(decision: str, reason: str, operator: str) -> None:
        holder["loop"].manual_requests.put(ManualRequest(decision, reason, operator))

    # With [sync], admissions spend the hub's lease (the venue's cap) and the rules see its roster and appointments.
    facts = VenueDocuments(cfg.sync.documents_dir).facts if cfg.sync is not None else None
    devices = build_devices(cfg, on_guard, extra_displays)
    loop = GateLoop(loop_settings(cfg), devices, store, verify, decider, decode_frame, on_event,
                    mask or (lambda: True), lease=sync.lease if sync is not None else None, venue_facts=facts)
    holder["loop"] = loop
    return Gate(cfg, store, devices, loop, sync)
