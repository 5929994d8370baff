"""The gate's devices built from the config, behind one facade the loop drives.

Every driver, simulators and journals included, comes from `hardware/`; this module builds them
from the config's device sections, adds the kiosk page (it hands guard decisions to the loop)
and keeps the order that leaves the barrier safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.config import AgentConfig
from agent.outcome import idle_screen, speech
from hardware.barrier.base import Barrier
from hardware.camera.base import Camera
from hardware.display.base import Display, Screen
from hardware.display.journal import JournalDisplay
from hardware.display.kiosk import KioskDisplay
from hardware.registry import build_device
from hardware.retry import Backoff
from hardware.scanner.base import Scanner
from hardware.speaker.base import Speaker
from hardware.thermometer.base import Thermometer
from hardware.thermometer.simulated_serial import PtyThermometerSimulator, SimulatedSerialThermometer
from protocols.errors import DeviceError

log = logging.getLogger(__name__)


@dataclass
class Devices:
    """Everything the loop drives; open() starts them, close() always leaves the barrier safe."""

    camera: Camera
    thermometer: Thermometer
    barrier: Barrier
    displays: list[Display]
    speaker: Speaker
    scanner: Scanner | None = None  # a QR scanner module beside the camera
    _openers: list[threading.Thread] = field(default_factory=list)
    _closing: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        """Open every device; the barrier first, so it is locked before anything else happens."""
        self.barrier.open()
        for display in self.displays:
            display.open()
        self.speaker.open()
        try:
            self.thermometer.open()
        except DeviceError as exc:
            # The loop shows the fault (no admission without a reading) while a thread keeps trying.
            log.error("thermometer not available at start, retrying in the background: %s", exc)
            self._keep_opening(self.thermometer, "thermometer")
        try:
            self.camera.open()
        except DeviceError as exc:
            log.error("camera not available at start (the loop retries): %s", exc)
        if self.scanner is not None:
            try:
                self.scanner.open()
            except DeviceError as exc:
                # The camera still reads codes; a wedge plugged in later is opened by the background thread.
                log.error("scanner not available at start, retrying in the background: %s", exc)
                self._keep_opening(self.scanner, "scanner")

    def _keep_opening(self, device: Thermometer | Scanner, what: str) -> None:
        """Open a device missing at start on a background thread (backoff up to 30 s) until it opens or we close."""
        def keep_trying() -> None:
            backoff = Backoff(first_s=1.0, max_s=30.0)
            while not self._closing.wait(backoff.next()):
                try:
                    device.open()
                except DeviceError as exc:
                    log.info("%s still not available: %s", what, exc)
                    continue
                log.info("%s opened", what)
                return

        opener = threading.Thread(target=keep_trying, name=f"{what}-opener", daemon=True)
        self._openers.append(opener)
        opener.start()

    def close(self) -> None:
        """Barrier safe first, then release everything; safe to call twice."""
        self._closing.set()
        for opener in self._openers:
            opener.join(timeout=10)
        self._openers.clear()
        self.safe_state()
        self.barrier.close()
        scanner = [self.scanner.close] if self.scanner is not None else []
        for closer in (self.camera.close, *scanner, self.thermometer.close, *[d.close for d in self.displays]):
            closer()
        self.speaker.close()

    def safe_state(self) -> None:
        """Drive the barrier to its safe state (on stop, on crash)."""
        try:
            self.barrier.safe_state("agent stop")
        except DeviceError as exc:
            log.error("could not drive the barrier safe: %s", exc)

    def reopen_camera(self) -> None:
        """Close and open the camera again; DeviceError while it is still gone."""
        self.camera.close()
        self.camera.open()

    def open_barrier(self, seconds: float, event_id: str) -> None:
        """Pulse the barrier open; the reason names the event that opened it."""
        self.barrier.pulse_open(seconds, reason=f"admit {event_id}")

    def show(self, screen: Screen) -> None:
        """Show a screen on every display."""
        for display in self.displays:
            display.show(screen)

    def announce(self, screen: Screen) -> None:
        """Beep the pattern for the screen and say it aloud (zh then en); never blocks."""
        beep = {"admit": "admit", "remeasure": "remeasure", "wait": "remeasure", "fever": "alert"}.get(screen.state, "deny")
        self.speaker.beep(beep)
        self.speaker.say(*speech(screen))

    @property
    def thermometer_simulator(self) -> PtyThermometerSimulator | None:
        """The pty simulator behind a simulated thermometer (set its temperature, unplug it), else None."""
        return self.thermometer.simulator if isinstance(self.thermometer, SimulatedSerialThermometer) else None


def build_devices(cfg: AgentConfig, on_guard: Callable[[str, str, str], None] | None = None,
                  extra_displays: list[Display] | None = None,
                  on_pin_lockout: Callable[[int, float], None] | None = None) -> Devices:
    """Build (not open) every device the config names."""
    displays: list[Display] = list(extra_displays or [])
    if cfg.kiosk.enabled:
        displays.append(KioskDisplay(cfg.kiosk.host, cfg.kiosk.port, cfg.guard_pin, on_guard, cfg.kiosk.journal,
                                     initial=idle_screen(), on_lockout=on_pin_lockout))
    elif cfg.kiosk.journal is not None:
        displays.append(JournalDisplay(cfg.kiosk.journal))
    camera, thermometer, barrier, speaker = (build_device(c) for c in (cfg.camera, cfg.thermometer, cfg.barrier,
                                                                        cfg.speaker))
    scanner = build_device(cfg.scanner) if cfg.scanner is not None else None
    return Devices(camera, thermometer, barrier, displays, speaker, scanner)  # type: ignore[arg-type]
