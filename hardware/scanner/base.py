"""The scanner interface: decoded text lines, each with when it arrived, taken one at a time."""

from __future__ import annotations

import datetime as dt
import queue
import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from hardware.device import Device
from protocols.clock import utc_now

# An HP1 pass is a few hundred characters, an EU DCC up to ~4 kB in base45: longer is not a code.
DEFAULT_MAX_LINE = 8192
# Lines nobody took within this long are of a person who has gone: the queue keeps only a few.
QUEUE_MAX = 8


class ScannerSettings(BaseModel):
    """Settings every scanner driver shares."""

    model_config = ConfigDict(extra="forbid")
    max_line: int = Field(DEFAULT_MAX_LINE, ge=16, le=65536)
    open_attempts: int = Field(3, ge=1)
    retry_delay_s: float = Field(0.2, gt=0)
    max_backoff_s: float = Field(5.0, gt=0)


@dataclass(frozen=True)
class ScannedLine:
    """One line a scanner decoded: its text and when its terminator arrived (monotonic, wall clock)."""

    text: str
    at_monotonic: float
    at_wallclock: dt.datetime


def printable_code(text: str) -> bool:
    """True if every character is printable (a code is printable text; control bytes are line noise)."""
    return bool(text) and text.isprintable()


class Scanner(Device):
    """A QR scanner module: open it, take decoded lines with read(), close it."""

    def __init__(self, settings: ScannerSettings, name: str):
        super().__init__(name)
        self.settings = settings
        self._lines: queue.Queue[ScannedLine] = queue.Queue(maxsize=QUEUE_MAX)
        self.lines_read = 0
        self.lines_dropped = 0

    def read(self, timeout_s: float = 0.0) -> ScannedLine | None:
        """The next decoded line, waiting up to `timeout_s`; None when none came."""
        try:
            if timeout_s <= 0:
                return self._lines.get_nowait()
            return self._lines.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _emit(self, text: str) -> None:
        """Queue a decoded line (the oldest goes if nobody has taken lines for a while)."""
        line = ScannedLine(text, time.monotonic(), utc_now())
        while True:
            try:
                self._lines.put_nowait(line)
                break
            except queue.Full:
                try:
                    self._lines.get_nowait()
                except queue.Empty:
                    pass
        self.lines_read += 1

    def _drop(self, why: str, length: int) -> None:
        """Log a line that is not a code (the reason and its length, never its content)."""
        self.lines_dropped += 1
        self.log.warning("%s: line dropped (%s, %d bytes)", self.name, why, length)
