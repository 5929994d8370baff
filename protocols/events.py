"""The events a gate records and syncs to the hub: one schema for both sides.

An event carries the least the rules and the supervisors need: a keyed hash of the holder's
subject id, the masked name, the colour, the reading. Never the raw code, never a photo.
Event ids are ULIDs: they sort by time and never change once minted at the gate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal["decision", "manual", "fever", "exit", "alarm"]
Decision = Literal["admit", "deny", "refer"]
Outcome = Literal["PASS", "FAIL", "OPEN"]


def subject_hash(key: bytes, subject: str) -> str:
    """Keyed hash (HMAC-SHA256, hex, 32 chars) of a pseudonymous subject id, per venue key."""
    return hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class RuleResult(BaseModel):
    """One rule's outcome in a decision; messages are what the person was shown."""

    model_config = ConfigDict(extra="forbid")
    rule: str
    outcome: Outcome
    message_zh: str | None = None
    message_en: str | None = None


class GateEvent(BaseModel):
    """Something that happened at a gate: a decision, a manual override, a fever, an exit."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=26, max_length=26, description="ULID minted at the gate")
    kind: EventKind
    venue: str = Field(min_length=1, max_length=64)
    gate: str = Field(min_length=1, max_length=64)
    at: dt.datetime
    direction: Literal["in", "out"] = "in"
    decision: Decision | None = None
    reasons: list[RuleResult] = Field(default_factory=list)
    subject: str | None = Field(default=None, max_length=64, description="keyed hash, never the id itself")
    name: str | None = Field(default=None, max_length=32, description="masked name")
    person_class: str | None = Field(default=None, max_length=16)
    colour: Literal["green", "yellow", "red"] | None = None
    celsius: float | None = Field(default=None, ge=20, le=50)
    bundle_version: str | None = Field(default=None, max_length=64)
    credential_format: str | None = Field(default=None, max_length=8)
    operator: str | None = Field(default=None, max_length=64, description="guard id for manual decisions")
    note: str | None = Field(default=None, max_length=500)
