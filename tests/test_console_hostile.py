"""The console against hostile data and hostile requests, on a real app and a real SQLite file:
stored times no local clock can show, query strings of any shape."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_sql
from tests.test_console_routes import TZ, Hub, gate_event

# Stored times a console may meet: the far end of what a datetime holds (no local form east of UTC),
# the near end, text that is no time at all, and text that sorts inside a day but does not parse.
HOSTILE_TIMES = ("9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00.000000Z", "not a time")


@pytest.fixture
def hub(hub_factory) -> Hub:
    return Hub(hub_factory)


def _set_at(hub: Hub, event_id: str, at: str) -> None:
    """Give a stored event a time the hub's ingest may now refuse: rows kept before (or by an older hub) remain."""
    run_sql(hub.db, "UPDATE events SET at = ? WHERE id = ?", [at, event_id])


def test_events_with_times_no_clock_can_show_do_not_take_the_console_down(hub: Hub) -> None:
    yesterday = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    noon = dt.datetime.combine(yesterday, dt.time(12), tzinfo=TZ)
    hostile = [gate_event("school1", "north", noon, decision="deny", failed=("GATE-TEMP-01",)) for _ in HOSTILE_TIMES]
    fever = gate_event("school1", "south", noon, decision="deny", kind="fever", failed=("GATE-TEMP-01",), celsius=39.0)
    hub.store.ingest([*hostile, fever])
    for event, at in zip(hostile, HOSTILE_TIMES):
        _set_at(hub, event.id, at)
    # Inside yesterday as text (the report selects it), but not a time.
    _set_at(hub, fever.id, noon.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z") + "!")
    run_sql(hub.db, "UPDATE gates SET last_seen = '9999-99-99' WHERE id = 'north'")
    admin, guard = hub.client("admin"), hub.client("wang")
    pages = ["/console/", "/console/denials", "/console/denials?decision=deny&page=1",
             f"/console/reports?venue=school1&day={yesterday}", f"/console/reports/school1/{yesterday}.csv",
             "/console/audit", *(f"/console/denials/{e.id}" for e in hostile)]
    for path in pages:
        answer = admin.get(path)
        assert answer.status_code == 200, path
    for path in ("/console/", "/console/denials"):
        page = guard.get(path).get_data(as_text=True)
        assert "无效时间 invalid time (9999-12-31T23:59:59.999999Z)" in page and "无效时间 invalid time (not a time)" in page
    report = admin.get(f"/console/reports/school1/{yesterday}.csv").get_data(as_text=True)
    assert "无效时间 invalid time" in report  # the fever whose time is unreadable is still counted


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00", "until=9999-12-31T23:59", "since=9999-12-31T23:59"])
def test_times_typed_at_the_ends_of_the_calendar_are_a_clear_400(hub: Hub, query: str) -> None:
    answer = hub.client("li").get(f"/console/denials?{query}")
    assert answer.status_code == 400 and "1970" in answer.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_report_days_at_the_ends_of_the_calendar_are_a_clear_400(hub: Hub, day: str) -> None:
    client = hub.client("li")
    assert client.get(f"/console/reports?venue=school1&day={day}").status_code == 400
    assert client.get(f"/console/reports/school1/{day}.csv").status_code == 400


def test_unknown_query_keys_on_the_denials_page_are_ignored(hub: Hub) -> None:
    start = dt.datetime.now(TZ) - dt.timedelta(hours=1)
    hub.store.ingest([gate_event("school1", "north", start + dt.timedelta(seconds=i), decision="deny",
                                 failed=("GATE-TEMP-01",)) for i in range(3)])
    client = hub.client("li")
    for query in ("page=2&_scheme=javascript", "page=2&_external=1&_anchor=x", "page=2&endpoint=x&values=y"):
        answer = client.get(f"/console/denials?{query}")
        assert answer.status_code == 200, query
        page = answer.get_data(as_text=True)
        assert "javascript" not in page and "endpoint=" not in page and "_external" not in page
        assert 'href="/console/denials">首页' in page  # past the last page: the way back to the first


# ---- a fuzz over the query of every console GET route ------------------------------------------

KNOWN_KEYS = ["venue", "gate", "since", "until", "decision", "rule", "person_class", "name", "page", "day",
              "next", "format", "_scheme", "_external", "_anchor", "_method", "endpoint", "values"]
TRICKY_VALUES = ["", "0", "-1", "1e9", "99999999999999999999", "9999-12-31", "0001-01-01", "9999-12-31T23:59",
                 "0001-01-01T00:00", "2026-02-30", "deny", "refer", "admit", "school1", "factory1", "x" * 200,
                 "%00", "\x00", "'; DROP TABLE events;--", "javascript:alert(1)", "//evil.example", "１２"]
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12))
values = st.one_of(st.sampled_from(TRICKY_VALUES), st.text(max_size=40))
queries = st.one_of(
    st.lists(st.tuples(keys, values), max_size=6).map(urlencode),
    st.binary(max_size=60).map(lambda b: quote(b, safe="&=;")),  # any bytes once decoded, not even UTF-8
)
# A path parameter: a real value, or anything.
PATH_VALUES = {"event_id": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"], "venue_id": ["school1", "factory1", "nowhere"],
               "day": ["2026-01-01", "9999-12-31", "0001-01-01", "yesterday"], "filename": ["console.css"],
               "gate_id": ["north", "south", "nowhere"], "venue": ["school1", "factory1", "nowhere"],
               "subject": ["ab" * 32, "nobody"]}


def console_get_routes(app) -> list:
    """Every GET rule of the console blueprint (a new page is fuzzed without a change here)."""
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint.startswith("console.") and "GET" in r.methods),
                  key=lambda r: r.rule)


@pytest.mark.slow
def test_no_query_string_gives_a_server_error_on_any_console_page(hub: Hub) -> None:
    routes = console_get_routes(hub.app)
    assert len(routes) >= 8
    start = dt.datetime.now(TZ) - dt.timedelta(hours=1)
    hub.store.ingest([gate_event("school1", "north", start + dt.timedelta(seconds=i), decision="deny",
                                 failed=("GATE-TEMP-01",)) for i in range(3)])
    clients = {user: hub.client(user) for user in ("admin", "li", "wang")}
    # A command of each venue (a gate command's page): one the supervisor of school1 may see, one not.
    path_map = {**PATH_VALUES, "command_id": [hub.store.create_command("school1", "north", "reload", "li"),
                                              hub.store.create_command("factory1", "north", "open", "admin", "x"),
                                              "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
                # A bundle preview of each venue (its page), and an id that is none.
                "preview_id": [hub.store.create_preview("school1", "v1", b"{}", "li", ["north"]),
                               hub.store.create_preview("factory1", "v1", b"{}", "admin", []),
                               "01ARZ3NDEKTSV4RRFFQ69G5FAV"]}
    # TESTING is on: a view that raises fails the example with its traceback, not just a 500.

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
    @given(route=st.sampled_from(routes), user=st.sampled_from(sorted(clients)), query=queries,
           path_values=st.fixed_dictionaries({k: st.one_of(st.sampled_from(v), st.text(min_size=1, max_size=20))
                                              for k, v in path_map.items()}))
    def fuzz(route, user, query, path_values) -> None:
        args = {name: path_values[name] for name in route.arguments}
        path = hub.app.url_map.bind("localhost").build(route.endpoint, args) if args else route.rule
        answer = clients[user].get(path, query_string=query)
        assert answer.status_code < 500, (path, query, answer.status_code)

    fuzz()
