"""The hub API's request and response bodies as pydantic models (the OpenAPI schemas come from here)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from protocols.events import GateEvent

ID = r"^[A-Za-z0-9_.-]{1,64}$"  # the same ids that are safe MQTT topic segments
MAX_BATCH = 1000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(_Body):
    """A device spends its one-time token."""

    token: str = Field(min_length=8, max_length=200)


class EnrollResponse(_Body):
    """The device's own credential: shown once, the hub keeps only hashes."""

    device_id: str
    secret: str
    venue: str
    gate: str
    mqtt_username: str
    topic_filter: str


class SyncRequest(_Body):
    """A batch from a gate's outbox, and the document versions the gate runs."""

    events: list[GateEvent] = Field(default_factory=list, max_length=MAX_BATCH)
    running: dict[str, str] | None = Field(default=None, max_length=16)
    presence_after: int | None = Field(
        default=None, ge=0, le=2**62,
        description="the presence cursor of the last answer (0 the first time); absent: no presence changes wanted")
    presence_window_s: int = Field(default=3600, ge=0, le=86400,
                                   description="the gate's anti-passback window: older changes are not sent")


class PresenceChange(_Body):
    """An admitted entry or an exit at another gate of the venue (subject: the venue's keyed hash)."""

    subject: str
    direction: Literal["in", "out"]
    at: dt.datetime


class SyncResponse(_Body):
    """Ids the hub now holds (the gate may forget them), how many were new, what to fetch next;
    with `presence_after` asked, the venue's presence changes at other gates since that cursor."""

    acked: list[str]
    new: int
    versions: dict[str, str]
    fetch: list[str]
    presence: list[PresenceChange] | None = Field(default=None, max_length=1000)
    presence_after: int | None = Field(default=None, description="the cursor to send next time")
    presence_more: bool | None = Field(default=None, description="true: more changes wait, ask again at once")


class LeaseRequest(_Body):
    """Renew (want > 0) or return (want = 0) a gate's lease of places."""

    want: int = Field(ge=0, le=10_000)
    unsynced: int = Field(default=0, ge=0, le=100_000, description="admissions not yet acknowledged by the hub")


class LeaseResponse(_Body):
    """How many more the gate may admit without asking, and what the hub holds for it."""

    grant: int
    held: int
    cap: int | None
    inside: int


class VenueSettings(_Body):
    """A venue's caps, dwell time, gathering size and reservation slots (all optional)."""

    name: str | None = Field(default=None, max_length=200)
    cap: int | None = Field(default=None, ge=0, le=1_000_000)
    dwell_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    gathering: int | None = Field(default=None, ge=0, le=1_000_000, description="expected attendees of a gathering")
    plan_approved: bool | None = None
    slot_minutes: int | None = Field(default=None, ge=5, le=24 * 60)
    slot_capacity: int | None = Field(default=None, ge=1, le=100_000)


class VenueCreate(VenueSettings):
    """A new venue."""

    id: str = Field(pattern=ID)


class GateCreate(_Body):
    """A new gate of a venue."""

    id: str = Field(pattern=ID)
    name: str | None = Field(default=None, max_length=200)


class ReservationRequest(_Body):
    """Book a subject (keyed hash) into the slot containing `at`."""

    subject: str = Field(min_length=1, max_length=64)
    at: dt.datetime


class Reservation(_Body):
    """A booking."""

    id: int
    slot: str


class Occupancy(_Body):
    """How many are inside a venue, its cap, what is lent to gates and what is free."""

    venue: str
    inside: int
    entries: int
    exits: int
    cap: int | None
    leased: int
    free: int | None
    tier: str


class DocumentInfo(_Body):
    """A stored document version."""

    kind: str
    version: int
    etag: str


class TokenResponse(_Body):
    """A one-time enrollment token."""

    token: str
    venue: str
    gate: str
