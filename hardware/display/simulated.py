"""A display that records every screen it was asked to show, as it would draw it, with the time."""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.display.base import Display, Screen


class RecordingDisplayConfig(BaseModel):
    """A display simulator that records (for development and tests)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["recording"] = "recording"


class RecordingDisplay(Display):
    """Keeps (monotonic time, Screen) for every show(), countdown in whole seconds; `current` is the last one."""

    def __init__(self, config: RecordingDisplayConfig | None = None, name: str = "display"):
        super().__init__(name)
        self.config = config or RecordingDisplayConfig()
        self.shown: list[tuple[float, Screen]] = []
        self._lock = threading.Lock()

    def show(self, screen: Screen) -> None:
        """Record the screen as drawn (whole-second countdown)."""
        self.log.debug("%s: %s %s / %s", self.name, screen.state, screen.title_zh, screen.title_en)
        with self._lock:
            self.shown.append((time.monotonic(), screen.whole_seconds()))

    @property
    def current(self) -> Screen | None:
        """The screen shown now, or None if nothing was shown yet."""
        with self._lock:
            return self.shown[-1][1] if self.shown else None

    def states(self) -> list[str]:
        """The sequence of screen states shown so far."""
        with self._lock:
            return [screen.state for _, screen in self.shown]
