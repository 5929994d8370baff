"""Quota leases: how the hub lends a venue's free places to its gates so no partition overfills it.

The invariant kept by every lease transaction:

    inside + sum(held over all gates) <= cap

`inside` is what the hub has counted from synced events; `held` is what a gate may still admit
without asking, plus the admissions it made that the hub has not seen yet (`unsynced`, reported
by the gate with each renewal). A gate admits only while its grant lasts, offline too. When its
events arrive, each new admission moves one place from the gate's `held` into `inside` (in the
same transaction as the insert, see `HubStore.ingest`), so the sum never moves by syncing; exits
and dwell-time expiry lower `inside` and free places for the next renewals.

A gate that is cut off keeps its lease: the hub cannot know how much of it was used, so it never
takes it back on its own (taking it back could overfill the venue when the gate's events arrive).
Only a supervisor may, for a gate silent longer than the venue's `lease_reclaim_after_s`, as an
explicit and audited action whose risk is said before it is taken (`overfill_risk`): the gate may
have admitted up to that many people offline, or may still, until it next reaches the hub.

Exit gates hold no places: they only ever free them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.errors import CheckpointError

DEFAULT_RECLAIM_AFTER_S = 600  # a venue without its own setting: ten minutes of silence


class ReclaimRefused(CheckpointError):
    """The places lent to a gate cannot be taken back now (it is not silent long enough, or holds none)."""

    reason = "reclaim_refused"


@dataclass(frozen=True)
class LentPlaces:
    """What one gate holds of a venue's cap, and since when the hub has not heard from it."""

    gate: str
    direction: str | None
    held: int
    last_contact: str | None  # the gate's last sync or lease call (hub time text), None: never
    silent_s: float | None  # seconds since then, None: never
    reclaim_after_s: int
    reclaimed_at: str | None

    @property
    def reclaimable(self) -> bool:
        """True when a supervisor may take these places back: some are held and the gate is silent long enough."""
        return self.held > 0 and (self.silent_s is None or self.silent_s >= self.reclaim_after_s)


def overfill_risk(held: int) -> tuple[str, str]:
    """The risk of reclaiming `held` places, said before the action (zh, en)."""
    return (f"该闸机可能已离线放行最多 {held} 人、其记录尚未上传，或在重新联网前继续放行；"
            f"收回后场所人数最多可能超出上限 {held} 人。",
            f"The gate may have admitted up to {held} people offline whose records have not arrived, or may go on "
            f"admitting until it reaches the hub again: after reclaiming, the venue may exceed its cap by up to {held}.")


def check_reclaim(lent: LentPlaces) -> None:
    """Raise ReclaimRefused (with a bilingual reason) unless `lent` may be reclaimed now."""
    if lent.held <= 0:
        raise ReclaimRefused("该闸机未占用名额 / the gate holds no places", reason="nothing_lent")
    if not lent.reclaimable:
        raise ReclaimRefused(
            f"闸机 {lent.silent_s:.0f} 秒前仍有联系，须离线满 {lent.reclaim_after_s} 秒才能收回名额 / "
            f"the gate was in contact {lent.silent_s:.0f} s ago; its places may be reclaimed only after "
            f"{lent.reclaim_after_s} s of silence", reason="gate_not_silent")


def grant(cap: int | None, inside: int, held: dict[str, int], gate: str, want: int, unsynced: int, n_gates: int) -> int:
    """How many more admissions to lend `gate` now: at most what it wants, its fair share and what is free."""
    want = max(0, want)
    if cap is None:
        return want  # no cap: the lease is a formality
    others = sum(n for g, n in held.items() if g != gate)
    available = cap - inside - others - max(0, unsynced)
    # A fair share of what is not yet counted inside, so one busy gate cannot starve the others.
    fair = max(1, math.ceil((cap - inside) / max(1, n_gates)))
    return max(0, min(want, available, fair))
