"""A live camera drained by a named grabber thread into a one-slot mailbox (LatestFrame).

The OpenCV and picamera2 drivers differ only in how they acquire the device, grab one frame and
release it; opening with bounded retry, the thread, reading and closing are the same and live here.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Any

import numpy as np

from hardware.camera.base import Camera
from hardware.camera.latest_frame import LatestFrame
from hardware.retry import retry_open


class GrabberCamera(Camera):
    """A camera whose frames a background thread grabs as fast as the device gives them."""

    open_attempts: int = 3
    retry_delay_s: float = 0.5

    def __init__(self, name: str = "camera"):
        super().__init__(name)
        self._device: Any = None
        self._latest = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _acquire(self) -> Any:
        """Open the device once; raise OSError when it cannot be opened."""

    @abstractmethod
    def _grab_loop(self) -> None:
        """Put frames into self._latest until self._stop is set; call _latest.gone() when the source ends."""

    @abstractmethod
    def _release(self, device: Any) -> None:
        """Release the device _acquire returned."""

    def _describe(self) -> str:
        return self.name

    def open(self) -> None:
        """Open the device (bounded retry) and start the grabber thread."""
        if self._thread is not None:
            return
        self._device = retry_open(self._acquire, what=self._describe(), attempts=self.open_attempts,
                                  delay_s=self.retry_delay_s, log=self.log)
        self._latest = LatestFrame()
        self._stop.clear()
        self._thread = threading.Thread(target=self._grab_loop, name=f"{self.name}-grabber", daemon=True)
        self._thread.start()

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The newest frame not yet returned; None if none yet; DeviceError when the source is gone."""
        return self._latest.take(timeout_s, self.name)

    def close(self) -> None:
        """Stop the grabber and release the device; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._device is not None:
            self._release(self._device)
            self._device = None
        self._latest.gone("camera closed")
