"""A speaker simulator that records what was said and beeped, with the time."""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.speaker.base import BEEP_PATTERNS, BeepKind, Speaker


class RecordingSpeakerConfig(BaseModel):
    """A speaker simulator that records (for development and tests)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["recording"] = "recording"


class RecordingSpeaker(Speaker):
    """Keeps ("say", zh, en) and ("beep", kind) entries with their monotonic time."""

    def __init__(self, config: RecordingSpeakerConfig | None = None, name: str = "speaker"):
        super().__init__(name)
        self.config = config or RecordingSpeakerConfig()
        self.said: list[tuple[float, str, str]] = []
        self.beeps: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def say(self, text_zh: str, text_en: str) -> None:
        """Record the message."""
        with self._lock:
            self.said.append((time.monotonic(), text_zh, text_en))

    def beep(self, kind: BeepKind) -> None:
        """Record the beep; an unknown kind is a programming error, as on the real buzzer."""
        if kind not in BEEP_PATTERNS:
            raise ValueError(f"unknown beep kind {kind!r}; known: {sorted(BEEP_PATTERNS)}")
        with self._lock:
            self.beeps.append((time.monotonic(), kind))
