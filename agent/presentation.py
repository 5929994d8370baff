"""One person, one presentation: a code seen again within seconds is the same one; anti-passback; fever re-checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Dedupe:
    """Forget nothing for `window_s`: the same code text seen again inside it is not a new presentation."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        # Digests, not texts: the raw code is not kept longer than it takes to verify it.
        self._seen: dict[bytes, float] = {}

    @staticmethod
    def digest(text: str) -> bytes:
        """The 16-byte digest a code is remembered by."""
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def touch(self, digest: bytes, now: float) -> None:
        """Count the code as seen now (its decision just finished: the window starts again)."""
        self._seen[digest] = now

    def is_new(self, text: str, now: float) -> bool:
        """True (and remembered) if this text was not seen in the last window_s seconds."""
        digest = self.digest(text)
        self._expire(now)
        last = self._seen.get(digest)
        self._seen[digest] = now
        return last is None

    def forget(self, text: str) -> None:
        """Let this text count as new next time (e.g. it was read while the gate was busy)."""
        self._seen.pop(self.digest(text), None)

    def _expire(self, now: float) -> None:
        if len(self._seen) > 64 or any(now - t > self.window_s for t in self._seen.values()):
            self._seen = {d: t for d, t in self._seen.items() if now - t <= self.window_s}


@dataclass
class FeverCase:
    """A subject whose first reading was abnormal: the reading and when they may re-measure."""

    first_celsius: float
    first_at: float
    rest_until: float


class FeverWatch:
    """Subjects sent to rest after one abnormal reading; the next abnormal one is a fever event."""

    def __init__(self, rest_s: float, window_s: float = 900.0):
        self.rest_s = rest_s
        # After this long the first reading no longer counts: a new visit starts over.
        self.window_s = window_s
        self._cases: dict[str, FeverCase] = {}

    def first_abnormal(self, subject: str, celsius: float, now: float) -> FeverCase:
        """Record a first abnormal reading and start the rest."""
        case = FeverCase(celsius, now, now + self.rest_s)
        self._cases[subject] = case
        return case

    def case(self, subject: str, now: float) -> FeverCase | None:
        """The open case for this subject, or None (never had one, or it lapsed)."""
        case = self._cases.get(subject)
        if case is not None and now - case.first_at > self.window_s:
            del self._cases[subject]
            return None
        return case

    def close(self, subject: str) -> None:
        """The re-measure decided it (normal or fever): forget the case."""
        self._cases.pop(subject, None)


def passback_since(now: dt.datetime, window_s: float) -> dt.datetime:
    """The start of the anti-passback window ending now."""
    return now - dt.timedelta(seconds=window_s)
