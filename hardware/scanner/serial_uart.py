"""UART QR scanner module (pyserial): one code per line, ended by CR, LF or CRLF, read on a named thread.

Bytes that are not UTF-8, lines with control characters and lines longer than `max_line` are
line noise, not codes: each is dropped with one log line (why and how long, never the bytes)
and the reader goes on. An unplugged adapter is reopened with backoff, as the thermometer is.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import Field

from hardware.retry import Backoff, retry_open
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
        self._serial = None  # serial.Serial while open
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._splitter = LineSplitter(config.terminator, config.max_line)

    def _open_port(self):
        import serial  # imported here so the module imports where pyserial is absent

        try:
            port = serial.Serial(self.config.port, self.config.baudrate, timeout=self.config.read_timeout_s)
            port.reset_input_buffer()  # a code scanned before the gate started is nobody's presentation now
            return port
        except serial.SerialException as exc:  # not an OSError subclass: turn it into one
            raise OSError(str(exc)) from exc

    def open(self) -> None:
        """Open the port (bounded retry, DeviceError at the end) and start the reader thread."""
        if self._thread is not None:
            return
        self._serial = retry_open(self._open_port, what=f"{self.name} {self.config.port}",
                                  attempts=self.config.open_attempts, delay_s=self.config.retry_delay_s, log=self.log)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-serial-reader", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the reader thread and close the port; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_port()

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except OSError as exc:
                self.log.debug("%s: error closing a port already gone: %s", self.name, exc)

    def _run(self) -> None:
        import serial

        backoff = Backoff(self.config.retry_delay_s, self.config.max_backoff_s)
        while not self._stop.is_set():
            if self._serial is None:
                try:
                    self._serial = self._open_port()
                except OSError as exc:
                    self.log.debug("%s: reopen failed: %s", self.name, exc)
                    self._stop.wait(backoff.next())
                    continue
                self.log.info("%s: port %s reopened", self.name, self.config.port)
                backoff.reset()
                self._splitter = LineSplitter(self.config.terminator, self.config.max_line)
            try:
                data = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self.log.warning("%s: port %s lost: %s", self.name, self.config.port, exc)
                self._close_port()
                self._stop.wait(backoff.next())
                continue
            for text, why, length in self._splitter.feed(data):
                if text is not None:
                    self._emit(text)
                elif why is not None:
                    self._drop(why, length)
