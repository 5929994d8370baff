"""When a gate tries the hub again: after a 429/503 the hub's Retry-After plus jitter, after a timeout or
an unreachable hub an exponential back-off with jitter, else its own interval (issue 14 item 2).

Pure arithmetic on seconds (the sync client and bench/fleet.py share it): a hub that sheds a burst tells
each gate when to come back, over a range it draws from; the gate adds its own jitter so gates told the
same second still arrive apart, and a hub that answers nothing is not hammered by gates in lockstep.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random

HTTP_TIMEOUT_S = 5.0  # the default of [sync] http_timeout (agent/config.py): a slower reply is given up on
MAX_RETRY_AFTER_S = 600.0  # a Retry-After beyond this is taken as this: a hub cannot silence a gate for a day
DEFAULT_RETRY_AFTER_S = 5.0  # a 429/503 whose Retry-After is missing or unreadable
RETRY_JITTER_S = 1.0  # added to a Retry-After, drawn from [0, this)
MAX_BACKOFF_S = 30.0  # longest wait after failures in a row


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date, RFC 9110), capped; None when
    missing or unreadable (negative, not a number, not a date)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT; one written without a zone is read so
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
        seconds = max(0.0, seconds)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


class Backoff:
    """How long a gate waits before its next sync, from how the last ones went."""

    def __init__(self, base_s: float, rng: random.Random | None = None):
        """base_s: the first wait after a failure (the gate's sync interval)."""
        self.base_s = base_s
        self.failures = 0
        self.rng = rng or random.Random()

    def busy(self, retry_after_s: float | None) -> float:
        """The wait after the hub shed a sync (429/503): its Retry-After (or a default) plus jitter."""
        self.failures = 0  # the hub answered: it is up, only busy
        wait = DEFAULT_RETRY_AFTER_S if retry_after_s is None else retry_after_s
        return wait + self.rng.uniform(0, RETRY_JITTER_S)

    def failed(self) -> float:
        """The wait after a timeout or an unreachable hub: doubling each time in a row, jittered, capped."""
        self.failures += 1
        wait = min(MAX_BACKOFF_S, self.base_s * 2 ** (self.failures - 1))
        return wait * self.rng.uniform(0.5, 1.0)

    def ok(self) -> None:
        """A sync went through: the next failure starts from the base again."""
        self.failures = 0
