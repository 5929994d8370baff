"""The gate's trusted time: the hub's clock carried forward on the monotonic clock, against a wall clock that may jump.

Each successful sync gives an anchor: the hub's time, taken as true at the midpoint of the round
trip, and the monotonic clock at that midpoint. The trusted time is the anchor's hub time plus the
monotonic seconds since. Nobody can set the monotonic clock (`date`, a dead RTC battery, a bad NTP
step move the wall clock only), so it carries the hub's time across an outage; it drifts as a
quartz crystal does, seconds a day, far inside the tolerance.

Within the tolerance the wall clock decides, as before (NTP's own corrections change nothing).
Beyond it the trusted time decides every time-dependent rule (code age and expiry, test windows,
anti-passback, visitor windows) and the loop raises GATE-CLOCK-01 once per episode.

What is trusted after a restart: the monotonic clock counts from the boot, so a kept anchor is
used as it is only by a process of the same boot (Linux boot id). After a reboot without the hub
only floors remain, times that true time cannot be before: the kept anchor's hub time and the
newest event id (ULIDs are minted from the time decided by). A wall clock behind a floor beyond
the tolerance decides nothing: everyone is referred, as before this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ulid import ULID

from agent.store import AgentStore, StoreUnavailable
from protocols.clock import UTC, utc_now

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
SAVE_EVERY_S = 300.0  # how often a fresh anchor is written (synchronous=FULL costs a disk flush each time)


def boot_id() -> str:
    """This boot's id (Linux); "" elsewhere, where no anchor outlives the process."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ClockReading:
    """One "now" for the loop: the time to decide by, what the wall clock said, and how they relate."""

    at: dt.datetime  # the time to decide by: the trusted time when the wall clock strayed, else the wall clock
    wall: dt.datetime
    trusted: dt.datetime | None  # None: no anchor from this boot
    floor: dt.datetime | None = None  # set only when there is no anchor and the wall clock stands behind it
    jumped: bool = False  # the wall clock stands beyond the tolerance from the trusted time: `at` is the trusted time


class TrustedClock:
    """Owns the gate's offset to the hub, its monotonic anchor, the jump check and the time to decide by."""

    def __init__(self, store: AgentStore, tolerance_s: float = 120.0,
                 wall: Callable[[], dt.datetime] = utc_now, monotonic: Callable[[], float] = time.monotonic,
                 boot: str | None = None):
        """wall and monotonic: the two clocks read (the wall one is the seam tests set back)."""
        self.store = store
        self.tolerance = dt.timedelta(seconds=tolerance_s)
        self.wall = wall
        self.monotonic = monotonic
        self.boot = boot_id() if boot is None else boot
        self._lock = threading.Lock()
        self._anchor: tuple[float, float] | None = None  # (hub epoch seconds, monotonic seconds at that moment)
        self._old_hub_at: float | None = None  # a kept anchor of an earlier boot: only a floor now
        self._saved_at = float("-inf")
        kept = store.clock_anchor()
        if kept is not None:
            hub_at, mono, boot_of = kept
            if boot_of and boot_of == self.boot and mono <= self.monotonic():
                self._anchor, self._saved_at = (hub_at, mono), mono
            else:
                self._old_hub_at = hub_at

    def anchor(self, hub_time: float, sent: float, received: float) -> None:
        """Take the hub's time from a sync answer, true at the midpoint of the round trip (monotonic sent..received)."""
        if received - sent > self.tolerance.total_seconds():
            # Half the round trip is the error: a trip this slow cannot place the time within the tolerance.
            log.info("hub time ignored: the round trip took %.1fs", received - sent)
            return
        mid = (sent + received) / 2
        with self._lock:
            self._anchor = (hub_time, mid)
            due = mid - self._saved_at >= SAVE_EVERY_S
            if due:
                self._saved_at = mid
        if due:
            try:
                self.store.save_clock_anchor(hub_time, mid, self.boot)
            except StoreUnavailable as exc:  # the next anchor tries again; the one in memory still serves
                log.warning("trusted time not kept: %s", exc)
                self._saved_at = float("-inf")

    def offset(self) -> dt.timedelta | None:
        """The trusted time minus the wall clock now (None without an anchor)."""
        reading = self.read(floor=False)
        return None if reading.trusted is None else reading.trusted - reading.wall

    def _trusted(self) -> dt.datetime | None:
        with self._lock:
            anchor = self._anchor
        if anchor is None:
            return None
        hub_at, mono = anchor
        return dt.datetime.fromtimestamp(hub_at + (self.monotonic() - mono), UTC)

    def floor(self) -> dt.datetime | None:
        """The earliest true time can be without an anchor: the newest event id, an earlier boot's anchor."""
        floors = []
        newest = self.store.last_event_id()
        if newest is not None:
            try:
                floors.append(ULID.from_str(newest).datetime)
            except ValueError:
                pass
        if self._old_hub_at is not None:
            floors.append(dt.datetime.fromtimestamp(self._old_hub_at, UTC))
        return max(floors) if floors else None

    def read(self, floor: bool = True) -> ClockReading:
        """Now, to decide by; with `floor` and no anchor, also whether the wall clock stands behind the floor
        (one store read: asked per presentation, not per tick)."""
        wall = self.wall()
        trusted = self._trusted()
        if trusted is not None:
            jumped = abs(wall - trusted) > self.tolerance
            return ClockReading(trusted if jumped else wall, wall, trusted, jumped=jumped)
        behind = self.floor() if floor else None
        if behind is not None and wall >= behind - self.tolerance:
            behind = None
        return ClockReading(wall, wall, None, behind)
