"""Bounded retry with exponential backoff, for opening devices that may be slow to appear."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from protocols.errors import DeviceError

T = TypeVar("T")


def retry_open(
    attempt: Callable[[], T],
    *,
    what: str,
    attempts: int,
    delay_s: float,
    log: logging.Logger,
    retry_on: tuple[type[BaseException], ...] = (OSError,),
    max_delay_s: float = 5.0,
) -> T:
    """Call `attempt` up to `attempts` times, doubling the delay; raise DeviceError at the end."""
    last: BaseException | None = None
    delay = delay_s
    for n in range(1, max(1, attempts) + 1):
        try:
            return attempt()
        except retry_on as exc:
            last = exc
            log.warning("%s: open attempt %d/%d failed: %s", what, n, attempts, exc)
            if n < attempts:
                time.sleep(delay)
                delay = min(delay * 2, max_delay_s)
    raise DeviceError(f"{what}: could not open after {attempts} attempts: {last}")


class Backoff:
    """Delays for reconnect loops that never give up: doubles up to a cap, resets on success."""

    def __init__(self, first_s: float = 0.2, max_s: float = 5.0):
        self.first_s = first_s
        self.max_s = max_s
        self.current = first_s

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long, up to the cap."""
        delay = self.current
        self.current = min(self.current * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """Back to the first delay after a success."""
        self.current = self.first_s
