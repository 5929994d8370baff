"""A one-slot mailbox between a camera's grabber thread and its reader: the newest frame wins.

Live sources (USB, RTSP, picamera2) must be drained continuously or their buffers hand out
frames seconds old; the grabber thread keeps only the newest, and the reader gets each new one once.
"""

from __future__ import annotations

import threading

import numpy as np

from protocols.errors import DeviceError


class LatestFrame:
    """Holds the newest frame, its sequence number, and why the source stopped if it did."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._taken = 0
        self._gone: str | None = None

    def put(self, frame: np.ndarray) -> None:
        """Replace the frame with a newer one (called by the grabber thread)."""
        with self._cond:
            self._frame = frame
            self._seq += 1
            self._cond.notify_all()

    def gone(self, why: str) -> None:
        """Mark the source as gone; readers get DeviceError once the last frame is taken."""
        with self._cond:
            self._gone = why
            self._cond.notify_all()

    def take(self, timeout_s: float, name: str) -> np.ndarray | None:
        """The newest frame not yet taken, waiting up to timeout_s; None if none came."""
        with self._cond:
            if self._seq == self._taken and self._gone is None and timeout_s > 0:
                self._cond.wait_for(lambda: self._seq != self._taken or self._gone is not None, timeout_s)
            if self._seq != self._taken:
                self._taken = self._seq
                return self._frame
            if self._gone is not None:
                raise DeviceError(f"{name}: {self._gone}")
            return None

    @property
    def frames(self) -> int:
        """How many frames the grabber has delivered."""
        return self._seq
