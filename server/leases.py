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
"""

from __future__ import annotations

import math


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
