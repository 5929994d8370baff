"""The events a gate records and syncs to the hub: one schema for both sides.

An event carries the least the rules and the supervisors need: a keyed hash of the holder's
subject id, the masked name, the colour, the reading. Never the raw code, never a photo.
Event ids are ULIDs: they sort by time and never change once minted at the gate. The rules
about events that both sides apply (which takes a place, how long presence is kept, how a
name is masked) are defined here once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ulid import ULID

# "remeasure": a first abnormal reading asked the person to rest and measure again. Not a decision
# (nobody was refused yet, the second reading decides): listed and counted apart from denials.
EventKind = Literal["decision", "manual", "fever", "exit", "alarm", "remeasure"]
Decision = Literal["admit", "deny", "refer"]
Outcome = Literal["PASS", "FAIL", "OPEN"]

# The widest times an event may carry at all: a gate cannot make one outside (its clock would have to
# be past 2100), so the hub refusing such a batch never strands a real gate's outbox. 1970 stays in:
# a Raspberry Pi without a clock battery boots there, and its events must still be recordable.
EARLIEST_EVENT = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST_EVENT = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
# What the hub takes, against its own clock: a few minutes of clock skew ahead, a year of outage behind.
FUTURE_SKEW = dt.timedelta(minutes=5)
MAX_EVENT_AGE = dt.timedelta(days=366)

MAX_REASONS = 100  # rule results in one event: a bundle's rules, with room to spare

DECIDED_KINDS = ("decision", "manual")  # events that carry a decision taken at the gate, by the rules or a guard
REMEASURE_KIND = "remeasure"  # the prompt to rest and measure again (see EventKind)
# The longest anti-passback window a gate may configure: presence changes are never kept or sent longer.
PRESENCE_WINDOW_MAX = dt.timedelta(days=1)

# "This event takes a place inside" (what a lease is spent on, what the hub counts +1): an entry
# admitted by the rules or a guard. One definition, read by `takes_place` and `TAKES_PLACE_SQL`.
_TAKES_PLACE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decision", ("admit",)),
    ("direction", ("in",)),
    ("kind", DECIDED_KINDS),
)


def _sql_in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)  # constants of this module, never input
    return f"{column} IN ({quoted})"


# The same test as a WHERE condition over a table with the event's columns (the gate's `events`).
TAKES_PLACE_SQL = " AND ".join(_sql_in(column, values) for column, values in _TAKES_PLACE)


def takes_place(kind: str | None, direction: str | None, decision: str | None) -> bool:
    """True for an event that takes a place inside: an entry admitted by the rules or a guard."""
    fields = {"kind": kind, "direction": direction, "decision": decision}
    return all(fields[column] in values for column, values in _TAKES_PLACE)


# A person's alerts: what the hub raises for a stored event (server/alerts.py) and what the gate's kiosk
# promises to report (agent/outcome.py), decided here once so that the kiosk never promises more.
POSITIVE_TEST_RULE = "GATE-TEST-02"


def person_alert(kind: str | None, direction: str | None, colour: str | None, failed: Collection[str]) -> str | None:
    """The alert a person's event raises at the hub: "fever", "red_code", "positive_test", or None."""
    if kind == "fever":
        return "fever"
    if kind not in DECIDED_KINDS or direction != "in":
        return None
    if colour == "red":
        return "red_code"
    if POSITIVE_TEST_RULE in failed:
        return "positive_test"
    return None


def new_event_id(at: dt.datetime | None = None) -> str:
    """A fresh ULID string (of `at`, default the system clock): sorts by time, never changes once minted."""
    return str(ULID() if at is None else ULID.from_datetime(at))


def mask_name(name: str | None) -> str | None:
    """Mask a name to its first and last characters (张三丰 -> 张*丰, 李四 -> 李*); idempotent."""
    if not name:
        return None
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]


def subject_hash(key: bytes, subject: str) -> str:
    """Keyed hash (HMAC-SHA256, hex, 32 chars) of a pseudonymous subject id, per venue key."""
    return hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class RuleResult(BaseModel):
    """One rule's outcome in a decision; messages are what the person was shown."""

    model_config = ConfigDict(extra="forbid")
    # Bounded like every other field: one event of 13.6 MB of reasons was accepted before.
    rule: str = Field(max_length=64)
    outcome: Outcome
    message_zh: str | None = Field(default=None, max_length=500)
    message_en: str | None = Field(default=None, max_length=500)


class GateEvent(BaseModel):
    """Something that happened at a gate: a decision, a manual override, a fever, an exit, a re-measure prompt."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=26, max_length=26, description="ULID minted at the gate")
    kind: EventKind
    venue: str = Field(min_length=1, max_length=64)
    gate: str = Field(min_length=1, max_length=64)
    at: dt.datetime
    direction: Literal["in", "out"] = "in"
    decision: Decision | None = None
    reasons: list[RuleResult] = Field(default_factory=list, max_length=MAX_REASONS)
    subject: str | None = Field(default=None, max_length=64, description="keyed hash, never the id itself")
    name: str | None = Field(default=None, max_length=32, description="masked name")
    person_class: str | None = Field(default=None, max_length=16)
    colour: Literal["green", "yellow", "red"] | None = None
    celsius: float | None = Field(default=None, ge=20, le=50)
    bundle_version: str | None = Field(default=None, max_length=64)
    credential_format: str | None = Field(default=None, max_length=8)
    operator: str | None = Field(default=None, max_length=64, description="guard id for manual decisions")
    note: str | None = Field(default=None, max_length=500)
    # Optional so events of gates from before the clock defence stay valid: `at` is the time the gate
    # decided by (its trusted time when its wall clock had jumped), `wall_at` what its wall clock said.
    wall_at: dt.datetime | None = Field(default=None, description="the gate's wall clock when `at` was taken")

    @field_validator("at", "wall_at")
    @classmethod
    def _sane_time(cls, at: dt.datetime | None) -> dt.datetime | None:
        """A time with a zone, between 1970 and 2100 (9999-12-31 is no gate's clock)."""
        if at is None:
            return None
        if at.tzinfo is None:
            raise ValueError("the event time must carry its UTC offset")
        if not EARLIEST_EVENT <= at < LATEST_EVENT:
            raise ValueError(f"the event time {at.isoformat()} is outside 1970-2100: no gate's clock says that")
        return at
