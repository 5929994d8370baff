"""Thermometer integrity: the median of the recent readings people gave, checked against a band.

A drifting sensor (dirty lens, a knock, a hot enclosure) moves every reading, so one person's value
says little but the median of the last few dozen says much: people's skin readings sit in a narrow
band, and a median outside it means the instrument, not the crowd, has changed.
"""

from __future__ import annotations

import collections
import statistics
from typing import Literal

Change = Literal["drifted", "recovered"]


class DriftWatch:
    """The median of the last `window` readings; reports when it leaves or comes back into [low, high]."""

    def __init__(self, window: int, low_c: float, high_c: float):
        self.readings: collections.deque[float] = collections.deque(maxlen=window)
        self.low_c, self.high_c = low_c, high_c
        self.drifted = False

    @property
    def median(self) -> float | None:
        """The median of the readings kept, None until the window is full (too few to judge)."""
        if len(self.readings) < (self.readings.maxlen or 0):
            return None
        return statistics.median(self.readings)

    def add(self, celsius: float) -> Change | None:
        """Keep one reading; "drifted" or "recovered" when the median just crossed the band's edge, else None."""
        self.readings.append(celsius)
        median = self.median
        if median is None:
            return None
        outside = not self.low_c <= median <= self.high_c
        if outside == self.drifted:
            return None
        self.drifted = outside
        return "drifted" if outside else "recovered"
