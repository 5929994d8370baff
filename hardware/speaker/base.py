"""The speaker interface: say(text_zh, text_en) and beep(kind), both non-blocking."""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

from hardware.device import Device

BeepKind = Literal["admit", "deny", "remeasure", "alert"]

# (on seconds, off seconds, count): one short chirp admits, two mean no, a long run is an alarm.
BEEP_PATTERNS: dict[str, tuple[float, float, int]] = {
    "admit": (0.12, 0.0, 1),
    "deny": (0.15, 0.1, 2),
    "remeasure": (0.5, 0.0, 1),
    "alert": (0.3, 0.2, 5),
}


class Speaker(Device):
    """Something that talks or beeps to the person at the gate."""

    def __init__(self, name: str = "speaker"):
        super().__init__(name)

    @abstractmethod
    def say(self, text_zh: str, text_en: str) -> None:
        """Speak the Chinese text, then the English text; returns at once."""

    @abstractmethod
    def beep(self, kind: BeepKind) -> None:
        """Sound the pattern for `kind`; returns at once."""
