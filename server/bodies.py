"""The bodies of the hub's own API (venues, gates, reservations, documents, tokens) as pydantic models.

The device bodies, which the gate shares, are the contract's (`protocols/contract.py`); the
OpenAPI schemas come from both.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from protocols.contract import Body
from protocols.schedule import DailySlot
from protocols.topics import SEGMENT
from server.alerts import AlertKind

ID = SEGMENT.pattern  # the same ids that are safe MQTT topic segments


class VenueSettings(Body):
    """A venue's caps, dwell time, gathering size and reservation slots (all optional)."""

    name: str | None = Field(default=None, max_length=200)
    cap: int | None = Field(default=None, ge=0, le=1_000_000)
    dwell_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    gathering: int | None = Field(default=None, ge=0, le=1_000_000, description="expected attendees of a gathering")
    plan_approved: bool | None = None
    slot_minutes: int | None = Field(default=None, ge=5, le=24 * 60)
    slot_capacity: int | None = Field(default=None, ge=1, le=100_000)
    lease_reclaim_after_s: int | None = Field(
        default=None, ge=1, le=7 * 24 * 3600,
        description="how long a gate must be silent before its lent places may be reclaimed (absent: 600 s)")
    pass_minutes: int | None = Field(default=None, ge=1, le=60,
                                     description="minutes a pass the hub issues is valid (absent: 5)")
    test_window_hours: int | None = Field(default=None, ge=1, le=7 * 24,
                                          description="how old a nucleic-acid result a pass may carry (absent: 48)")
    colour_max_age_hours: int | None = Field(
        default=None, ge=1, le=7 * 24,
        description="how old the health authority's colour may be before issuing refuses green (absent: 24)")
    declaration_max_age_hours: int | None = Field(
        default=None, ge=1, le=7 * 24,
        description="how old the holder's travel declaration may be before issuing refuses green (absent: 24)")


class VenueCreate(VenueSettings):
    """A new venue."""

    id: str = Field(pattern=ID)


class GateCreate(Body):
    """A new gate of a venue."""

    id: str = Field(pattern=ID)
    name: str | None = Field(default=None, max_length=200)
    direction: Literal["in", "out", "both"] | None = Field(
        default=None, description="entries only (in), exits only (out) or both; absent: fixed by the gate's first event")


class GateZone(Body):
    """Where a gate stands: its canteen zone, or null for none. Signed into the venue's schedule."""

    zone: str | None = Field(pattern=ID)


class ReservationRequest(Body):
    """Book a subject (keyed hash) into the slot containing `at`."""

    subject: str = Field(min_length=1, max_length=64)
    at: dt.datetime


class ScheduleGroup(Body):
    """A roster group's time windows: a canteen meal group (slots, zones) or a staff shift (slots)."""

    kind: Literal["meal", "shift"]
    zones: list[str] = Field(default_factory=list, max_length=64, description="meal: the zones it eats in (empty: any)")
    slots: list[DailySlot] = Field(min_length=1, max_length=48,
                                   description="daily, HH:MM in the venue's time zone; an end before the start runs past midnight")


class Reservation(Body):
    """A booking."""

    id: int
    slot: str


class Bilingual(Body):
    """One text in Simplified Chinese and English."""

    zh: str
    en: str


class GateLease(Body):
    """The places lent to one gate, its last contact, and whether a supervisor may reclaim them now."""

    gate: str
    direction: str | None
    held: int = Field(description="places lent to the gate and not yet used as far as the hub knows")
    last_contact: str | None = Field(description="the gate's last sync or lease call (UTC), null: never")
    silent_s: float | None = Field(description="seconds since then")
    reclaim_after_s: int = Field(description="the venue's silence before a reclaim is allowed")
    reclaimable: bool
    reclaimed_at: str | None
    overfill_risk: Bilingual = Field(description="what reclaiming these places risks, said before the action")
    reclaimed: int | None = Field(default=None, description="in a reclaim's answer: the places taken back")


class Occupancy(Body):
    """How many are inside a venue, its cap, what is lent to gates and what is free."""

    venue: str
    inside: int
    entries: int
    exits: int
    cap: int | None
    leased: int
    free: int | None
    tier: str


class DocumentInfo(Body):
    """A stored document version."""

    kind: str
    version: int
    etag: str


class RosterImportResult(Body):
    """What a roster import did (or, in a dry run, would do); a file with errors answers 422 instead."""

    rows: int = Field(description="data rows read from the file")
    encoding: str | None = Field(description="how the file was read: utf-8, utf-8-sig, gb18030, utf-16 or xlsx")
    dry_run: bool
    added: int
    changed: int
    removed: int
    unchanged: int
    roster_version: int | None = Field(description="the roster document's new version (null in a dry run)")


class TokenResponse(Body):
    """A one-time enrollment token."""

    token: str
    venue: str
    gate: str


class Alert(Body):
    """An alert as the API lists it: what, where, when, its report deadline and whether it is acknowledged."""

    id: str
    venue: str
    kind: AlertKind
    gate: str | None
    event_id: str | None
    at: str = Field(description="when it happened (UTC)")
    raised_at: str
    deadline: str | None = Field(description="a fever's report deadline (UTC): 2 hours after the event")
    countdown_s: int | None = Field(description="seconds left to the deadline; negative once overdue")
    state: Literal["open", "overdue", "acked"]
    detail: dict[str, object] = Field(description="masked name, colour, reading, rules; never a raw id")
    acked_by: str | None
    acked_at: str | None
    ack_note: str | None


class AlertAck(Body):
    """A supervisor's acknowledgement of an alert, with what was done."""

    note: str = Field(min_length=1, max_length=500)


class AlertSettings(Body):
    """Where a venue's alerts go besides the console and MQTT (each field optional; null clears it)."""

    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://[^\s]+$")
    webhook_kind: Literal["generic", "wecom", "dingtalk"] | None = None
    webhook_secret: str | None = Field(default=None, max_length=200, description="DingTalk's signing secret")
    mail_to: str | None = Field(default=None, max_length=1000, pattern=r"^\s*([^@\s,]+@[^@\s,]+\s*(,\s*|$))*$",
                                description="comma-separated addresses")


class AlertSettingsShown(Body):
    """A venue's alert delivery settings as answered (the secret is never sent back, only whether there is one)."""

    venue: str
    webhook_url: str | None
    webhook_kind: str
    webhook_secret_set: bool
    mail_to: str | None


class ManualStatus(Body):
    """A supervisor's entry of a person's colour or nucleic-acid result, with the reason (audited).

    The person is named by the resident ID number (hashed at once, never stored) or by their subject."""

    id_number: str | None = Field(default=None, max_length=32, description="the person's resident ID number")
    subject: str | None = Field(default=None, max_length=64, description="or the person's subject (keyed hash)")
    colour: Literal["green", "yellow", "red"] | None = None
    colour_since: dt.datetime | None = Field(default=None, description="when the colour was set (absent: now)")
    test_at: dt.datetime | None = Field(default=None, description="when the sample was taken")
    test_result: Literal["negative", "positive"] | None = None
    reason: str = Field(min_length=2, max_length=200, description="why the supervisor enters it (kept in the audit)")

    @model_validator(mode="after")
    def _complete(self) -> "ManualStatus":
        if (self.id_number is None) == (self.subject is None):
            raise ValueError("name the person by id_number or by subject, not both")
        if self.colour is None and self.test_result is None:
            raise ValueError("enter a colour, a test result, or both")
        if (self.test_at is None) != (self.test_result is None):
            raise ValueError("a test needs both test_at and test_result")
        if self.colour is None and self.colour_since is not None:
            raise ValueError("colour_since needs a colour")
        for name in ("colour_since", "test_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} needs a time zone offset")
            if moment is not None and moment > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5):
                raise ValueError(f"{name} is in the future")
        if not self.reason.strip():
            raise ValueError("the reason is empty")
        return self


class FeedResult(Body):
    """What a status feed or a manual entry stored."""

    source: Literal["authority", "lab", "manual"]
    stored: int = Field(description="rows stored")
    unknown_rows: list[int] = Field(default_factory=list, description="rows (items) whose ID is not enrolled here")
    subject: str | None = Field(default=None, description="a manual entry: the person's subject")
