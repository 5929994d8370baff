"""One device read on a named thread: opened with bounded retry, reopened with backoff whenever it is lost.

The UART scanner, the evdev scanner and the serial thermometer all read a handle that can vanish
(an unplugged USB adapter or scanner) and must come back by itself without the gate restarting.
The loop that does it is the same for all three, so it lives here once; each driver says how to
open, read and close its handle and what to do with the bytes or events it reads.
pyserial and python-evdev have no reconnecting reader of their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hardware.retry import Backoff, retry_open

H = TypeVar("H")
D = TypeVar("D")


class ReopeningReader(Generic[H, D]):
    """A handle opened at `start()` (DeviceError after `attempts`), read until `stop()` on one thread.

    `read(handle)` returns what it read (possibly nothing) and raises OSError (or ValueError, a closed
    descriptor) when the device is gone; the handle is then closed and reopened with backoff. After
    each reopen `reopened()` runs first (a half-read line or frame from before the loss is noise), and
    `connected(bool)` follows every open and close. `take(data)` runs for every read, empty ones too,
    so a driver can expire what waited too long.
    """

    def __init__(self, *, thread_name: str, what: str, log: logging.Logger,
                 open_handle: Callable[[], H], close_handle: Callable[[H], None],
                 read: Callable[[H], D], take: Callable[[D], None],
                 attempts: int, delay_s: float, max_backoff_s: float,
                 reopened: Callable[[], None] = lambda: None,
                 connected: Callable[[bool], None] = lambda up: None) -> None:
        self.thread_name, self.what, self.log = thread_name, what, log
        self._open, self._close, self._read, self._take = open_handle, close_handle, read, take
        self._reopened, self._connected = reopened, connected
        self.attempts, self.delay_s, self.max_backoff_s = attempts, delay_s, max_backoff_s
        self.handle: H | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the reader thread has been started (and not stopped)."""
        return self._thread is not None

    def start(self) -> None:
        """Open the handle (bounded retry, DeviceError at the end) and start the reader thread; once."""
        if self._thread is not None:
            return
        self.handle = retry_open(self._open, what=self.what, attempts=self.attempts, delay_s=self.delay_s, log=self.log)
        self._connected(True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and close the handle; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._drop_handle()

    def _drop_handle(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            try:
                self._close(handle)
            except OSError as exc:
                self.log.debug("%s: error closing a device already gone: %s", self.what, exc)
        self._connected(False)

    def _run(self) -> None:
        backoff = Backoff(self.delay_s, self.max_backoff_s)
        while not self._stop.is_set():
            if self.handle is None:
                try:
                    self.handle = self._open()
                except OSError as exc:
                    self.log.debug("%s: reopen failed: %s", self.what, exc)
                    self._stop.wait(backoff.next())
                    continue
                self.log.info("%s: reopened", self.what)
                backoff.reset()
                self._reopened()
                self._connected(True)
            try:
                data = self._read(self.handle)
            except (OSError, ValueError) as exc:  # unplugged (EIO, ENODEV), or a descriptor closed under us
                self.log.warning("%s: lost: %s", self.what, exc)
                self._drop_handle()
                self._reopened()
                self._stop.wait(backoff.next())
                continue
            self._take(data)


def open_serial_port(port: str, baudrate: int, timeout_s: float) -> Any:
    """A pyserial port with its input buffer emptied (bytes queued before we opened are of unknown age);
    OSError when it cannot be opened."""
    import serial  # imported here so the module imports where pyserial is absent

    try:
        handle = serial.Serial(port, baudrate, timeout=timeout_s)
        handle.reset_input_buffer()
        return handle
    except serial.SerialException as exc:  # not an OSError subclass: turn it into one
        raise OSError(str(exc)) from exc


def read_serial(handle: Any) -> bytes:
    """What a serial port has now (at least one byte, or nothing after its timeout); OSError when it is gone."""
    import serial

    try:
        return handle.read(max(1, handle.in_waiting))
    except serial.SerialException as exc:
        raise OSError(str(exc)) from exc
