"""Contact tracing (追踪接触): everyone whose presence at a venue came within a window of one person's.

A **stay** runs from an entry (an event that took a place) to the same person's next exit, when that exit
comes within the venue's longest stay (its `dwell_minutes`, else the hub's one-day presence limit); an entry
without one is an **open** stay, lasting until the person's next entry, the longest stay, or now, whichever
comes first. A refused or referred presentation (a fever, a red code, a re-measure prompt...) and an exit with no
entry before it are **points**: the person stood at that gate at that moment. The index person's stays and points in the chosen days,
each widened by the window on both sides, are the intervals; a contact is anyone else with a stay or point
touching one of them (the ends count). SQL: `server/store_trace.py`.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from protocols.clock import utc_text
from protocols.events import PRESENCE_WINDOW_MAX
from server.reports import stored_time

KINDS = ("stay", "open", "point")
MAX_WINDOW_MINUTES = 720
MAX_DAYS = 31


@dataclass(frozen=True)
class Presence:
    """One stay or point of one person: from when and which gate, until when and which gate."""

    subject: str
    name: str | None
    person_class: str | None
    kind: str  # one of KINDS
    start: dt.datetime
    end: dt.datetime
    gate_in: str
    gate_out: str | None  # the exit's gate (a stay), None otherwise


@dataclass
class Contact:
    """A person whose presence touched the index person's widened intervals, with the presences that did."""

    subject: str
    name: str | None
    person_class: str | None
    presences: list[Presence] = field(default_factory=list)
    gap: dt.timedelta = dt.timedelta(0)  # the closest they came to one of the index person's presences


@dataclass
class Trace:
    """A trace's question and answer."""

    venue: str
    subject: str
    since: dt.datetime
    until: dt.datetime
    window: dt.timedelta
    index: list[Presence]
    contacts: list[Contact]


def longest_stay(venue: dict[str, Any]) -> dt.timedelta:
    """How long an entry can count as a stay: the venue's dwell time (no exit gates), else one day."""
    dwell = venue.get("dwell_minutes")
    return dt.timedelta(minutes=int(dwell)) if dwell else PRESENCE_WINDOW_MAX


class _Times:
    """Stored times parsed once each (an exit's time is also its entry's `next_at`): the trace parses tens of
    thousands, and this was a third of its time."""

    def __init__(self) -> None:
        self.seen: dict[str, dt.datetime] = {}

    def __call__(self, value: str) -> dt.datetime:
        t = self.seen.get(value)
        if t is None:
            t = stored_time(value)
            if t is None:  # the hub writes every `at` itself (utc_text): anything else is a damaged row
                raise ValueError(f"not a stored time: {value!r}")
            self.seen[value] = t
        return t


def presences(moves: list[Any], points: list[Any], longest: dt.timedelta, now: dt.datetime) -> list[Presence]:
    """Stays from entry/exit rows (with their neighbours, `trace_moves`) and points from the other rows."""
    out: list[Presence] = []
    t = _Times()
    for r in moves:
        at = t(r.at)
        if r.move == "in":
            next_at = t(r.next_at) if r.next_at else None
            if r.next_move == "out" and next_at is not None and next_at - at <= longest:
                out.append(Presence(r.subject, r.name, r.person_class, "stay", at, next_at, r.gate, r.next_gate))
                continue
            end = min(at + longest, now, *([next_at] if next_at is not None else []))
            out.append(Presence(r.subject, r.name, r.person_class, "open", at, max(at, end), r.gate, None))
        elif not (r.prev_move == "in" and r.prev_at and at - t(r.prev_at) <= longest):
            # An exit with no entry before it (within the longest stay): they were at that gate then.
            out.append(Presence(r.subject, r.name, r.person_class, "point", at, at, r.gate, None))
    for r in points:
        at = t(r.at)
        out.append(Presence(r.subject, r.name, r.person_class, "point", at, at, r.gate, None))
    return sorted(out, key=lambda p: (p.start, p.end, p.subject))


def widened(index: list[Presence], window: dt.timedelta) -> list[tuple[dt.datetime, dt.datetime]]:
    """The index person's presences widened by the window on both sides, overlapping ones merged."""
    merged: list[list[dt.datetime]] = []
    for p in sorted(index, key=lambda p: p.start):
        a, b = p.start - window, p.end + window
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


class Intervals:
    """Disjoint sorted intervals (both ends included), asked how far a presence is from them."""

    def __init__(self, spans: list[tuple[dt.datetime, dt.datetime]]):
        self.spans = spans
        self.starts = [a for a, _b in spans]

    def gap(self, p: Presence) -> dt.timedelta | None:
        """How far the presence is from the nearest interval (zero: it touches one); None when there are none."""
        i = bisect_right(self.starts, p.end) - 1  # the last interval starting by the presence's end
        if i >= 0 and self.spans[i][1] >= p.start:
            return dt.timedelta(0)
        gaps = ([p.start - self.spans[i][1]] if i >= 0 else []) + (
            [self.spans[i + 1][0] - p.end] if i + 1 < len(self.spans) else [])
        return min(gaps) if gaps else None


def trace(store: Any, venue: dict[str, Any], subject: str, since: dt.datetime, until: dt.datetime,
          window: dt.timedelta, now: dt.datetime) -> Trace:
    """Everyone whose presence at the venue came within `window` of the person's presences in [since, until)."""
    longest = longest_stay(venue)
    vid = venue["id"]
    own = presences(store.trace_moves(vid, utc_text(since - longest), utc_text(until + longest), subject=subject),
                    store.trace_points(vid, [(utc_text(since), utc_text(until))], subject=subject), longest, now)
    index = [p for p in own if p.start < until and p.end >= since]
    intervals = widened(index, window)
    contacts: dict[str, Contact] = {}
    if intervals:
        text = [(utc_text(a), utc_text(b)) for a, b in intervals]
        reach = [(utc_text(a - longest), ta, tb) for (a, _b), (ta, tb) in zip(intervals, text)]
        moves = store.trace_moves(vid, utc_text(intervals[0][0] - longest), utc_text(intervals[-1][1] + longest),
                                  overlapping=reach, exclude=subject)
        within, own_spans = Intervals(intervals), Intervals(widened(index, dt.timedelta(0)))
        for p in presences(moves, store.trace_points(vid, text, exclude=subject), longest, now):
            if within.gap(p) != dt.timedelta(0):
                continue  # the SQL's superset: an open stay that ended before the interval
            c = contacts.get(p.subject)
            if c is None:
                c = contacts[p.subject] = Contact(p.subject, p.name, p.person_class, gap=own_spans.gap(p) or dt.timedelta(0))
            c.name, c.person_class = p.name or c.name, p.person_class or c.person_class
            c.gap = min(c.gap, own_spans.gap(p) or dt.timedelta(0))
            c.presences.append(p)
    ordered = sorted(contacts.values(), key=lambda c: (c.presences[0].start, c.subject))
    return Trace(vid, subject, since, until, window, index, ordered)
