"""The figures a gate reports of itself with every sync: people per minute, p95 decision time, outbox
depth, clock offset, the thermometer's median and whether guard mode is on (protocols.contract.GateFigures)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque

from protocols.contract import GateFigures

RECENT = 500  # decisions kept for the p95: enough for a busy gate's last minutes, bounded memory
MINUTE_S = 60.0


class DecisionTimes:
    """The last decisions' monotonic times and their scan-to-answer durations (the loop adds, sync reads)."""

    def __init__(self, keep: int = RECENT):
        self._lock = threading.Lock()  # the loop's thread appends while the sync thread reads
        self._recent: deque[tuple[float, float | None]] = deque(maxlen=keep)

    def add(self, at: float, duration_s: float | None) -> None:
        """One decision at monotonic `at`, taking `duration_s` from the frame to the answer (None: not timed)."""
        with self._lock:
            self._recent.append((at, duration_s))

    def per_minute(self, now: float | None = None) -> float:
        """Decisions in the last 60 s."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return float(sum(1 for at, _ in self._recent if now - at <= MINUTE_S))

    def p95_ms(self) -> float | None:
        """The 95th percentile of the timed decisions kept, in ms (None with fewer than two)."""
        with self._lock:
            durations = [d for _, d in self._recent if d is not None]
        if len(durations) < 2:
            return None
        # statistics.quantiles (stdlib): the "inclusive" method stays inside the observed range.
        return round(statistics.quantiles(durations, n=20, method="inclusive")[18] * 1000, 1)


def gate_figures(times: DecisionTimes, outbox: int, offset_s: float | None,
                 thermometer_median_c: float | None, guard_mode: bool = False) -> GateFigures:
    """The contract's figures from what the loop, the store and the clock know now."""
    return GateFigures(people_per_min=times.per_minute(), decision_p95_ms=times.p95_ms(), outbox=outbox,
                       clock_offset_s=None if offset_s is None else round(offset_s, 3),
                       thermometer_median_c=thermometer_median_c, guard_mode=guard_mode)
