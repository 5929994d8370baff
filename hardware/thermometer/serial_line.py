"""Serial IR thermometer (pyserial): ASCII lines or MLX90614 binary frames, read on a named thread.

The reader thread survives garbage (the decoders skip it), dropped bytes (a damaged frame fails
its checksum) and unplugging: the port error marks the thermometer disconnected, the last
reading goes stale by itself, and the thread reopens the port with backoff until it is back.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from hardware.reader import ReopeningReader, open_serial_port, read_serial
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
        self._decoder = self._new_decoder()
        # Bytes queued before the port was opened are of unknown age: a reading must be fresh, so each
        # open empties the input buffer; half a frame from before an unplug is noise (a new decoder).
        self._reader = ReopeningReader(
            thread_name=f"{name}-serial-reader", what=f"{name} {config.port}", log=self.log,
            open_handle=lambda: open_serial_port(config.port, config.baudrate, config.read_timeout_s),
            close_handle=lambda port: port.close(), read=read_serial, take=self._take,
            reopened=self._reset_decoder, connected=self._set_connected, attempts=config.open_attempts,
            delay_s=config.retry_delay_s, max_backoff_s=config.max_backoff_s)

    def _new_decoder(self) -> AsciiLineDecoder | BinaryFrameDecoder:
        if self.config.wire_format == "binary":
            return BinaryFrameDecoder()
        return AsciiLineDecoder(self.config.pattern)

    def _reset_decoder(self) -> None:
        self._decoder = self._new_decoder()

    @property
    def stats(self) -> DecoderStats:
        """The decoder's counters: readings, garbage bytes, rejected lines, bad checksums."""
        return self._decoder.stats

    def open(self) -> None:
        """Open the port (bounded retry, DeviceError at the end) and start the reader thread."""
        self._reader.start()

    def close(self) -> None:
        """Stop the reader thread and close the port; safe to call twice."""
        self._reader.stop()

    def _take(self, data: bytes) -> None:
        for wire in self._decoder.feed(data):
            self._record(wire.celsius, wire.raw, ambient_c=wire.ambient_celsius)
