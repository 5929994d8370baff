"""The camera interface: open, read the newest frame if there is a new one, close."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from hardware.device import Device


class Camera(Device):
    """A source of frames: BGR uint8 arrays of shape (height, width, 3)."""

    def __init__(self, name: str = "camera"):
        super().__init__(name)

    @abstractmethod
    def open(self) -> None:
        """Start the camera (bounded retry); raise DeviceError if it cannot be opened."""

    @abstractmethod
    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The newest frame not yet returned, waiting up to timeout_s; None if none; DeviceError if gone."""

    @abstractmethod
    def close(self) -> None:
        """Stop the camera and release it; safe to call twice."""
