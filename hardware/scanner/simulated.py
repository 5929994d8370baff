"""Scanner simulators that make real devices: a pty writing lines like a UART module, a uinput keyboard typing like a wedge.

`SimulatedScanner` (config `type = "simulated"`) is the real serial driver reading a pty
simulator of its own; `SimulatedHidScanner` (`type = "simulated-hid"`) is the real evdev driver
reading (and grabbing) a uinput keyboard of its own. Both offer `present(text)`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from hardware.scanner.base import ScannerSettings
from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig
from hardware.scanner.keymap import ALL_KEYS, strokes_for
from hardware.scanner.serial_uart import TERMINATORS, SerialScanner, SerialScannerConfig
from hardware.pty_link import PtyLink, link_path
from protocols.errors import DeviceError

log = logging.getLogger(__name__)

UINPUT_PATH = Path("/dev/uinput")
KEY_GAP_S = 0.002  # a wedge scanner types a key every 1-4 ms


class PtyScannerSimulator:
    """A UART scanner module on a pty behind `link`: scan(text) writes the code and its terminator."""

    def __init__(self, link: Path | str, terminator: Literal["CR", "LF", "CRLF"] = "CR"):
        self.link = Path(link)
        self.terminator = TERMINATORS[terminator]
        self._port = PtyLink(self.link)

    def start(self) -> "PtyScannerSimulator":
        """Plug in: a raw pty behind the link."""
        name = self._port.plug()
        if name is not None:
            log.info("simulated scanner plugged in at %s -> %s", self.link, name)
        return self

    def stop(self) -> None:
        """Unplug: close the pty and remove the link; safe to call twice."""
        self._port.unplug()

    def write_raw(self, data: bytes) -> None:
        """Put bytes on the line as they are (noise, a cut-off code, a bad terminator)."""
        with self._port.lock:
            if self._port.master is None:
                raise DeviceError(f"simulated scanner {self.link} is not plugged in")
            os.write(self._port.master, data)

    def scan(self, text: str) -> None:
        """What the module sends when it reads `text`: the UTF-8 bytes, then the terminator."""
        self.write_raw(text.encode("utf-8") + self.terminator)

    def __enter__(self) -> "PtyScannerSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def uinput_missing_reason() -> str | None:
    """Why a uinput keyboard cannot be made here (no /dev/uinput, not writable), or None when it can."""
    if not UINPUT_PATH.exists():
        return f"{UINPUT_PATH} does not exist: this kernel has no uinput (modprobe uinput, CONFIG_INPUT_UINPUT)"
    if not os.access(UINPUT_PATH, os.W_OK):
        return f"{UINPUT_PATH} is not writable by this user (udev rule or the input group)"
    return None


class UinputScannerSimulator:
    """A virtual USB keyboard (python-evdev's UInput) that types a code and Enter like a wedge scanner."""

    def __init__(self, name: str = "checkpoint simulated wedge scanner", key_gap_s: float = KEY_GAP_S):
        self.name = name
        self.key_gap_s = key_gap_s
        self._ui = None
        self._codes: dict[str, int] = {}

    @property
    def device(self) -> str:
        """The /dev/input/eventN path of the virtual keyboard."""
        if self._ui is None or self._ui.device is None:
            raise DeviceError("the uinput scanner is not started")
        return self._ui.device.path

    def start(self) -> "UinputScannerSimulator":
        """Create the virtual keyboard (DeviceError with the reason where uinput is missing)."""
        if self._ui is not None:
            return self
        reason = uinput_missing_reason()
        if reason is not None:
            raise DeviceError(reason)
        from evdev import UInput, ecodes

        self._codes = {key: getattr(ecodes, key) for key in ALL_KEYS}
        self._ui = UInput({ecodes.EV_KEY: sorted(self._codes.values())}, name=self.name)
        # udev makes the event node a moment after the device exists: wait for it to be readable.
        deadline = time.monotonic() + 5.0
        while not os.access(self.device, os.R_OK) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Remove the virtual keyboard; safe to call twice."""
        ui, self._ui = self._ui, None
        if ui is not None:
            ui.close()

    def _key(self, key: str, value: int) -> None:
        from evdev import ecodes

        assert self._ui is not None
        self._ui.write(ecodes.EV_KEY, self._codes[key], value)
        self._ui.syn()

    def type_text(self, text: str, enter: bool = True) -> None:
        """Type `text` key by key (shift pressed around shifted characters), then Enter."""
        if self._ui is None:
            raise DeviceError("the uinput scanner is not started")
        for stroke in strokes_for(text):
            if stroke.shift:
                self._key("KEY_LEFTSHIFT", 1)
            self._key(stroke.key, 1)
            self._key(stroke.key, 0)
            if stroke.shift:
                self._key("KEY_LEFTSHIFT", 0)
            time.sleep(self.key_gap_s)
        if enter:
            self._key("KEY_ENTER", 1)
            self._key("KEY_ENTER", 0)

    def scan(self, text: str) -> None:
        """What the wedge does when it reads `text`."""
        self.type_text(text)

    def __enter__(self) -> "UinputScannerSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatedScannerConfig(ScannerSettings):
    """A simulated UART scanner: a pty written by `present(text)`, read by the real serial driver."""

    type: Literal["simulated"] = "simulated"
    terminator: Literal["CR", "LF", "CRLF"] = "CR"
    link: Path | None = Field(default=None, description="where the pty's link goes; a temp dir by default")


class SimulatedScanner(SerialScanner):
    """The real serial driver on the pty of its own `simulator`; present(text) scans a code."""

    def __init__(self, config: SimulatedScannerConfig | None = None, name: str = "scanner"):
        config = config or SimulatedScannerConfig()
        self._tmp, link = link_path(config.link, "checkpoint-scanner-", "ttySCAN")
        self.simulator = PtyScannerSimulator(link, config.terminator)
        shared = config.model_dump(include=set(ScannerSettings.model_fields))
        super().__init__(SerialScannerConfig(port=str(link), terminator=config.terminator, **shared), name)

    def present(self, text: str) -> None:
        """Scan `text` as the module would."""
        self.simulator.scan(text)

    def open(self) -> None:
        """Plug the simulator in, then open its port like any serial scanner."""
        self.simulator.start()
        super().open()

    def close(self) -> None:
        """Close the port, unplug the simulator and remove its temp dir; safe to call twice."""
        super().close()
        self.simulator.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class SimulatedHidScannerConfig(ScannerSettings):
    """A simulated wedge scanner: a uinput keyboard typed by `present(text)`, read and grabbed by the evdev driver."""

    type: Literal["simulated-hid"] = "simulated-hid"
    line_timeout_s: float = Field(0.5, gt=0, le=10)


class SimulatedHidScanner(EvdevScanner):
    """The real evdev driver on a uinput keyboard of its own `simulator`; present(text) types a code."""

    def __init__(self, config: SimulatedHidScannerConfig | None = None, name: str = "scanner"):
        config = config or SimulatedHidScannerConfig()
        self.simulator = UinputScannerSimulator()
        shared = config.model_dump(include=set(ScannerSettings.model_fields))
        # The device path is known only once the keyboard exists: open() fills it in.
        super().__init__(EvdevScannerConfig(device="", line_timeout_s=config.line_timeout_s, **shared), name)

    def present(self, text: str) -> None:
        """Type `text` as the wedge would."""
        self.simulator.scan(text)

    def open(self) -> None:
        """Create the virtual keyboard, then open and grab it like any wedge scanner."""
        self.simulator.start()
        self.config = self.config.model_copy(update={"device": self.simulator.device})
        super().open()

    def close(self) -> None:
        """Ungrab and close the device, then remove the virtual keyboard; safe to call twice."""
        super().close()
        self.simulator.stop()
