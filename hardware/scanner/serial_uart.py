"""UART QR scanner module (pyserial): one code per line, ended by CR, LF or CRLF, read on a named thread.

Bytes that are not UTF-8, lines with control characters and lines longer than `max_line` are
line noise, not codes: each is dropped with one log line (why and how long, never the bytes)
and the reader goes on. An unplugged adapter is reopened with backoff, as the thermometer is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hardware.reader import ReopeningReader, open_serial_port, read_serial
from hardware.scanner.base import Scanner, ScannerSettings, printable_code

TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n"}


class SerialScannerConfig(ScannerSettings):
    """A scanner module on a serial port (its UART, or a USB-serial adapter in serial mode)."""

    type: Literal["serial"] = "serial"
    port: str  # prefer a stable name: /dev/serial/by-id/...
    baudrate: int = Field(9600, gt=0)
    terminator: Literal["CR", "LF", "CRLF"] = "CR"  # most modules default to CR
    read_timeout_s: float = Field(0.1, gt=0)


class LineSplitter:
    """Cuts a byte stream into code lines; too long, non-UTF-8 or non-printable lines come back as drops."""

    def __init__(self, terminator: str, max_line: int):
        self.terminator = TERMINATORS[terminator]
        self.max_line = max_line
        self._buffer = bytearray()
        self._overflow = 0  # bytes of a line already past max_line, thrown away as they came

    def feed(self, data: bytes) -> list[tuple[str | None, str | None, int]]:
        """(text, None, length) for each good line, (None, why, length) for each dropped one."""
        out: list[tuple[str | None, str | None, int]] = []
        self._buffer += data
        while True:
            end = self._buffer.find(self.terminator)
            if end < 0:
                break
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + len(self.terminator)]
            out.append(self._line(raw))
        if len(self._buffer) > self.max_line:  # never hold more than one line's worth
            self._overflow += len(self._buffer)
            self._buffer.clear()
        return out

    def _line(self, raw: bytes) -> tuple[str | None, str | None, int]:
        overflow, self._overflow = self._overflow, 0
        if overflow or len(raw) > self.max_line:
            return None, f"longer than {self.max_line} bytes", overflow + len(raw)
        # A module sending CRLF read with CR or LF leaves the other byte on a line end: not part of the code.
        raw = raw.strip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "not UTF-8", len(raw)
        if not text:
            return None, None, 0  # an empty line (a lone terminator) is nothing at all
        if not printable_code(text):
            return None, "control characters", len(raw)
        return text, None, len(raw)


class SerialScanner(Scanner):
    """Reads a UART scanner module on a background thread and queues each code line."""

    def __init__(self, config: SerialScannerConfig, name: str = "scanner"):
        super().__init__(config, name)
        self.config = config
        self._splitter = LineSplitter(config.terminator, config.max_line)
        # A code scanned before the gate started (or while unplugged) is nobody's presentation now:
        # the port's input buffer is emptied at every open.
        self._reader = ReopeningReader(
            thread_name=f"{name}-serial-reader", what=f"{name} {config.port}", log=self.log,
            open_handle=lambda: open_serial_port(config.port, config.baudrate, config.read_timeout_s),
            close_handle=lambda port: port.close(), read=read_serial, take=self._take,
            reopened=self._new_splitter, attempts=config.open_attempts, delay_s=config.retry_delay_s,
            max_backoff_s=config.max_backoff_s)

    def open(self) -> None:
        """Open the port (bounded retry, DeviceError at the end) and start the reader thread."""
        self._reader.start()

    def close(self) -> None:
        """Stop the reader thread and close the port; safe to call twice."""
        self._reader.stop()

    def _new_splitter(self) -> None:
        self._splitter = LineSplitter(self.config.terminator, self.config.max_line)  # half a line from before is noise

    def _take(self, data: bytes) -> None:
        for text, why, length in self._splitter.feed(data):
            if text is not None:
                self._emit(text)
            elif why is not None:
                self._drop(why, length)
