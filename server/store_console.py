"""The console's SQL: users' venues, settings, audit, denials and reviews, reports, visits, purge.

A mixin of `server.store.HubStore`, kept in its own module so the store stays readable; the
hub's SQL still lives in the store's files only (server/store*.py). It relies on HubStore's `write()`,
`_rows()`, `_one()`, `_scalar()` and `conn`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import (
    ColumnElement, Connection, Executable, Integer, Select, Text, bindparam, cast, delete, func, insert, or_, select,
    text, update,
)

from protocols.clock import utc_now, utc_text
from protocols.errors import CheckpointError
from protocols.events import REMEASURE_KIND
from server.schema import (
    ALERT_COLOURS, audit, daily_reports, denial_reviews, event_rules, events, goods, hub_locks, occupancy, presence,
    rate_limits, reservations, settings, users, venues, visits,
)
from server import store_counts
from server.store_engine import insert_ignore, position_of, upsert

# Retention rewrites at most this many rows per write transaction (a gate's batch waits at most that long).
PURGE_BATCH = 5000
# Audit actions whose target is a query string, and those whose target is a source address.
QUERY_ACTIONS = ("denials.list", "api.events")
SOURCE_ACTIONS = ("login", "login.failed", "login.rate_limited")
# A visit's personal fields: nulled after retention.
VISIT_PERSONAL = ("name", "subject", "host", "purpose", "created_by", "decided_by")


Cursor = tuple[str, str]  # (at, id) of a row: a keyset page starts just past it


class BadCursor(CheckpointError):
    """A page cursor that is not 'AT,ID' (a stored time and an event id)."""

    reason = "bad_cursor"


def parse_cursor(text: str | None) -> Cursor | None:
    """A page cursor 'AT,ID' as (at, id); None for none; BadCursor when it is not one."""
    if not text:
        return None
    at, sep, event_id = text.partition(",")
    if not sep or not at or not event_id or len(text) > 120 or "," in event_id:
        raise BadCursor("分页标记无效 / the page cursor must be AT,ID (as the previous page's link gave it)")
    return at, event_id


def cursor_of(row: dict[str, Any]) -> str:
    """The cursor text of a row (its stored time and id), for the next or previous page's link."""
    return f"{row['at']},{row['id']}"


def keyset(stmt: Select, at: ColumnElement, key: ColumnElement, before: Cursor | None = None,
           after: Cursor | None = None) -> tuple[Select, bool]:
    """Order `stmt` newest first and start it past a cursor: rows older than `before`, or (read oldest first,
    to be reversed by the caller: the second value says so) newer than `after`.

    Spelt `at <= x AND (at < x OR id < y)`, not as a row-value comparison: the first term is a range
    both engines' planners take on the (..., at) index; the page then costs its own rows, however deep."""
    if before is not None:
        stmt = stmt.where(at <= before[0], or_(at < before[0], key < before[1]))
    if after is not None:
        return stmt.where(at >= after[0], or_(at > after[0], key > after[1])).order_by(at, key), True
    return stmt.order_by(at.desc(), key.desc()), False


def _reduced_target(action: str, target: str) -> str:
    """What an old audit row's target keeps: a query string's parameter names, no source address."""
    if action in QUERY_ACTIONS:
        # No '=' left (a %3D in a name included), so a reduced row is never selected again.
        names = dict.fromkeys(name.replace("=", "") for name, _ in parse_qsl(target, keep_blank_values=True))
        return "&".join(names) or "-"
    return "-"


class ConsoleQueries:
    """The console's queries over the hub database (mixed into HubStore)."""

    conn: Connection

    def write(self, *venues: str) -> AbstractContextManager[Connection]:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    def _rows(self, stmt: Executable) -> list[dict[str, Any]]:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    def _one(self, stmt: Executable) -> dict[str, Any] | None:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    def _scalar(self, stmt: Executable) -> Any:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    # ---- console: users, settings, audit ----------------------------------------------------

    def user(self, username: str) -> dict[str, Any] | None:
        """A console user's role and venue (None: every venue), or None."""
        return self._one(select(users.c.username, users.c.role, users.c.venue).where(users.c.username == username))

    def set_user_venue(self, username: str, venue: str | None) -> None:
        """Bind a user to one venue (None: every venue)."""
        with self.write() as c:
            c.execute(update(users).where(users.c.username == username).values(venue=venue))

    def setting(self, name: str, default: str) -> str:
        """A hub-wide setting, created with `default` the first time it is asked for."""
        with self.write() as c:
            c.execute(insert_ignore(c, settings).values(name=name, value=default))
            return c.execute(select(settings.c.value).where(settings.c.name == name)).scalar_one()

    def set_venue_console(self, venue: str, kind: str | None, report_deadline_hour: int | None,
                          retention_days: int | None) -> None:
        """Set a venue's kind, daily-report deadline hour and retention days (None: the default)."""
        with self.write() as c:
            c.execute(update(venues).where(venues.c.id == venue).values(
                kind=kind, report_deadline_hour=report_deadline_hour, retention_days=retention_days))

    def add_audit(self, username: str, action: str, target: str, venue: str | None) -> None:
        """Record that a person viewed or changed something (personal data views included)."""
        with self.write() as c:
            c.execute(insert(audit).values(at=utc_text(utc_now()), username=username, action=action, target=target,
                                           venue=venue))

    def audit_log(self, limit: int = 100, offset: int = 0, *, bound: str | None = None) -> list[dict[str, Any]]:
        """Audit rows, newest first; for a user bound to a venue only that venue's rows.

        The filter is `server.auth.in_scope` in SQL (so pages stay pages): bound None sees every row, a
        bound user the rows whose venue is theirs; hub-wide rows (venue NULL) are not a bound user's.
        """
        a = audit
        stmt = select(a.c.id, a.c.at, a.c.username, a.c.action, a.c.target, a.c.venue)
        if bound is not None:
            stmt = stmt.where(a.c.venue == bound)
        return self._rows(stmt.order_by(a.c.id.desc()).limit(limit).offset(offset))

    # ---- console: denials --------------------------------------------------------------------

    def denials(self, *, venue: str | None = None, gate: str | None = None, since: str | None = None,
                until: str | None = None, decisions: Sequence[str] = ("deny", "refer"), rule: str | None = None,
                person_class: str | None = None, name: str | None = None, limit: int = 50,
                offset: int = 0, before: Cursor | None = None, after: Cursor | None = None) -> list[dict[str, Any]]:
        """Refused or referred events matching the filters (times as stored ISO text), newest first; a page starts
        past a cursor (`before`/`after`, see `keyset`) or, for old links, after `offset` rows."""
        e, r = events, denial_reviews
        stmt = (select(e.c.id, e.c.venue, e.c.gate, e.c.at, e.c.kind, e.c.direction, e.c.decision, e.c.failed,
                       e.c.reasons, e.c.name, e.c.person_class, e.c.colour, e.c.celsius, r.c.reviewer, r.c.reviewed_at)
                # A re-measure prompt is not a denial: the second reading decides (a fever was listed twice).
                .where(e.c.decision.in_(list(decisions)), e.c.kind != REMEASURE_KIND))
        stmt, at, key = self._by_rule(stmt, rule, venue, e.outerjoin(r, r.c.event_id == e.c.id))
        for column, value in (("venue", venue), ("gate", gate), ("person_class", person_class)):
            if value:
                stmt = stmt.where(e.c[column] == value)
        if since:
            stmt = stmt.where(at >= since)
        if until:
            stmt = stmt.where(at < until)
        if name:
            stmt = stmt.where(position_of(e.c.name, name) > 0)
        stmt, backwards = keyset(stmt, at, key, before, after)
        rows = self._rows(stmt.limit(limit).offset(offset))
        if backwards:
            rows.reverse()
        for row in rows:
            row["failed"] = [x for x in row["failed"].split(",") if x]
            row["reasons"] = json.loads(row["reasons"])
        return rows

    @staticmethod
    def _by_rule(stmt: Select, rule: str | None, venue: str | None, joined: Any) -> tuple[Select, ColumnElement, ColumnElement]:
        """Events of `stmt` (over `joined`, which holds `events`) that failed `rule`, through the (event, rule)
        index: the statement and the (time, id) columns to order and page it by."""
        if not rule:
            return stmt.select_from(joined), events.c.at, events.c.id
        er = event_rules
        stmt = stmt.select_from(er.join(joined, events.c.id == er.c.event_id)).where(er.c.rule == rule)
        if venue:
            stmt = stmt.where(er.c.venue == venue)
        # Ordered by the index's own columns, so the planner walks it newest first and stops at the page.
        return stmt, er.c.at, er.c.event_id

    def event_detail(self, event_id: str) -> dict[str, Any] | None:
        """One event with its review (reviewer, note, when), or None."""
        e, r = events, denial_reviews
        row = self._one(select(e, r.c.reviewer, r.c.note.label("review_note"), r.c.reviewed_at)
                        .select_from(e.outerjoin(r, r.c.event_id == e.c.id)).where(e.c.id == event_id))
        if row is None:
            return None
        row["failed"] = [x for x in row["failed"].split(",") if x]
        row["reasons"] = json.loads(row["reasons"])
        return row

    def review_denial(self, event_id: str, reviewer: str, note: str) -> None:
        """Mark a denial reviewed with a note (a later review replaces the earlier one; the audit keeps both)."""
        with self.write() as c:
            c.execute(upsert(c, denial_reviews, ["event_id"], ["reviewer", "note", "reviewed_at"]),
                      {"event_id": event_id, "reviewer": reviewer, "note": note, "reviewed_at": utc_text(utc_now())})

    # ---- console: counts and the daily report -----------------------------------------------

    def day_events(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """A venue's events in [since, until), oldest first, without subject or name (for reports)."""
        e = events
        rows = self._rows(select(e.c.at, e.c.gate, e.c.kind, e.c.direction, e.c.decision, e.c.effect, e.c.failed,
                                 e.c.person_class, e.c.celsius)
                          .where(e.c.venue == venue, e.c.at >= since, e.c.at < until).order_by(e.c.at, e.c.id))
        for r in rows:
            r["failed"] = [x for x in r["failed"].split(",") if x]
        return rows

    def hourly_counts(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """A venue's decisions in the UTC hours of [since, until) per hour and decision: `hour` ("YYYY-MM-DDTHH"),
        `decision`, `n` events and their summed `effect` (entries minus exits). The overview's charts read only
        this: from the per-hour counters kept at ingest (server/store_counts.py), so a day costs its hours, not
        its events."""
        return store_counts.hourly_decisions(self.conn, venue, store_counts.hour_of(since),
                                             store_counts.hour_of(until))

    def effect_before(self, venue: str, until: str) -> int:
        """The sum of entry/exit effects of a venue's events before a time on a whole minute (people inside then)."""
        # The counter row minus what the minute counters hold since: no event is read.
        counts = self._scalar(select(occupancy.c.entries - occupancy.c.exits).where(occupancy.c.venue == venue))
        return int(counts or 0) - store_counts.net_since(self.conn, venue, store_counts.minute_of(until))

    def hour_counts(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """A venue's counters (gate, kind, decision, person class, effect, n) for the UTC hours of [since, until)."""
        return store_counts.hour_counts(self.conn, venue, store_counts.hour_of(since), store_counts.hour_of(until))

    def rule_totals(self, venue: str, since: str, until: str) -> dict[str, int]:
        """Denials per failed rule of a venue in the UTC hours of [since, until)."""
        return store_counts.rule_totals(self.conn, venue, store_counts.hour_of(since), store_counts.hour_of(until))

    def minute_changes(self, venue: str, since: str, until: str) -> Sequence[tuple[str, int, int]]:
        """(UTC minute, entries, exits) of a venue's counted entries and exits in the minutes of [since, until)."""
        return store_counts.minute_changes(self.conn, venue, store_counts.minute_of(since),
                                           store_counts.minute_of(until))

    def fevers(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """A venue's fever events still held in [since, until): time, gate and reading (the fever index, not the day)."""
        e = events
        return self._rows(select(e.c.at, e.c.gate, e.c.celsius).where(e.c.venue == venue, e.c.kind == "fever", e.c.at >= since,
                                                            e.c.at < until).order_by(e.c.at, e.c.id))

    def colour_counts(self, venue: str, since: str, until: str) -> dict[str, int]:
        """Presentations of a venue in [since, until) per code colour, red and yellow only (a re-measure prompt is
        no presentation of its own: the decision after it counts). Read from the events through a partial index of
        the red and yellow ones (no counter holds colours), so a day costs its red and yellow codes, not its events."""
        e = events
        # The colours as literal SQL, the partial index's own condition: with bound values neither planner takes it.
        stmt = (select(e.c.colour, func.count()).where(e.c.venue == venue, e.c.at >= since, e.c.at < until,
                                                       text(ALERT_COLOURS), e.c.kind != REMEASURE_KIND)
                .group_by(e.c.colour))
        return {colour: int(n) for colour, n in self.conn.execute(stmt).all()}

    def goods_declared(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """Goods couriers declared at a venue in [since, until), oldest first, without the courier's identity."""
        gd = goods
        return self._rows(select(gd.c.declared_at, gd.c.product, gd.c.supplier, gd.c.origin, gd.c.quantity,
                                 gd.c.batch, gd.c.cold_chain)
                          .where(gd.c.venue == venue, gd.c.declared_at >= since, gd.c.declared_at < until)
                          .order_by(gd.c.declared_at, gd.c.id))

    def withdraw_report(self, venue: str, day: str) -> dict[str, Any] | None:
        """Remove a filed report so the day can be filed again; the row as it was (None: nothing was filed)."""
        d = daily_reports
        with self.write() as c:
            row = c.execute(select(d).where(d.c.venue == venue, d.c.day == day)).mappings().first()
            if row is not None:
                c.execute(delete(d).where(d.c.venue == venue, d.c.day == day))
            return dict(row) if row is not None else None

    def file_report(self, venue: str, day: str, filed_by: str, deadline: str, late: bool, body: str) -> bool:
        """File a day's report once; False when it was already filed (filed reports never change)."""
        with self.write() as c:
            # preserve_rowcount: an INSERT's rowcount is otherwise not kept (psycopg's cursor is closed by then).
            return c.execute(insert_ignore(c, daily_reports).values(
                venue=venue, day=day, filed_by=filed_by, filed_at=utc_text(utc_now()), deadline=deadline,
                late=int(late), body=body).execution_options(preserve_rowcount=True)).rowcount == 1

    def filed_reports(self, venue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Filed reports (without their bodies), newest day first."""
        d = daily_reports
        stmt = select(d.c.venue, d.c.day, d.c.filed_by, d.c.filed_at, d.c.deadline, d.c.late)
        if venue:
            stmt = stmt.where(d.c.venue == venue)
        return self._rows(stmt.order_by(d.c.day.desc(), d.c.venue).limit(limit))

    def filed_report(self, venue: str, day: str) -> dict[str, Any] | None:
        """One filed report with its body (JSON text), or None."""
        return self._one(select(daily_reports).where(daily_reports.c.venue == venue, daily_reports.c.day == day))

    # ---- console: visitors -------------------------------------------------------------------

    def create_visit(self, venue: str, name: str, subject: str, host: str, purpose: str, starts_at: str,
                     ends_at: str, created_by: str) -> int:
        """Record a pending visit request; its id."""
        with self.write() as c:
            cur = c.execute(insert(visits).values(
                venue=venue, name=name, subject=subject, host=host, purpose=purpose, starts_at=starts_at,
                ends_at=ends_at, status="pending", created_by=created_by, created_at=utc_text(utc_now())))
            return int(cur.inserted_primary_key[0] or 0)

    def visits(self, venue: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Visit requests, latest window first."""
        stmt = select(visits)
        if venue:
            stmt = stmt.where(visits.c.venue == venue)
        return self._rows(stmt.order_by(visits.c.starts_at.desc(), visits.c.id.desc()).limit(limit))

    def visit(self, visit_id: int) -> dict[str, Any] | None:
        """One visit request, or None."""
        return self._one(select(visits).where(visits.c.id == visit_id))

    def decide_visit(self, visit_id: int, status: str, decided_by: str) -> bool:
        """Approve or refuse a pending visit; False when it is no longer pending."""
        with self.write() as c:
            return c.execute(update(visits).where(visits.c.id == visit_id, visits.c.status == "pending")
                             .values(status=status, decided_by=decided_by, decided_at=utc_text(utc_now()))).rowcount == 1

    def approved_visits(self, venue: str, ending_after: str) -> list[dict[str, Any]]:
        """A venue's approved visits whose window has not ended, earliest first."""
        v = visits
        return self._rows(select(v).where(v.c.venue == venue, v.c.status == "approved", v.c.ends_at > ending_after,
                                          v.c.subject.is_not(None)).order_by(v.c.starts_at, v.c.id))

    # ---- console: retention ------------------------------------------------------------------

    def _batched(self, select_ids: Select, key: ColumnElement, nulls: dict[str, None], batch: int) -> int:
        """Set `nulls` on the rows `select_ids` finds (their `key` column), `batch` rows per transaction."""
        done = 0
        while True:
            # One short write transaction per batch, so gates' event batches never wait long on the lock.
            with self.write() as c:
                ids = list(c.execute(select_ids.limit(batch)).scalars())
                if ids:
                    c.execute(update(key.table).where(key.in_(ids)).values(**nulls))
            done += len(ids)
            if len(ids) < batch:
                return done

    def delete_events(self, venue: str, before: str, batch: int = PURGE_BATCH) -> int:
        """Delete a venue's events before a time with their rule index rows and reviews; events deleted.

        Their figures stay in the counters (server/store_counts.py, written when each was stored). The
        venue's horizon moves first, in its own transaction: from then on an event older than it is refused
        at ingest, so none is stored (and counted) again under the delete."""
        e, v = events, venues
        with self.write(venue) as c:
            c.execute(update(v).where(v.c.id == venue, or_(v.c.events_deleted_before.is_(None),
                                                            v.c.events_deleted_before < before))
                      .values(events_deleted_before=before))
        find = select(e.c.id).where(e.c.venue == venue, e.c.at < before).order_by(e.c.at).limit(batch)
        done = 0
        while True:
            # One short write transaction per batch, so gates' event batches never wait long on the lock.
            with self.write(venue) as c:
                ids = list(c.execute(find).scalars())
                if ids:
                    c.execute(delete(event_rules).where(event_rules.c.event_id.in_(ids)))
                    c.execute(delete(denial_reviews).where(denial_reviews.c.event_id.in_(ids)))
                    c.execute(delete(e).where(e.c.id.in_(ids)))
            done += len(ids)
            if len(ids) < batch:
                return done

    def purge_presence(self, before: str, batch: int = PURGE_BATCH) -> int:
        """Delete presence changes older than `before` (they only serve the anti-passback window), in batches."""
        p = presence
        find = select(p.c.id).where(p.c.at < before).order_by(p.c.at).limit(batch)
        done = 0
        while True:
            with self.write() as c:
                ids = list(c.execute(find).scalars())
                if ids:
                    c.execute(delete(p).where(p.c.id.in_(ids)))
            done += len(ids)
            if len(ids) < batch:
                return done

    def try_lock(self, name: str, holder: str, ttl_s: float, now: float | None = None) -> bool:
        """Take (or renew) a hub-wide job lock for `ttl_s` seconds; False while another holder has it."""
        now = time.time() if now is None else now
        lk = hub_locks
        with self.write() as c:  # writers are serialised: the read and the write below are one step
            row = c.execute(select(lk.c.holder, lk.c.until).where(lk.c.name == name)).first()
            if row is not None and row[0] != holder and row[1] > now:
                return False
            c.execute(upsert(c, lk, ["name"], ["holder", "until"]), {"name": name, "holder": holder, "until": now + ttl_s})
            return True

    def release_lock(self, name: str, holder: str) -> None:
        """Give a job lock back (only its holder can)."""
        with self.write() as c:
            c.execute(delete(hub_locks).where(hub_locks.c.name == name, hub_locks.c.holder == holder))

    def purge_records(self, venue: str, before: str, batch: int = PURGE_BATCH) -> dict[str, int]:
        """Null the personal fields of a venue's reviews, reservations and visits older than a time; rows per table."""
        r, e, b, v = denial_reviews, events, reservations, visits
        return {
            # The review stays (that and when it was reviewed); who wrote it and the free text go.
            "denial_reviews": self._batched(
                select(r.c.event_id).select_from(r.join(e, e.c.id == r.c.event_id))
                .where(e.c.venue == venue, r.c.reviewed_at < before, or_(r.c.reviewer.is_not(None), r.c.note.is_not(None))),
                r.c.event_id, {"reviewer": None, "note": None}, batch),
            # The booking stays (slots keep their counts); whose it was goes.
            "reservations": self._batched(
                select(b.c.id).where(b.c.venue == venue, b.c.slot < before, b.c.subject.is_not(None)),
                b.c.id, {"subject": None}, batch),
            # The visit's window and status stay; visitor, host, purpose and the staff who handled it go.
            "visits": self._batched(
                select(v.c.id).where(v.c.venue == venue, v.c.ends_at < before, or_(*(
                    v.c[name].is_not(None) for name in VISIT_PERSONAL))),
                v.c.id, dict.fromkeys(VISIT_PERSONAL), batch),
        }

    def purge_audit(self, venue: str | None, before: str, batch: int = PURGE_BATCH) -> int:
        """Reduce old audit rows of a venue (None: rows of no venue) to who did what and when; rows changed."""
        # Query strings (the console's denial filters, the API's event queries) carry names and dates a
        # supervisor searched for: only their parameter names stay. Login rows' source addresses go.
        a = audit
        scope = a.c.venue == venue if venue is not None else a.c.venue.is_(None)
        find = (select(a.c.id, a.c.action, a.c.target)
                .where(scope, a.c.at < before, or_(
                    a.c.action.in_(QUERY_ACTIONS) & (position_of(a.c.target, "=") > 0),
                    a.c.action.in_(SOURCE_ACTIONS) & (a.c.target != "-")))
                .limit(batch))
        reduce_one = update(a).where(a.c.id == bindparam("row_id")).values(target=bindparam("reduced"))
        done = 0
        while True:
            with self.write() as c:
                rows = c.execute(find).all()
                if rows:
                    c.execute(reduce_one, [{"row_id": row_id, "reduced": _reduced_target(action, target)}
                                           for row_id, action, target in rows])
            done += len(rows)
            if len(rows) < batch:
                return done

    # ---- API helper "api" (issue 9): login lockout and rate-limit counters --------------------
    # Kept together at the end of the class to ease merging with other work on this file.

    def failed_logins_from(self, username: str, source: str, since: str) -> int:
        """Failed logins (console or API) of a user name from one source address since a time."""
        # Per user AND source: a stranger's guesses cannot lock the admin out everywhere.
        a = audit
        return self._scalar(select(func.count()).select_from(a).where(
            a.c.username == username, a.c.action == "login.failed", a.c.target == source, a.c.at >= since))

    def limit_incr(self, key: str, expiry: float, amount: int, now: float) -> int:
        """Add to a rate-limit counter (a new window when the old one expired); the count now."""
        rl = rate_limits
        with self.write() as c:
            c.execute(delete(rl).where(rl.c.key == key, rl.c.expires_at <= now))
            c.execute(upsert(c, rl, ["key"], lambda new: {"count": rl.c.count + new.count}),
                      {"key": key, "count": amount, "expires_at": now + expiry})
            return c.execute(select(rl.c.count).where(rl.c.key == key)).scalar_one()

    def limit_get(self, key: str, now: float) -> tuple[int, float]:
        """A rate-limit counter and when its window ends ((0, now) when none is running)."""
        rl = rate_limits
        row = self.conn.execute(select(rl.c.count, rl.c.expires_at).where(rl.c.key == key, rl.c.expires_at > now)).first()
        return (row[0], row[1]) if row else (0, now)

    def limit_clear(self, key: str | None = None) -> int:
        """Forget one rate-limit counter, or all of them (None); how many were dropped."""
        stmt = delete(rate_limits)
        if key is not None:
            stmt = stmt.where(rate_limits.c.key == key)
        with self.write() as c:
            return c.execute(stmt).rowcount

    def session_generation(self, username: str) -> str:
        """The user's console session generation: a session made under another one has ended."""
        value = self._scalar(select(settings.c.value).where(settings.c.name == f"session_gen:{username}"))
        return value if value is not None else "0"

    def bump_session_generation(self, username: str) -> None:
        """End every console session of a user (at logout)."""
        s = settings
        with self.write() as c:
            c.execute(upsert(c, s, ["name"], {"value": cast(cast(s.c.value, Integer) + 1, Text)}),
                      {"name": f"session_gen:{username}", "value": "1"})
