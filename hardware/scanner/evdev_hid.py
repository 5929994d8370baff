"""USB HID "keyboard wedge" scanner read with python-evdev, grabbed so its keystrokes never reach the kiosk.

A wedge scanner types the code as key presses on a US layout and ends it with Enter. The
device is grabbed (EVIOCGRAB): while the gate runs, no other reader (X, the kiosk browser, a
console) sees the code typed. A line whose keys stop coming for `line_timeout_s` before its
Enter is a partial read and is dropped, so its tail cannot glue onto the next person's code.
"""

from __future__ import annotations

import select
import time
from typing import Literal

from pydantic import Field

from hardware.reader import ReopeningReader
from hardware.scanner.base import Scanner, ScannerSettings
from hardware.scanner.keymap import ENTER_KEYS, IGNORED_KEYS, SHIFT_KEYS, char_for

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2


class EvdevScannerConfig(ScannerSettings):
    """A keyboard-wedge scanner on an input event device."""

    type: Literal["evdev"] = "evdev"
    device: str  # prefer a stable name: /dev/input/by-id/usb-...-event-kbd
    grab: bool = True  # False only for a bench test with a human watching the keystrokes
    line_timeout_s: float = Field(0.5, gt=0, le=10)


class KeyLineAssembler:
    """Turns key events (name, value, time) into text lines: shift honoured, Enter ends, a stalled line dropped."""

    def __init__(self, line_timeout_s: float, max_line: int):
        self.line_timeout_s = line_timeout_s
        self.max_line = max_line
        self._chars: list[str] = []
        self._shift: set[str] = set()
        self._bad: str | None = None  # why the line in progress will be dropped
        self._last_at = 0.0

    def expire(self, now: float) -> tuple[str, int] | None:
        """(why, length) of a partial line whose keys stopped coming, which is forgotten; else None."""
        if (self._chars or self._bad) and now - self._last_at > self.line_timeout_s:
            dropped = ("partial line timed out", len(self._chars))
            self._chars, self._bad = [], None
            return dropped
        return None

    def feed(self, key: str, value: int, at: float) -> tuple[str | None, tuple[str, int] | None]:
        """Take one key event; returns (a completed line or None, (why, length) of a dropped line or None)."""
        dropped = self.expire(at)
        if key in SHIFT_KEYS:
            if value == KEY_UP:
                self._shift.discard(key)
            else:
                self._shift.add(key)
            return None, dropped
        if value != KEY_DOWN:  # a key's release, or auto-repeat a scanner never sends on purpose
            return None, dropped
        self._last_at = at
        if key in ENTER_KEYS:
            chars, bad = self._chars, self._bad
            self._chars, self._bad = [], None
            if bad is not None:
                return None, (bad, len(chars))
            return ("".join(chars) or None), dropped
        if key in IGNORED_KEYS:
            return None, dropped
        char = char_for(key, bool(self._shift))
        if char is None:
            self._bad = self._bad or f"key {key} types no character"
        elif len(self._chars) >= self.max_line:
            self._bad = self._bad or f"longer than {self.max_line} characters"
        else:
            self._chars.append(char)
        return None, dropped


class EvdevScanner(Scanner):
    """Reads a grabbed keyboard-wedge scanner on a named thread; reopens it with backoff when unplugged."""

    def __init__(self, config: EvdevScannerConfig, name: str = "scanner"):
        super().__init__(config, name)
        self.config = config
        self._assembler = KeyLineAssembler(config.line_timeout_s, config.max_line)
        self._reader = ReopeningReader(
            thread_name=f"{name}-evdev-reader", what=f"{name} {config.device}", log=self.log,
            open_handle=lambda: self._open_device(), close_handle=self._close_device, read=self._read_events,
            take=self._take_events, reopened=self._new_assembler, attempts=config.open_attempts,
            delay_s=config.retry_delay_s, max_backoff_s=config.max_backoff_s)

    def _open_device(self):
        import evdev  # imported here so the module imports where python-evdev is absent

        device = evdev.InputDevice(self.config.device)  # OSError when missing or not readable
        try:
            if self.config.grab:
                device.grab()  # IOError (EBUSY) when another program holds it
        except OSError:
            device.close()
            raise
        return device

    def open(self) -> None:
        """Open and grab the device (bounded retry, DeviceError at the end), start the reader thread."""
        self._reader.start()

    def close(self) -> None:
        """Stop the reader, ungrab and close the device; safe to call twice."""
        self._reader.stop()

    def _close_device(self, device) -> None:
        try:
            if self.config.grab:
                device.ungrab()
        except OSError:
            pass  # the device is gone: nothing holds the grab any more
        device.close()

    def _new_assembler(self) -> None:
        self._assembler = KeyLineAssembler(self.config.line_timeout_s, self.config.max_line)

    @staticmethod
    def _read_events(device) -> list:
        """Key events waiting (at most 0.1 s for some); OSError (ENODEV) or ValueError when unplugged."""
        try:
            ready, _, _ = select.select([device.fd], [], [], 0.1)
            return list(device.read()) if ready else []
        except BlockingIOError:  # woken with nothing to read (EAGAIN): not a lost device
            return []

    def _take_events(self, events: list) -> None:
        from evdev import ecodes

        for event in events:
            if event.type != ecodes.EV_KEY:
                continue
            key = ecodes.KEY.get(event.code)
            key = key[0] if isinstance(key, list) else key  # some codes have several names
            self._take(*self._assembler.feed(str(key), event.value, time.monotonic()))
        dropped = self._assembler.expire(time.monotonic())
        if dropped is not None:
            self._drop(*dropped)

    def _take(self, line: str | None, dropped: tuple[str, int] | None) -> None:
        if dropped is not None:
            self._drop(*dropped)
        if line is not None:
            self._emit(line)
