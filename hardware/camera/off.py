"""No camera (`type = "off"`): a gate that reads codes with a scanner module only."""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.camera.base import Camera


class NoCameraConfig(BaseModel):
    """No camera at this gate: codes come from its `[scanner]`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["off"] = "off"


class NoCamera(Camera):
    """Delivers no frame; read() waits its timeout, so the loop still ticks at its pace for the scanner."""

    def __init__(self, config: NoCameraConfig | None = None, name: str = "camera"):
        super().__init__(name)
        self.config = config or NoCameraConfig()
        self._closed = threading.Event()

    def open(self) -> None:
        """Nothing to open."""
        self._closed.clear()

    def read(self, timeout_s: float = 0.0) -> None:
        """No frame, after waiting up to `timeout_s` (less once closed)."""
        if timeout_s > 0:
            self._closed.wait(timeout_s)
        return None

    def close(self) -> None:
        """Nothing to release; safe to call twice."""
        self._closed.set()
