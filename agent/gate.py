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
from agent.documents import GateDocuments
from agent.loop import GateLoop, ManualRequest, MaskSensor
from agent.mask_watch import MaskWatch
from agent.preview import replay_candidate
from agent.store import AgentStore
from agent.sync import SyncClient, SyncError
from agent.trusted_clock import TrustedClock
from hardware.display.base import Display
from hardware.vision.face_mask import MaskDetector
from protocols.credential import Verification
from protocols.errors import ConfigError
from protocols.events import GateEvent
from protocols.topics import ReplayResult
from protocols.trustlist import TrustList
from protocols.verify import verify_code

log = logging.getLogger(__name__)


@dataclass
class Gate:
    """A running gate: call start(), then run() on this thread or run_in_thread(); close() at the end."""

    cfg: AgentConfig
    store: AgentStore
    devices: Devices
    loop: GateLoop
    sync: SyncClient | None = None  # when [sync] is configured

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
        if self.loop.mask_watch is not None:
            self.loop.mask_watch.close()
        if self.sync is not None:
            self.sync.stop()
            self.sync.drain()
        self.store.close()


def build_mask_watch(cfg: AgentConfig) -> MaskWatch | None:
    """The camera's mask look when [mask] detector = "litert"; None when the guard watches or masks are off."""
    if cfg.mask.detector != "litert":
        return None
    detector = MaskDetector(threads=cfg.mask.threads, no_mask_threshold=cfg.mask.no_mask_threshold)
    return MaskWatch(detector, cfg.mask.wait_s)


def build_gate(cfg: AgentConfig, *, trust: TrustList | None = None, decider: Decider | None = None,
               on_event: Callable[[GateEvent], None] | None = None, mask: MaskSensor | None = None,
               extra_displays: list[Display] | None = None) -> Gate:
    """Assemble a gate; trust and decider default to the ones the hub sent (with [sync]) or the config names."""
    # First, so a missing model or package is a config error before anything is opened.
    mask_watch = build_mask_watch(cfg) if mask is None else None
    store = AgentStore(cfg.store.path, cfg.subject_key)
    try:
        # Without [sync] the newest accepted documents are remembered beside the store (a rollback by file, too).
        documents = GateDocuments(cfg.rules, cfg.sync.documents_dir if cfg.sync is not None else None,
                                  None if cfg.sync is not None else cfg.store.path.parent / "accepted-documents.json",
                                  venue=cfg.gate.venue)
        sync = None
        # One trusted time for the gate: the sync client anchors it to the hub, the loop decides by it.
        clock = TrustedClock(store, cfg.gate.clock_tolerance_s)
        if cfg.sync is not None:
            sync = SyncClient(store, cfg.sync, venue=cfg.gate.venue, gate=cfg.gate.gate, secret=cfg.device_secret or "",
                              presence_window_s=cfg.passback_window_s, documents=documents.cache, clock=clock,
                              direction=cfg.gate.direction)
            missing = documents.missing() if trust is None or decider is None else []
            if missing:  # a syncing gate with no bundle or trust list yet asks the hub for them first
                try:
                    sync.fetch(missing)
                except SyncError as exc:
                    raise ConfigError(f"no {' or '.join(missing)} yet and the hub cannot be reached: {exc}") from exc
        source = None if trust is not None else documents.trust()
        # Too old a bundle or trust list refers everyone (a guard decides) rather than keeping the gate down.
        decider = decider or Decider(documents.bundle(), cfg.rules.bundle_max_age_h,
                                     (lambda: source.current().issued_at) if source is not None else None,
                                     cfg.rules.trust_list_max_age_h)
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
    venue = documents.venue()
    def on_pin_lockout(lockouts: int, seconds: float) -> None:
        holder["loop"].pin_lockouts.put((lockouts, seconds))

    devices = build_devices(cfg, on_guard, extra_displays, on_pin_lockout)
    loop = GateLoop(cfg, devices, store, verify, decider, decode_frame, on_event, mask or (lambda: True),
                    lease=sync.lease if sync is not None else None, venue_facts=venue.facts if venue else None,
                    clock=clock, mask_watch=mask_watch, schedule=venue.schedule if venue else None)
    holder["loop"] = loop
    if sync is not None:
        sync.figures = loop.figures
        sync.alerted = loop.alerts_confirmed.put  # the sync thread in, the loop's thread out
        loop.hub_online = lambda: sync.online
        loop.hub_urgent = sync.urgent

        def open_once(reason: str, by: str, done: Callable[[GateEvent | None], None]) -> None:
            # The supervisor's "open once" is the guard's manual admit, recorded and journalled alike.
            loop.manual_requests.put(ManualRequest("admit", reason or "hub", f"hub:{by}", done))
        sync.open_once = open_once

        def guard_mode(on: bool) -> None:
            loop.guard_mode = on  # one bool, read by the loop at its next decision
            log.warning("guard mode %s by the hub", "on" if on else "off")
        sync.guard_mode = guard_mode

        def replay(doc: dict | None) -> ReplayResult:
            # The candidate against this gate's last day, with the venue's daily controls it decides with now.
            schedule = venue.schedule() if venue is not None else None
            return replay_candidate(doc, documents.root, cfg.store.path, schedule.controls if schedule else None)
        sync.replay = replay
    return Gate(cfg, store, devices, loop, sync)
