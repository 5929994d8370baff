"""The speaker interface: say(text_zh, text_en) and beep(kind), both non-blocking."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Literal

BeepKind = Literal["admit", "deny", "remeasure", "alert"]

# (on seconds, off seconds, count): one short chirp admits, two mean no, a long run is an alarm.
BEEP_PATTERNS: dict[str, tuple[float, float, int]] = {
    "admit": (0.12, 0.0, 1),
    "deny": (0.15, 0.1, 2),
    "remeasure": (0.5, 0.0, 1),
    "alert": (0.3, 0.2, 5),
}


class Speaker(ABC):
    """Something that talks or beeps to the person at the gate."""

    def __init__(self, name: str = "speaker"):
        self.name = name
        self.log = logging.getLogger(f"{__name__}.{name}")

    def open(self) -> None:
        """Prepare the device (most need nothing)."""

    @abstractmethod
    def say(self, text_zh: str, text_en: str) -> None:
        """Speak the Chinese text, then the English text; returns at once."""

    @abstractmethod
    def beep(self, kind: BeepKind) -> None:
        """Sound the pattern for `kind`; returns at once."""

    def close(self) -> None:
        """Stop sounding and release the device; safe to call twice."""

    def __enter__(self) -> "Speaker":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
