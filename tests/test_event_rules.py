"""The rules beside GateEvent agree with themselves: the SQL form of "takes a place" with the
predicate, and the one time text with the forms each store and document wrote before."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import typing

import pytest

from protocols.clock import GATE_STORE_ZONE, utc_seconds, utc_text
from protocols.events import Decision, EventKind, TAKES_PLACE_SQL, takes_place


def test_the_sql_and_the_predicate_take_the_same_events() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE events (kind TEXT, direction TEXT, decision TEXT)")
    combos = list(itertools.product(typing.get_args(EventKind), ("in", "out"), (*typing.get_args(Decision), None)))
    db.executemany("INSERT INTO events VALUES (?, ?, ?)", combos)
    by_sql = set(db.execute(f"SELECT kind, direction, decision FROM events WHERE {TAKES_PLACE_SQL}").fetchall())
    assert by_sql == {c for c in combos if takes_place(*c)} == {("decision", "in", "admit"), ("manual", "in", "admit")}


@pytest.mark.parametrize("t", [dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone.utc),
                               dt.datetime(2026, 5, 1, 16, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))])
def test_the_time_text_is_what_each_side_wrote_before(t: dt.datetime) -> None:
    utc = t.astimezone(dt.timezone.utc)
    assert utc_text(t) == utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # the hub's
    assert utc_text(t, zone=GATE_STORE_ZONE) == utc.isoformat(timespec="microseconds")  # the gate store's
    assert utc_seconds(t) == utc.strftime("%Y-%m-%dT%H:%M:%SZ")  # signed documents', the rules' payload
