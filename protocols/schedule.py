"""The venue's time windows as the hub signs them: booked reservation slots, meal groups, staff shifts.

One signed document kind, `schedule` (protocols/signed.py, the key the gate checks it with), body:

    {"type": "checkpoint-schedule", "venue": "acme", "issued_at": "2026-11-29T00:00:00Z",
     "timezone": "Asia/Shanghai",
     "reservations": {"<keyed hash of the subject>": [{"from": "...+08:00", "to": "...+08:00"}]},
     "groups": {"A": {"kind": "meal", "zones": ["east"], "slots": [{"from": "11:00", "to": "11:30"}]},
                "day": {"kind": "shift", "slots": [{"from": "08:00", "to": "17:00"}]}},
     "gate_zones": {"canteen-east-1": "east"},
     "controls": {"mode": "closed", "params": {"feverDeci": 375}, "risk_areas": [{"region": "110105",
                  "level": "high", "name": "北京市朝阳区", "from": "...", "until": null}]}}

Reservations (限量、预约、错峰, POLICY.md section 3, P8.四(二)) are absolute times; a holder is named
only by the venue's keyed hash, never by the id. Meal groups (分时、分区、分组, P4.(三)4) and shifts
are daily times in the venue's time zone; a slot whose end is before its start runs past midnight.
`gate_zones` says where each gate stands (the hub's gate record, set by a supervisor), so a gate
moved between canteen zones needs no config change; a gate it does not name uses its `[gate] zone`.
`window_facts` turns one document, one holder, the holder's roster group and the gate's zone into
what the rules read as `external.window`; the tolerances are the bundle's parameters.
`controls` are the venue's daily controls (protocols/controls.py): closed management, parameters within
their allowed ranges and the dated risk-area list, laid over the bundle by the gate; null: none set.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocols.controls import Controls
from protocols.cose import PrivateKey
from protocols.errors import CheckpointError
from protocols.keys import PublicKey
from protocols.signed import sign_document, verify_document

SCHEDULE_TYPE = "checkpoint-schedule"
DEFAULT_TIMEZONE = "Asia/Shanghai"  # as the hub's console and reports default to
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ScheduleError(CheckpointError):
    """A schedule document that is unsigned, tampered, or not in the documented shape."""

    reason = "bad_schedule"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Booking(_Model):
    """One booked slot: absolute times with their offset."""

    start: dt.datetime = Field(alias="from")
    end: dt.datetime = Field(alias="to")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a time with its offset is required")
        return value


class DailySlot(_Model):
    """A daily window, "HH:MM" to "HH:MM" in the venue's time zone (an end before the start: past midnight)."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day HH:MM (00:00-23:59) is required")
        return value

    def text(self) -> str:
        """How a message names the slot: 11:00-11:30."""
        return f"{self.start}-{self.end}"


class GroupWindows(_Model):
    """A roster group's windows: a meal group (canteen zones and slots) or a staff shift."""

    kind: Literal["meal", "shift"]
    zones: list[str] = Field(default_factory=list, max_length=64, description="meal: where the group eats (empty: any)")
    slots: list[DailySlot] = Field(min_length=1, max_length=48)


class Schedule(_Model):
    """A verified schedule body."""

    type: Literal["checkpoint-schedule"] = SCHEDULE_TYPE
    venue: str = ""
    issued_at: dt.datetime
    timezone: str = DEFAULT_TIMEZONE
    reservations: dict[str, list[Booking]] = Field(default_factory=dict)
    groups: dict[str, GroupWindows] = Field(default_factory=dict)
    gate_zones: dict[str, str] = Field(default_factory=dict, max_length=4096,
                                       description="gate id -> the canteen zone it stands in")
    controls: Controls | None = Field(default=None, description="the daily controls (protocols/controls.py)")

    def zone_of(self, gate: str, configured: str | None) -> str | None:
        """The zone a gate decides in: the one the venue's schedule gives it, else its configured one."""
        return self.gate_zones.get(gate) or configured

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("issued_at")
    @classmethod
    def _issued(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("issued_at needs its offset")
        return value

    def body(self) -> dict[str, Any]:
        """The JSON body that is signed (no null fields: a schedule without controls is signed as before)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_schedule(body: Mapping[str, Any]) -> Schedule:
    """A schedule body checked for shape; ScheduleError naming the first bad field."""
    try:
        return Schedule.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ScheduleError(f"schedule {where}: {first['msg']}") from None


def sign_schedule(schedule: Schedule, key: PrivateKey) -> dict[str, Any]:
    """The signed document a gate installs."""
    return sign_document(schedule.body(), key)


def verify_schedule(doc: Any, public_key: PublicKey) -> Schedule:
    """The schedule in a signed document, if `public_key` signed it; ScheduleError otherwise."""
    return parse_schedule(verify_document(doc, public_key, ScheduleError))


def _clock_minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _occurrences(slot: DailySlot, day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tz) + dt.timedelta(minutes=_clock_minutes(slot.start))
    end = dt.datetime.combine(day, dt.time(), tz) + dt.timedelta(minutes=_clock_minutes(slot.end))
    if end <= start:  # a night shift: ends the next day
        end += dt.timedelta(days=1)
    return start, end


def _pick(windows: list[tuple[dt.datetime, dt.datetime, str]], at: dt.datetime,
          early: dt.timedelta, late: dt.timedelta) -> tuple[bool, str | None]:
    """Whether `at` falls in one window (widened by the tolerances), and the window a message names:
    the open one, else the next one, else the last one (as the appointment picked for a visitor)."""
    if not windows:
        return False, None
    windows = sorted(windows)
    for start, end, text in windows:
        if start - early <= at <= end + late:
            return True, text
    upcoming = [w for w in windows if w[0] > at]
    return False, (upcoming[0] if upcoming else windows[-1])[2]


def window_facts(schedule: Schedule | None, holder: str | None, group: str | None, zone: str | None,
                 at: dt.datetime, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the rules read as `external.window` (None: no schedule loaded, the window rules are OPEN).

    `reservation`: the holder's booked slots, `{"open", "slot"}` (null when none is booked);
    `group` (a meal group) and `shift`: `{"name", "open", "slot", "zoneOk", "zones"}`, null when the
    holder's roster group has no windows of that kind (not limited). `open` counts the tolerances:
    reservationEarlyMinutes / reservationLateMinutes around a booking, shiftEarlyMinutes before a shift.
    """
    if schedule is None:
        return None
    tz = ZoneInfo(schedule.timezone)
    minutes = lambda name: dt.timedelta(minutes=int(params.get(name) or 0))  # noqa: E731
    reservation = None
    bookings = schedule.reservations.get(holder or "", [])
    if bookings:
        windows = [(b.start, b.end, f"{b.start.astimezone(tz):%H:%M}-{b.end.astimezone(tz):%H:%M}") for b in bookings]
        open_now, slot = _pick(windows, at, minutes("reservationEarlyMinutes"), minutes("reservationLateMinutes"))
        reservation = {"open": open_now, "slot": slot}
    facts: dict[str, Any] = {"reservation": reservation, "group": None, "shift": None, "zone": zone}
    windows_of = schedule.groups.get(group) if group else None
    if windows_of is not None:
        local = at.astimezone(tz).date()
        # Yesterday's night slot may still be running; tomorrow's names the next one after today's last.
        occurrences = [(*_occurrences(s, day, tz), s.text()) for s in windows_of.slots
                       for day in (local - dt.timedelta(days=1), local, local + dt.timedelta(days=1))]
        early = minutes("shiftEarlyMinutes") if windows_of.kind == "shift" else dt.timedelta()
        open_now, slot = _pick(occurrences, at, early, dt.timedelta())
        zone_ok = not windows_of.zones or zone in windows_of.zones
        facts["group" if windows_of.kind == "meal" else "shift"] = {
            "name": group, "open": open_now, "slot": slot, "zoneOk": zone_ok, "zones": "/".join(windows_of.zones)}
    return facts
