"""Contact tracing on both engines: hand-made stays whose contacts are known (the window's edges, no exit,
an exit before any entry, a next entry closing an open stay, another venue's events), then the console page."""

from __future__ import annotations

import datetime as dt

import pytest

from server.contact_trace import trace
from tests.test_console_routes import TZ, gate_event

DAY = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
NOW = dt.datetime.now(dt.timezone.utc)
WINDOW = dt.timedelta(minutes=30)


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    """A local time on the test's day."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=TZ)


def who(letter: str) -> str:
    """A subject hash for a person of the test."""
    return (letter * 32)[:32]


def entry(subject: str, t: dt.datetime, gate: str = "in1", venue: str = "v1", **kw):
    return gate_event(venue, gate, t, subject=subject, name=f"{subject[0]}*", **kw)


def leave(subject: str, t: dt.datetime, gate: str = "out1", venue: str = "v1"):
    return gate_event(venue, gate, t, subject=subject, name=f"{subject[0]}*", direction="out", kind="exit",
                      decision=None)


@pytest.fixture
def store(hub_factory):
    hub = hub_factory(venues={"v1": {"name": "一号场所"}, "v2": {"name": "二号场所"}, "d1": {"dwell_minutes": 30}})
    for venue, gate, direction in (("v1", "in1", "in"), ("v1", "in2", "in"), ("v1", "out1", "out"),
                                   ("v2", "in1", "in"), ("v2", "out1", "out"), ("d1", "door", "in")):
        hub.store.create_gate(venue, gate, direction=direction)
    return hub.store


def names(result) -> dict[str, list[str]]:
    return {c.subject[0]: [p.kind for p in c.presences] for c in result.contacts}


def test_contacts_are_the_stays_within_the_window_of_the_index_persons(store) -> None:
    x = who("x")
    result = store.ingest([
        entry(x, at(9)), leave(x, at(10)),  # the index person: 09:00-10:00, so 08:30-10:30 with the window
        entry(who("a"), at(7)), leave(who("a"), at(8, 30)),  # left exactly at the window's start: in
        entry(who("b"), at(7)), leave(who("b"), at(8, 29, 59)),  # a second before it: out
        entry(who("c"), at(10, 30), gate="in2"), leave(who("c"), at(11)),  # came exactly at its end: in
        entry(who("d"), at(10, 30, 1)),  # a second after, and never left: out
        entry(who("e"), at(6)),  # came early and no exit: an open stay, still inside
        leave(who("f"), at(9, 15)), entry(who("f"), at(12)), leave(who("f"), at(13)),  # exit before any entry
        entry(who("g"), at(10, 10), gate="in2", decision="deny", failed=("GATE-CODE-01",)),  # refused at the gate
        entry(who("i"), at(8)), entry(who("i"), at(8, 20)), leave(who("i"), at(8, 25)),  # passed back, left 08:25
        entry(who("h"), at(9), venue="v2"), leave(who("h"), at(10), venue="v2"),  # another venue
        entry(who("j"), at(9, 30, day=DAY - dt.timedelta(days=3))),  # another day
    ])
    assert result.refused == [], result.refused
    got = trace(store, store.venue("v1"), x, at(0), at(0, day=DAY + dt.timedelta(days=1)), WINDOW, NOW)
    assert [(p.kind, p.start, p.end, p.gate_in, p.gate_out) for p in got.index] == [("stay", at(9), at(10), "in1", "out1")]
    assert names(got) == {"a": ["stay"], "c": ["stay"], "e": ["open"], "f": ["point"], "g": ["point"]}
    by = {c.subject[0]: c for c in got.contacts}
    assert by["a"].gap == WINDOW and by["c"].gap == WINDOW and by["e"].gap == dt.timedelta(0)
    assert by["f"].presences[0].start == at(9, 15) and by["f"].gap == dt.timedelta(0)
    assert by["g"].presences[0].gate_in == "in2" and by["g"].gap == dt.timedelta(minutes=10)
    assert by["c"].presences[0].gate_in == "in2" and by["c"].presences[0].end == at(11)
    assert by["e"].presences[0].end == min(at(6) + dt.timedelta(days=1), NOW)  # the one-day presence limit, or now
    assert [c.subject[0] for c in got.contacts] == ["e", "a", "f", "g", "c"]  # by when their presence began
    # A narrower window drops those who only came within it.
    assert set(names(trace(store, store.venue("v1"), x, at(0), at(23), dt.timedelta(0), NOW))) == {"e", "f"}


def test_an_index_person_without_an_exit_stays_until_their_next_entry_or_now(store) -> None:
    x = who("x")
    store.ingest([entry(x, at(9)), entry(x, at(15)), leave(x, at(16)),
                  entry(who("a"), at(13)), leave(who("a"), at(14)),  # inside 09:00-15:00: X had not left
                  entry(who("b"), at(16, 31)), leave(who("b"), at(17))])
    got = trace(store, store.venue("v1"), x, at(0), at(23), WINDOW, NOW)
    assert [(p.kind, p.start, p.end) for p in got.index] == [("open", at(9), at(15)), ("stay", at(15), at(16))]
    assert names(got) == {"a": ["stay"]}
    # Only the index person's presences in the chosen days count.
    assert trace(store, store.venue("v1"), x, at(16, 30), at(23), WINDOW, NOW).index == []


def test_a_venue_without_exit_gates_counts_each_entry_for_its_dwell_time(store) -> None:
    x = who("x")
    store.ingest([gate_event("d1", "door", at(12), subject=x),
                  gate_event("d1", "door", at(11, 30), subject=who("a")),  # inside until 12:00: touches 11:30
                  gate_event("d1", "door", at(10, 59), subject=who("b")),  # until 11:29: out
                  gate_event("d1", "door", at(13), subject=who("c"))])  # 12:30 + 30 min: in
    got = trace(store, store.venue("d1"), x, at(0), at(23), WINDOW, NOW)
    assert [(p.start, p.end) for p in got.index] == [(at(12), at(12, 30))]
    assert sorted(names(got)) == ["a", "c"]


# ---- the console page -------------------------------------------------------------------------

@pytest.fixture
def hub(hub_factory):
    from tests.test_console_routes import Hub

    console = Hub(hub_factory)
    for gate, direction in (("in1", "in"), ("out1", "out")):
        console.store.create_gate("school1", gate, direction=direction)
    return console


def test_the_trace_page_lists_contacts_in_the_venues_zone_and_is_audited(hub) -> None:
    import csv
    import io

    x = who("x")
    fever = gate_event("school1", "in1", at(9), subject=x, name="王*明", decision="deny", kind="fever",
                       failed=("GATE-TEMP-01",), celsius=38.4)
    result = hub.store.ingest([fever, entry(who("a"), at(8, 10), "north", "school1"), leave(who("a"), at(8, 40), venue="school1"),
                               entry(who("b"), at(7), "north", "school1"), leave(who("b"), at(8), venue="school1")])
    assert result.refused == []
    for user, status in (("wang", 403), ("li", 200), ("admin", 200)):  # a guard may not; supervisors and admins may
        answer = hub.client(user).get(f"/console/trace?event={fever.id}")
        assert answer.status_code == status, user
    page = hub.client("li").get(f"/console/trace?event={fever.id}").get_data(as_text=True)
    assert "王*明" in page and "a*" in page and "b*" not in page
    assert at(8, 10).strftime("%m-%d %H:%M:%S") in page  # local (Asia/Shanghai) time, not UTC
    assert '<b id="contact-count">1</b>' in page
    rows = list(csv.reader(io.StringIO(hub.client("li").get(
        f"/console/trace.csv?event={fever.id}&window=60").get_data(as_text=True))))
    assert rows[0][0].startswith("\ufeff姓名")
    assert [(r[0], r[4], r[5], r[6]) for r in rows[1:]] == [
        ("b*", "north", at(7).strftime("%Y-%m-%d %H:%M:%S +0800"), "out1"),
        ("a*", "north", at(8, 10).strftime("%Y-%m-%d %H:%M:%S +0800"), "out1")]
    actions = [(a["username"], a["action"], a["target"]) for a in hub.audit() if a["action"].startswith("trace.")]
    assert ("li", "trace.export", f"{fever.id} {DAY}..{DAY} ±60min: 2 contacts") in actions
    assert ("li", "trace.contacts", f"{fever.id} {DAY}..{DAY} ±30min: 1 contacts") in actions
    # The page lists the first contacts only; the count and the CSV have them all.
    import server.console.trace_views as views

    views.PAGE_CONTACTS, before = 1, views.PAGE_CONTACTS
    try:
        page = hub.client("li").get(f"/console/trace?event={fever.id}&window=60").get_data(as_text=True)
    finally:
        views.PAGE_CONTACTS = before
    assert '<b id="contact-count">2</b>' in page and "b*" in page and "a*" not in page and 'id="more-contacts"' in page
    # The denial's page links to it.
    assert f"/console/trace?event={fever.id}" in hub.client("li").get(f"/console/denials/{fever.id}").get_data(as_text=True)


def test_a_trace_outside_the_users_venue_or_with_bad_input_is_refused(hub) -> None:
    other = gate_event("factory1", "north", at(9), subject=who("y"))
    mine = gate_event("school1", "in1", at(9), subject=who("x"))
    hub.store.ingest([other, mine])
    li = hub.client("li")
    assert li.get(f"/console/trace?event={other.id}").status_code == 403
    assert li.get("/console/trace?event=01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    for bad in ("window=-1", "window=721", "window=x", f"since={DAY}&until={DAY - dt.timedelta(days=1)}",
                f"since={DAY - dt.timedelta(days=40)}", "since=2026-13-01"):
        assert li.get(f"/console/trace?event={mine.id}&{bad}").status_code == 400, bad
    assert li.get("/console/trace").status_code == 200  # the empty form
    assert li.get("/console/trace.csv").status_code == 400
