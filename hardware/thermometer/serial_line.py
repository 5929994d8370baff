"""Serial IR thermometer (pyserial): ASCII lines or MLX90614 binary frames, read on a named thread.

The reader thread survives garbage (the decoders skip it), dropped bytes (a damaged frame fails
its checksum) and unplugging: the port error marks the thermometer disconnected, the last
reading goes stale by itself, and the thread reopens the port with backoff until it is back.
"""

from __future__ import annotations

import re
import threading
from typing import Literal

from pydantic import Field, field_validator

from hardware.retry import Backoff, retry_open
from hardware.thermometer.base import Thermometer, ThermometerSettings
from protocols.thermometer_wire import DEFAULT_ASCII_PATTERN, AsciiLineDecoder, BinaryFrameDecoder, DecoderStats


class SerialThermometerConfig(ThermometerSettings):
    """A thermometer on a serial port (USB-serial adapter or the Pi's UART)."""

    type: Literal["serial"] = "serial"
    port: str  # prefer a stable name: /dev/serial/by-id/...
    baudrate: int = Field(9600, gt=0)
    wire_format: Literal["ascii", "binary"] = "ascii"
    pattern: str = DEFAULT_ASCII_PATTERN
    read_timeout_s: float = Field(0.2, gt=0)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        compiled = re.compile(value)
        if compiled.groups < 1:
            raise ValueError("pattern needs a group (named 'celsius' or the first) holding the number")
        return value


class SerialThermometer(Thermometer):
    """Reads a serial thermometer on a background thread and keeps the latest reading."""

    def __init__(self, config: SerialThermometerConfig, name: str = "thermometer"):
        super().__init__(config, name)
        self.config = config
        self._serial = None  # serial.Serial while open
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._decoder = self._new_decoder()

    def _new_decoder(self) -> AsciiLineDecoder | BinaryFrameDecoder:
        if self.config.wire_format == "binary":
            return BinaryFrameDecoder()
        return AsciiLineDecoder(self.config.pattern)

    @property
    def stats(self) -> DecoderStats:
        """The decoder's counters: readings, garbage bytes, rejected lines, bad checksums."""
        return self._decoder.stats

    def _open_port(self):
        import serial  # imported here so the module imports where pyserial is absent

        try:
            port = serial.Serial(self.config.port, self.config.baudrate, timeout=self.config.read_timeout_s)
            # Bytes queued before we opened are of unknown age: a reading must be fresh, so drop them.
            port.reset_input_buffer()
            return port
        except serial.SerialException as exc:  # not an OSError subclass: turn it into one
            raise OSError(str(exc)) from exc

    def open(self) -> None:
        """Open the port (bounded retry, DeviceError at the end) and start the reader thread."""
        if self._thread is not None:
            return
        self._serial = retry_open(self._open_port, what=f"{self.name} {self.config.port}",
                                  attempts=self.config.open_attempts, delay_s=self.config.retry_delay_s,
                                  log=self.log)
        self._set_connected(True)
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
        self._set_connected(False)

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
                self._decoder = self._new_decoder()  # half a frame from before the unplug is noise
                self._set_connected(True)
            try:
                data = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self.log.warning("%s: port %s lost: %s", self.name, self.config.port, exc)
                self._close_port()
                self._stop.wait(backoff.next())
                continue
            for wire in self._decoder.feed(data):
                self._record(wire.celsius, wire.raw, ambient_c=wire.ambient_celsius)
