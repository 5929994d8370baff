"""Retention reaches every table with personal data (issue 9): events' operator and note, denial
reviews, reservations, visits and the audit's query strings and source addresses, past the venue's
retention, in bounded batches, on a real SQLite hub database; counts and reports stay."""

from __future__ import annotations

import datetime as dt

import pytest

from protocols.clock import utc_text
from server.reports import build_report
from server.retention import purge
from tests.conftest import run_sql
from tests.test_console_routes import TZ, Hub, gate_event


@pytest.fixture
def hub(hub_factory) -> Hub:
    return Hub(hub_factory)


def backdate(hub: Hub, sql: str, params: list) -> None:
    """Move rows into the past as time would (the store stamps them with now)."""
    run_sql(hub.db, sql, params)


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.now(TZ) - dt.timedelta(days=days)


def personal_rows(hub: Hub) -> dict[str, list[tuple]]:
    """The personal fields of every table retention touches, straight from the database."""
    q = lambda sql: run_sql(hub.db, sql)  # noqa: E731
    return {
        "events": q("SELECT id, subject, name, operator, note FROM events ORDER BY id"),
        "reviews": q("SELECT event_id, reviewer, note FROM denial_reviews ORDER BY event_id"),
        "reservations": q("SELECT slot, subject FROM reservations ORDER BY slot"),
        "visits": q("SELECT id, name, subject, host, purpose, created_by, decided_by FROM visits ORDER BY id"),
        "audit": q("SELECT action, target, username FROM audit WHERE action IN"
                   " ('denials.list', 'api.events', 'login.failed') ORDER BY id"),
    }


def test_every_table_with_personal_data_is_cleared_past_retention_and_counts_stay(hub: Hub) -> None:
    store = hub.store
    old = gate_event("school1", "north", days_ago(40), decision="deny", failed=("GATE-TEMP-01",)).model_copy(
        update={"operator": "王保安", "note": "手动放行 override"})
    new = gate_event("school1", "north", days_ago(5), decision="deny", failed=("GATE-TEMP-01",)).model_copy(
        update={"operator": "李保安", "note": "再测 re-measure"})
    store.ingest([old, new])
    store.review_denial(old.id, "li", "发热，已劝返")
    store.review_denial(new.id, "li", "已复核")
    backdate(hub, "UPDATE denial_reviews SET reviewed_at = ? WHERE event_id = ?", [utc_text(days_ago(39)), old.id])
    store.reserve("school1", utc_text(days_ago(40)), "cd" * 16, 10)
    store.reserve("school1", utc_text(days_ago(40)), "ef" * 16, 10)
    store.reserve("school1", utc_text(days_ago(2)), "cd" * 16, 10)
    old_visit = store.create_visit("school1", "赵*", "12" * 16, "陈老师", "送教材", utc_text(days_ago(41)),
                                   utc_text(days_ago(40)), "li")
    new_visit = store.create_visit("school1", "钱*", "34" * 16, "周老师", "家长会", utc_text(days_ago(1)),
                                   utc_text(days_ago(-1)), "li")
    store.decide_visit(old_visit, "approved", "admin")
    store.decide_visit(new_visit, "approved", "admin")
    store.add_audit("li", "denials.list", "venue=school1&name=%E5%BC%A0&since=2026-01-01", "school1")
    store.add_audit("li", "denials.list", "venue=school1&name=%E6%9D%8E", "school1")
    store.add_audit("admin", "api.events", "gate=north&since=2026-01-01", None)
    store.add_audit("张三", "login.failed", "10.1.2.3", None)
    backdate(hub, "UPDATE audit SET at = ? WHERE id IN (SELECT id FROM audit WHERE target LIKE '%E5%BC%A0%'"
                  " OR action IN ('api.events', 'login.failed'))", [utc_text(days_ago(40))])
    old_day = days_ago(40).date()
    report = build_report(store, store.venue("school1"), old_day, TZ)
    slots, audit_rows, events = store.slots("school1"), len(store.audit_log(1000)), store.event_count()

    assert purge(store) == {"factory1": 0, "school1": 1}

    rows = personal_rows(hub)
    # The old event is deleted with its review (its figures stay in the counters); the new one is untouched.
    assert rows["events"] == [(new.id, "ab" * 16, "张*明", "李保安", "再测 re-measure")]
    assert rows["reviews"] == [(new.id, "li", "已复核")]
    assert [subject for _, subject in rows["reservations"]] == [None, None, "cd" * 16]
    assert rows["visits"] == [(old_visit, None, None, None, None, None, None),
                              (new_visit, "钱*", "34" * 16, "周老师", "家长会", "li", "admin")]
    # Who viewed what and when stays; the searched-for values and the source address go.
    assert rows["audit"] == [("denials.list", "venue&name&since", "li"),
                             ("denials.list", "venue=school1&name=%E6%9D%8E", "li"),
                             ("api.events", "gate&since", "admin"), ("login.failed", "-", "张三")]
    # Counts and reports are what they were.
    assert store.slots("school1") == slots and store.event_count() == events - 1
    assert len(store.audit_log(1000)) == audit_rows
    assert build_report(store, store.venue("school1"), old_day, TZ) == report
    # The deleted denial is gone from the console; the visit is shown with its personal fields marked purged.
    assert hub.client("admin").get(f"/console/denials/{old.id}").status_code == 404
    page = hub.client("admin").get("/console/visitors").get_data(as_text=True)
    assert "陈老师" not in page and "周老师" in page
    # Nothing is cleared twice.
    assert purge(store) == {"factory1": 0, "school1": 0}
    assert personal_rows(hub) == rows


def test_purge_works_in_bounded_batches_and_misses_no_row(hub: Hub) -> None:
    store = hub.store
    store.ingest([gate_event("school1", "north", days_ago(40) + dt.timedelta(seconds=i), subject=f"{i:032x}")
                  for i in range(7)])
    for i in range(5):
        store.reserve("school1", utc_text(days_ago(40) + dt.timedelta(minutes=i)), f"{i:032x}", 10)
    before = utc_text(days_ago(28))
    assert store.delete_events("school1", before, batch=3) == 7
    assert store.purge_records("school1", before, batch=2)["reservations"] == 5
    assert personal_rows(hub)["events"] == []
    assert store.delete_events("school1", before, batch=3) == 0
