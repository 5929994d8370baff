"""A serial thermometer simulator writing REAL bytes into a REAL pty, paced like a 9600-baud line.

The driver opens `link`, a symlink to the pty's slave side (the way udev gives a USB-serial
adapter a stable /dev/serial/by-id name). `unplug()` closes the pty and removes the link, so the
driver's next read fails exactly as when a cable is pulled; `replug()` makes a new pty behind
the same link. Noise: random garbage bytes between messages and bytes dropped on the way.

`SimulatedSerialThermometer` (config `type = "simulated"`) is the real serial driver reading a
simulator of its own: what `checkpoint agent simulate` runs.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from pathlib import Path
from typing import Literal

from pydantic import Field

from hardware.pty_link import PtyLink, link_path
from hardware.thermometer.base import ThermometerSettings
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig
from protocols.thermometer_wire import DEFAULT_ASCII_TEMPLATE, encode_ascii_line, encode_frame

log = logging.getLogger(__name__)

BYTE_TIME_9600_S = 10 / 9600  # start bit + 8 data bits + stop bit


class PtyThermometerSimulator:
    """A simulated serial IR thermometer on a pty; start(), set_temperature(), unplug(), replug()."""

    def __init__(
        self,
        link: Path | str,
        wire_format: Literal["ascii", "binary"] = "ascii",
        celsius: float = 36.6,
        interval_s: float = 0.25,
        byte_time_s: float = BYTE_TIME_9600_S,
        garbage_rate: float = 0.0,
        drop_rate: float = 0.0,
        ascii_template: str = DEFAULT_ASCII_TEMPLATE,
        ambient_c: float = 24.5,
        seed: int | None = None,
    ):
        self.link = Path(link)
        self.wire_format = wire_format
        self.interval_s = interval_s
        self.byte_time_s = byte_time_s
        self.garbage_rate = garbage_rate
        self.drop_rate = drop_rate
        self.ascii_template = ascii_template
        self.ambient_c = ambient_c
        self.messages_sent = 0
        self.bytes_dropped = 0
        # (first byte written, last byte written), monotonic, per message: for latency benchmarks.
        self.message_times: deque[tuple[float, float]] = deque(maxlen=10_000)
        self._celsius = celsius
        self._rng = random.Random(seed)
        self._port = PtyLink(self.link, blocking=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def plugged(self) -> bool:
        """Whether the simulated device is plugged in (its pty exists)."""
        return self._port.plugged

    def set_temperature(self, celsius: float) -> None:
        """The temperature the next messages carry."""
        self._celsius = celsius

    def start(self) -> "PtyThermometerSimulator":
        """Plug in and start sending readings on a named thread."""
        if self._thread is not None:
            return self
        self.replug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-thermometer-{self.link.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and unplug; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.unplug()

    def replug(self) -> None:
        """Plug in: a new pty, in raw mode, behind the same link."""
        name = self._port.plug()
        if name is not None:
            log.info("simulated thermometer plugged in at %s -> %s", self.link, name)

    def unplug(self) -> None:
        """Pull the cable: close the pty and remove the link."""
        if self._port.unplug():
            log.info("simulated thermometer unplugged from %s", self.link)

    def message(self, celsius: float) -> bytes:
        """The bytes of one reading in this simulator's wire format."""
        if self.wire_format == "binary":
            return encode_frame(celsius, self.ambient_c)
        return encode_ascii_line(celsius, self.ascii_template)

    def _noisy(self, data: bytes) -> bytes:
        if self.garbage_rate and self._rng.random() < self.garbage_rate:
            data = self._rng.randbytes(self._rng.randint(1, 12)) + data
        if self.drop_rate:
            kept = bytes(b for b in data if self._rng.random() >= self.drop_rate)
            self.bytes_dropped += len(data) - len(kept)
            data = kept
        return data

    def _run(self) -> None:
        next_message = time.monotonic()
        while not self._stop.is_set():
            if self.plugged:
                started = time.monotonic()
                last_byte_at = self._write_paced(self._noisy(self.message(self._celsius)))
                self.message_times.append((started, last_byte_at))
                self.messages_sent += 1
            next_message += self.interval_s
            self._stop.wait(max(0.0, next_message - time.monotonic()))

    def _write_paced(self, data: bytes) -> float:
        """Write one byte at a time at the line's byte time; return when the last one went out."""
        # A reader sees a reading arrive over ~10-16 ms, as from a real 9600-baud device.
        due = written_at = time.monotonic()
        for i in range(len(data)):
            with self._port.lock:
                if self._port.master is None:
                    return written_at
                try:
                    os.write(self._port.master, data[i : i + 1])
                except BlockingIOError:
                    self.bytes_dropped += 1
                except OSError as exc:
                    log.debug("simulated thermometer write failed: %s", exc)
            written_at = time.monotonic()
            due += self.byte_time_s
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        return written_at

    def __enter__(self) -> "PtyThermometerSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatedSerialThermometerConfig(ThermometerSettings):
    """A simulated serial thermometer writing real bytes into a pty, read by the real serial driver."""

    type: Literal["simulated"] = "simulated"
    wire_format: Literal["ascii", "binary"] = "ascii"
    interval_s: float = Field(default=0.1, gt=0, le=5)
    garbage_rate: float = Field(default=0.0, ge=0, le=1)
    drop_rate: float = Field(default=0.0, ge=0, le=0.5)
    link: Path | None = Field(default=None, description="where the pty's link goes; a temp dir by default")


class SimulatedSerialThermometer(SerialThermometer):
    """The real serial driver on the pty of its own `simulator` (set_temperature(), unplug(), replug())."""

    def __init__(self, config: SimulatedSerialThermometerConfig | None = None, name: str = "thermometer"):
        config = config or SimulatedSerialThermometerConfig()
        self._tmp, link = link_path(config.link, "checkpoint-thermo-", "ttyTHERMO")
        self.simulator = PtyThermometerSimulator(link, wire_format=config.wire_format, interval_s=config.interval_s,
                                                 garbage_rate=config.garbage_rate, drop_rate=config.drop_rate)
        shared = config.model_dump(include=set(ThermometerSettings.model_fields))
        super().__init__(SerialThermometerConfig(port=str(link), wire_format=config.wire_format, **shared), name)

    def open(self) -> None:
        """Plug the simulator in (once), then open its port like any serial thermometer."""
        self.simulator.start()
        super().open()

    def close(self) -> None:
        """Close the port, unplug the simulator and remove its temp dir; safe to call twice."""
        super().close()
        self.simulator.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
