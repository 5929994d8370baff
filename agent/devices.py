"""The gate's devices built from the config, behind one facade the loop drives.

Real drivers and simulators come from `hardware/`; this module only picks them by the config's
`type`, wires the simulated thermometer's pty to the real serial driver, and adds the journals
(relay changes, screens) that let a test compare what a person saw with what was recorded.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, SimulatedBarrier as SimulatedBarrierSection, SimulatedThermometer, SpeakerOff
from agent.kiosk import KioskDisplay, ScreenJournal
from agent.outcome import Screen
from hardware.barrier.base import Barrier, BarrierState
from hardware.barrier.simulated import SimulatedBarrier
from hardware.camera.base import Camera
from hardware.display.base import Display
from hardware.registry import build_device
from hardware.retry import Backoff
from hardware.speaker.base import Speaker
from hardware.thermometer.base import Thermometer
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig
from hardware.thermometer.simulated_serial import PtyThermometerSimulator
from protocols.errors import DeviceError

log = logging.getLogger(__name__)


class JournalingBarrier(SimulatedBarrier):
    """The simulated relay, also appending each change (time, state, reason) to a file as it happens."""

    def __init__(self, config: SimulatedBarrierSection, journal: Path | None):
        super().__init__(config)
        self._journal = None
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            self._journal = open(journal, "a", encoding="utf-8")
        self._journal_lock = threading.Lock()

    def _drive(self, energised: bool, state: BarrierState, reason: str) -> None:
        changed = state != self.state
        super()._drive(energised, state, reason)
        if changed and self._journal is not None:
            with self._journal_lock:
                # Flushed at once: the line must outlive a kill -9 right after the relay moved.
                self._journal.write(json.dumps({"t": time.time(), "state": state, "reason": reason}) + "\n")
                self._journal.flush()

    def _release_device(self) -> None:
        super()._release_device()
        if self._journal is not None:
            with self._journal_lock:
                self._journal.close()
                self._journal = None


class JournalDisplay(Display):
    """A headless display that appends every screen to a journal file (simulations, the kill -9 test)."""

    def __init__(self, journal: Path):
        super().__init__("journal")
        self._journal = ScreenJournal(journal)

    def show(self, screen: Screen) -> None:  # type: ignore[override] - takes the agent's richer Screen
        """Append the screen."""
        self._journal.write(screen)

    def close(self) -> None:
        """Close the journal."""
        self._journal.close()


@dataclass
class Devices:
    """Everything the loop drives; open() starts them, close() always leaves the barrier safe."""

    camera: Camera
    thermometer: Thermometer
    barrier: Barrier
    displays: list[Display] = field(default_factory=list)
    speaker: Speaker | None = None
    thermometer_simulator: PtyThermometerSimulator | None = None
    _tmp: Any = None
    _opener: threading.Thread | None = None
    _closing: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        """Open every device; the barrier first, so it is locked before anything else happens."""
        self.barrier.open()
        if self.thermometer_simulator is not None:
            self.thermometer_simulator.start()
        for display in self.displays:
            display.open()
        if self.speaker is not None:
            self.speaker.open()
        try:
            self.thermometer.open()
        except DeviceError as exc:
            # The loop shows the fault (no admission without a reading) while a thread keeps trying.
            log.error("thermometer not available at start, retrying in the background: %s", exc)
            self._opener = threading.Thread(target=self._keep_opening_thermometer, name="thermometer-opener",
                                            daemon=True)
            self._opener.start()
        try:
            self.camera.open()
        except DeviceError as exc:
            log.error("camera not available at start (the loop retries): %s", exc)

    def _keep_opening_thermometer(self) -> None:
        backoff = Backoff(first_s=1.0, max_s=30.0)
        while not self._closing.wait(backoff.next()):
            try:
                self.thermometer.open()
            except DeviceError as exc:
                log.info("thermometer still not available: %s", exc)
                continue
            log.info("thermometer opened")
            return

    def close(self) -> None:
        """Barrier safe first, then release everything; safe to call twice."""
        self._closing.set()
        if self._opener is not None:
            self._opener.join(timeout=10)
            self._opener = None
        self.safe_state()
        self.barrier.close()
        for closer in (self.camera.close, self.thermometer.close, *[d.close for d in self.displays]):
            closer()
        if self.speaker is not None:
            self.speaker.close()
        if self.thermometer_simulator is not None:
            self.thermometer_simulator.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

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
        """Show a screen on every display (the kiosk gets the full screen, others the interface's)."""
        plain = None
        for display in self.displays:
            if isinstance(display, (KioskDisplay, JournalDisplay)):
                display.show(screen)
            else:
                plain = plain or screen.to_hardware()
                display.show(plain)

    def announce(self, screen: Screen) -> None:
        """Beep the pattern for the screen and say it aloud (zh then en); never blocks."""
        if self.speaker is None:
            return
        beep = {"admit": "admit", "remeasure": "remeasure", "fever": "alert"}.get(screen.state, "deny")
        self.speaker.beep(beep)
        self.speaker.say(*screen.speech)


def build_devices(cfg: AgentConfig, on_guard: Callable[[str, str, str], None] | None = None,
                  extra_displays: list[Display] | None = None) -> Devices:
    """Build (not open) every device the config names."""
    tmp = None
    simulator = None
    t = cfg.thermometer
    if isinstance(t, SimulatedThermometer):
        if t.link is None:
            tmp = tempfile.TemporaryDirectory(prefix="checkpoint-thermo-")
            link = Path(tmp.name) / "ttyTHERMO"
        else:
            link = t.link
        # Real bytes through a real pty, read by the real serial driver.
        simulator = PtyThermometerSimulator(link, wire_format=t.wire_format, interval_s=t.interval_s,
                                            garbage_rate=t.garbage_rate, drop_rate=t.drop_rate)
        thermometer: Thermometer = SerialThermometer(SerialThermometerConfig(
            port=str(link), wire_format=t.wire_format, calibration_offset_c=t.calibration_offset_c,
            plausible_min_c=t.plausible_min_c, plausible_max_c=t.plausible_max_c))
    else:
        thermometer = build_device(t)  # type: ignore[assignment]
    b = cfg.barrier
    if isinstance(b, SimulatedBarrierSection):
        barrier: Barrier = JournalingBarrier(b, b.journal)
    else:
        barrier = build_device(b)  # type: ignore[assignment]
    displays: list[Display] = list(extra_displays or [])
    if cfg.kiosk.enabled:
        displays.append(KioskDisplay(cfg.kiosk.host, cfg.kiosk.port, cfg.guard_pin, on_guard, cfg.kiosk.journal))
    elif cfg.kiosk.journal is not None:
        displays.append(JournalDisplay(cfg.kiosk.journal))
    speaker = None if isinstance(cfg.speaker, SpeakerOff) else build_device(cfg.speaker)
    return Devices(build_device(cfg.camera), thermometer, barrier, displays, speaker, simulator, tmp)  # type: ignore[arg-type]
