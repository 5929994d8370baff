"""A process's shared copy of a venue's presence window answers every gate exactly what the database does."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from protocols.events import GateEvent, new_event_id
from server import presence_window

VENUE = "hall-3"
GATES = ("g1", "g2", "g3", "g4")


@pytest.fixture
def store(hub_factory):
    built = hub_factory(venues={VENUE: {}, "other": {}})
    for venue, gates in ((VENUE, GATES), ("other", ("g1",))):
        for gate in gates:  # doors used both ways: entries and exits at every gate
            built.store.create_gate(venue, gate, direction="both")
    presence_window.forget()
    yield built.store
    presence_window.forget()


def _events(rng: random.Random, now: dt.datetime, venue: str = VENUE) -> list[GateEvent]:
    gate = rng.choice(GATES if venue == VENUE else ("g1",))
    return [GateEvent(id=new_event_id(), kind="decision", venue=venue, gate=gate, decision="admit",
                      direction=rng.choice(("in", "out")), subject=f"h-{rng.randrange(30)}",
                      at=now - dt.timedelta(seconds=rng.choice((1, 5, 50, 200, 900))))
            for _ in range(rng.randrange(1, 6))]


def _from_database(store, gate: str, after: int, since: dt.datetime, limit: int) -> tuple[list, int, bool]:
    page = store.presence_changes(VENUE, gate, after, since, limit)
    return page.changes, page.cursor, page.more


def _from_window(store, gate: str, after: int, since: dt.datetime, now: dt.datetime, limit: int) -> tuple[list, int, bool]:
    page = presence_window.changes(store, VENUE, gate, after, since, now, limit)
    return json.loads(page.json), page.cursor, page.more


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_answer_is_the_databases_whatever_the_cursor_window_or_page(store, seed, monkeypatch):
    # A copy spanning few ids, so it drops rows and leaves gates behind it to the database; a short trim interval.
    monkeypatch.setattr(presence_window, "MAX_ROWS", 40)
    monkeypatch.setattr(presence_window, "TRIM_EVERY", dt.timedelta(0))
    rng = random.Random(seed)
    cursors = {gate: 0 for gate in GATES}
    now = dt.datetime.now(dt.timezone.utc)
    for step in range(150):
        store.ingest(_events(rng, now, rng.choice((VENUE, VENUE, "other"))), received_at=now)
        gate = rng.choice(GATES)
        window = dt.timedelta(seconds=rng.choice((60, 600, 3600)))
        limit = rng.choice((3, 1000))
        after = cursors[gate] if rng.random() < 0.9 else rng.randrange(0, cursors[gate] + 1)  # sometimes a replayed cursor
        expected = _from_database(store, gate, after, now - window, limit)
        got = _from_window(store, gate, after, now - window, now, limit)
        assert got == expected, f"step {step}, gate {gate}, after {after}"
        cursors[gate] = got[1]


def test_a_gate_never_hears_a_change_twice_nor_misses_one(store):
    rng = random.Random(7)
    now = dt.datetime.now(dt.timezone.utc)
    heard: dict[str, list] = {gate: [] for gate in GATES}
    cursors = {gate: 0 for gate in GATES}
    for _ in range(60):
        store.ingest(_events(rng, now), received_at=now)
        gate = rng.choice(GATES)
        changes, cursors[gate], _ = _from_window(store, gate, cursors[gate], now - dt.timedelta(hours=1), now, 2)
        heard[gate] += changes
    for gate in GATES:  # everything left, page by page
        more = True
        while more:
            changes, cursors[gate], more = _from_window(store, gate, cursors[gate], now - dt.timedelta(hours=1), now, 2)
            heard[gate] += changes
        everything, _, _ = _from_database(store, gate, 0, now - dt.timedelta(hours=1), 100_000)
        assert heard[gate] == everything


def test_a_database_whose_ids_went_back_is_read_again(store):
    # A copy further on than the database (a restored hub under the same name): dropped, read again.
    now = dt.datetime.now(dt.timezone.utc)
    first = store
    rng = random.Random(3)
    for _ in range(5):
        first.ingest(_events(rng, now), received_at=now)
    held = presence_window.changes(first, VENUE, "g9", 0, now - dt.timedelta(hours=1), now)
    assert held.cursor == first.presence_top(VENUE) > 0
    key = (first.url.render_as_string(hide_password=False), VENUE)
    with presence_window._lock:
        copy = presence_window._venues[key]
        copy.top += 1000  # as if the copy were of a database further on, whose last row is another's
        copy.encoded[-1] = json.dumps({"subject": "h-of-the-other-database", "direction": "in", "at": "x"}).encode()
    again = presence_window.changes(first, VENUE, "g9", 0, now - dt.timedelta(hours=1), now)
    assert (json.loads(again.json), again.cursor) == (json.loads(held.json), held.cursor)
