"""The one clock and the one text form of a time, for the gate, the hub and the formats alike.

Every "now" comes from `utc_now()`. Every time kept or sent as text goes through `utc_text()`:
ISO 8601 in UTC, fixed width, so text order is time order (SQLite compares these as text). Two
uses keep their older text on purpose, because text already written is compared or signed:
whole seconds (`utc_seconds`) in signed documents and the rules' payload, and the gate store's
`+00:00` suffix (`zone=GATE_STORE_ZONE`), whose rows since its first migration compare as text
with new ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

UTC = dt.timezone.utc
GATE_STORE_ZONE = "+00:00"  # the gate store's suffix (agent/store.py): its old rows compare as text with new ones


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(UTC)


def utc_text(t: dt.datetime, timespec: Literal["seconds", "microseconds"] = "microseconds",
             zone: Literal["Z", "+00:00"] = "Z") -> str:
    """ISO 8601 UTC text of a time (naive: taken as UTC), e.g. 2026-05-01T08:00:00.000000Z."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    # isoformat, not strftime: the same text at a third of the cost (the hub runs it once per ingested event).
    return t.isoformat(timespec=timespec) + zone


def utc_seconds(t: dt.datetime | None) -> str | None:
    """A time as signed documents and the rules' payload write it (whole seconds, Z), or None."""
    return None if t is None else utc_text(t, "seconds")
