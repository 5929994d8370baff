"""Each venue's recent presence changes, read from the database once per hub process and shared by its gates.

Every sync answer carries the changes the venue's other gates made since that gate's cursor: with 100
gates syncing each second, each change would be read and encoded ~100 times. Here a process keeps the
venue's changes of the anti-passback window in id order, each already encoded as its JSON object,
adds only those with ids past what it holds, and answers each gate by slicing that list by cursor.

Why this never hands a gate a change twice nor skips one, with several hub processes each with its own
copy: presence ids grow in commit order (writers are serialised, server/store.py `write`), and a row is
never changed once written, so every row with id <= `top` (the venue's highest id, read first on each
sync) is final. A window answers exactly what `HubStore.presence_changes` reads: the rows with
after < id <= top, at another gate, at or after `since`, the first PRESENCE_PAGE of them, and the same
cursor (the last id when more wait, else top). A copy that cannot answer so (a cursor older than it
holds, a longer window than it keeps, a database whose ids went back) leaves the answer to the database.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from protocols.clock import utc_text
from protocols.contract import PRESENCE_PAGE
from protocols.events import PRESENCE_WINDOW_MAX
from server.store import HubStore, PresencePage

MAX_ROWS = 50_000  # ids a venue's copy spans at most (ids are the hub's, so at most that many rows)
SLACK = dt.timedelta(minutes=1)  # kept beyond the longest window asked, so a slightly longer one still fits
TRIM_EVERY = dt.timedelta(seconds=30)  # how often rows older than the window are dropped


@dataclass
class _Venue:
    """One venue's copy: every row with base < id <= top and at >= floor, in id order."""

    base: int
    top: int
    floor: str
    window: dt.timedelta
    ids: list[int] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    ats: list[str] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    trimmed_at: dt.datetime | None = None

    def add(self, rows: list[tuple[int, str, str, str, str]]) -> None:
        """Append rows read in id order (id, gate, subject, direction, at), each encoded once."""
        for id_, gate, subject, direction, at in rows:
            self.ids.append(id_)
            self.gates.append(gate)
            self.ats.append(at)
            self.encoded.append(orjson.dumps({"subject": subject, "direction": direction, "at": at}))

    def keep(self, after_id: int, floor: str) -> None:
        """Drop the rows with ids up to `after_id` or older than `floor`."""
        kept = [k for k in range(bisect.bisect_right(self.ids, after_id), len(self.ids)) if self.ats[k] >= floor]
        self.ids = [self.ids[k] for k in kept]
        self.gates = [self.gates[k] for k in kept]
        self.ats = [self.ats[k] for k in kept]
        self.encoded = [self.encoded[k] for k in kept]
        self.base, self.floor = max(self.base, after_id), max(self.floor, floor)


@dataclass(frozen=True)
class EncodedPage:
    """A page of presence changes as a JSON array already written (bytes), and the cursor to ask from next."""

    json: bytes
    cursor: int
    more: bool


_lock = threading.Lock()
_venues: dict[tuple[str, str], _Venue] = {}


def encoded_page(page: PresencePage) -> EncodedPage:
    """A page read from the database, in the same form as a window's."""
    return EncodedPage(orjson.dumps(page.changes), page.cursor, page.more)


def changes(store: HubStore, venue: str, gate: str, after: int, since: dt.datetime, now: dt.datetime,
            limit: int = PRESENCE_PAGE) -> EncodedPage:
    """The venue's presence changes at other gates after cursor `after`, at or after `since`, as JSON: what
    `store.presence_changes` answers, from this process's copy of the venue's window when it holds them."""
    top = store.presence_top(venue)
    if after > top:
        after = 0  # a cursor from another database (the hub was restored): start over
    since_text = utc_text(since)
    key = (store.url.render_as_string(hide_password=False), venue)
    with _lock:
        held = _venues.get(key)
        if held is not None and top < held.top:
            del _venues[key]  # the database's ids went back (a restore): this copy is of another database
            held = None
        if held is None or since_text < held.floor:
            window = max(now - since, held.window if held is not None else dt.timedelta(0))
            held = _seed(store, venue, top, min(window, PRESENCE_WINDOW_MAX), now)
            _venues[key] = held
        elif top > held.top:
            held.add(store.presence_rows(venue, held.top, top, held.floor))
            held.top = top
            if held.trimmed_at is None or now - held.trimmed_at > TRIM_EVERY:
                held.keep(max(held.base, top - MAX_ROWS), utc_text(now - held.window - SLACK))
                held.trimmed_at = now
        if after < held.base:  # further behind than this copy reaches (rare): the database answers
            answer = None
        else:
            answer = _page(held, gate, after, top, since_text, limit)
    return answer if answer is not None else encoded_page(store.presence_changes(venue, gate, after, since, limit))


def _seed(store: HubStore, venue: str, top: int, window: dt.timedelta, now: dt.datetime) -> _Venue:
    floor = utc_text(now - window - SLACK)
    base = max(0, top - MAX_ROWS)
    held = _Venue(base=base, top=top, floor=floor, window=window, trimmed_at=now)
    held.add(store.presence_rows(venue, base, top, floor))
    return held


def _page(held: _Venue, gate: str, after: int, top: int, since: str, limit: int) -> EncodedPage:
    parts: list[bytes] = []
    last = after
    for k in range(bisect.bisect_right(held.ids, after), bisect.bisect_right(held.ids, top)):
        if held.gates[k] != gate and held.ats[k] >= since:
            parts.append(held.encoded[k])
            last = held.ids[k]
            if len(parts) == limit:
                return EncodedPage(b"[" + b",".join(parts) + b"]", last, True)
    return EncodedPage(b"[" + b",".join(parts) + b"]", top, False)


def forget() -> None:
    """Drop every copy (tests that rebuild a database in place)."""
    with _lock:
        _venues.clear()


def presence_json(page: EncodedPage) -> Any:
    """The page's changes for an answer written by orjson, as the JSON they already are."""
    return orjson.Fragment(page.json)
