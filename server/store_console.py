"""The console's SQL: users' venues, settings, audit, denials and reviews, reports, visits, purge.

A mixin of `server.store.HubStore`, kept in its own module so the store stays readable; the
hub's SQL still lives in these two files only. It relies on HubStore's `write()`, `_rows()`,
`db` and `conn`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl

from protocols.clock import utc_now, utc_text
from protocols.events import REMEASURE_KIND

# Retention rewrites at most this many rows per write transaction (a gate's batch waits at most that long).
PURGE_BATCH = 5000
# Audit actions whose target is a query string, and those whose target is a source address.
QUERY_ACTIONS = ("denials.list", "api.events")
SOURCE_ACTIONS = ("login", "login.failed", "login.rate_limited")
_QUERY_ACTIONS = ",".join(f"'{a}'" for a in QUERY_ACTIONS)
_SOURCE_ACTIONS = ",".join(f"'{a}'" for a in SOURCE_ACTIONS)


def _reduced_target(action: str, target: str) -> str:
    """What an old audit row's target keeps: a query string's parameter names, no source address."""
    if action in QUERY_ACTIONS:
        # No '=' left (a %3D in a name included), so a reduced row is never selected again.
        names = dict.fromkeys(name.replace("=", "") for name, _ in parse_qsl(target, keep_blank_values=True))
        return "&".join(names) or "-"
    return "-"


class ConsoleQueries:
    """The console's queries over the hub database (mixed into HubStore)."""

    db: Any
    conn: sqlite3.Connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:  # provided by HubStore
        raise TypeError("ConsoleQueries is a mixin of HubStore")

    # ---- console: users, settings, audit ----------------------------------------------------

    def user(self, username: str) -> dict[str, Any] | None:
        """A console user's role and venue (None: every venue), or None."""
        rows = self._rows("SELECT username, role, venue FROM users WHERE username = ?", [username])
        return rows[0] if rows else None

    def set_user_venue(self, username: str, venue: str | None) -> None:
        """Bind a user to one venue (None: every venue)."""
        with self.write() as c:
            c.execute("UPDATE users SET venue = ? WHERE username = ?", [venue, username])

    def setting(self, name: str, default: str) -> str:
        """A hub-wide setting, created with `default` the first time it is asked for."""
        with self.write() as c:
            c.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)", [name, default])
            return c.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()[0]

    def set_venue_console(self, venue: str, kind: str | None, report_deadline_hour: int | None,
                          retention_days: int | None) -> None:
        """Set a venue's kind, daily-report deadline hour and retention days (None: the default)."""
        with self.write() as c:
            c.execute("UPDATE venues SET kind = ?, report_deadline_hour = ?, retention_days = ? WHERE id = ?",
                      [kind, report_deadline_hour, retention_days, venue])

    def add_audit(self, username: str, action: str, target: str, venue: str | None) -> None:
        """Record that a person viewed or changed something (personal data views included)."""
        with self.write() as c:
            c.execute("INSERT INTO audit (at, username, action, target, venue) VALUES (?,?,?,?,?)",
                      [utc_text(utc_now()), username, action, target, venue])

    def audit_log(self, limit: int = 100, offset: int = 0, *, bound: str | None = None) -> list[dict[str, Any]]:
        """Audit rows, newest first; for a user bound to a venue only that venue's rows.

        The filter is `server.auth.in_scope` in SQL (so pages stay pages): bound None sees every row, a
        bound user the rows whose venue is theirs; hub-wide rows (venue NULL) are not a bound user's.
        """
        where, params = ("WHERE venue = ?", [bound]) if bound is not None else ("", [])
        return self._rows(f"SELECT id, at, username, action, target, venue FROM audit {where} "
                          "ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])

    # ---- console: denials --------------------------------------------------------------------

    def denials(self, *, venue: str | None = None, gate: str | None = None, since: str | None = None,
                until: str | None = None, decisions: Sequence[str] = ("deny", "refer"), rule: str | None = None,
                person_class: str | None = None, name: str | None = None, limit: int = 50,
                offset: int = 0) -> list[dict[str, Any]]:
        """Refused or referred events matching the filters (times as stored ISO text), newest first."""
        # A re-measure prompt is not a denial: the second reading decides (a fever was listed twice).
        where = ["e.decision IN (" + ",".join("?" * len(decisions)) + ")", "e.kind != ?"]
        params: list[Any] = [*decisions, REMEASURE_KIND]
        for column, value in (("e.venue", venue), ("e.gate", gate), ("e.person_class", person_class)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if since:
            where.append("e.at >= ?")
            params.append(since)
        if until:
            where.append("e.at < ?")
            params.append(until)
        if rule:
            where.append("instr(e.failed, ?) > 0")
            params.append("," + rule + ",")
        if name:
            where.append("instr(e.name, ?) > 0")
            params.append(name)
        sql = (
            "SELECT e.id, e.venue, e.gate, e.at, e.kind, e.direction, e.decision, e.failed, e.reasons, e.name,"
            " e.person_class, e.colour, e.celsius, r.reviewer, r.reviewed_at FROM events e"
            " LEFT JOIN denial_reviews r ON r.event_id = e.id WHERE " + " AND ".join(where)
            + " ORDER BY e.at DESC, e.id DESC LIMIT ? OFFSET ?"
        )
        rows = self._rows(sql, params + [limit, offset])
        for r in rows:
            r["failed"] = [x for x in r["failed"].split(",") if x]
            r["reasons"] = json.loads(r["reasons"])
        return rows

    def event_detail(self, event_id: str) -> dict[str, Any] | None:
        """One event with its review (reviewer, note, when), or None."""
        rows = self._rows(
            "SELECT e.*, r.reviewer, r.note AS review_note, r.reviewed_at FROM events e"
            " LEFT JOIN denial_reviews r ON r.event_id = e.id WHERE e.id = ?", [event_id])
        if not rows:
            return None
        row = rows[0]
        row["failed"] = [x for x in row["failed"].split(",") if x]
        row["reasons"] = json.loads(row["reasons"])
        return row

    def review_denial(self, event_id: str, reviewer: str, note: str) -> None:
        """Mark a denial reviewed with a note (a later review replaces the earlier one; the audit keeps both)."""
        with self.write() as c:
            c.execute(
                "INSERT INTO denial_reviews (event_id, reviewer, note, reviewed_at) VALUES (?,?,?,?)"
                " ON CONFLICT (event_id) DO UPDATE SET reviewer = excluded.reviewer, note = excluded.note,"
                " reviewed_at = excluded.reviewed_at",
                [event_id, reviewer, note, utc_text(utc_now())])

    # ---- console: counts and the daily report -----------------------------------------------

    def day_events(self, venue: str, since: str, until: str) -> list[dict[str, Any]]:
        """A venue's events in [since, until), oldest first, without subject or name (for reports)."""
        rows = self._rows(
            "SELECT at, kind, direction, decision, effect, failed, person_class, celsius FROM events"
            " WHERE venue = ? AND at >= ? AND at < ? ORDER BY at, id", [venue, since, until])
        for r in rows:
            r["failed"] = [x for x in r["failed"].split(",") if x]
        return rows

    def effect_before(self, venue: str, until: str) -> int:
        """The sum of entry/exit effects of a venue's events before a time (people inside then)."""
        # The counter row minus what came since: reads the days since `until`, not the venue's whole history.
        counts = self.conn.execute("SELECT entries - exits FROM occupancy WHERE venue = ?", [venue]).fetchone()
        since = self.conn.execute("SELECT coalesce(sum(effect), 0) FROM events WHERE venue = ? AND at >= ? AND effect != 0",
                                  [venue, until]).fetchone()[0]
        return (counts[0] if counts else 0) - since

    def file_report(self, venue: str, day: str, filed_by: str, deadline: str, late: bool, body: str) -> bool:
        """File a day's report once; False when it was already filed (filed reports never change)."""
        with self.write() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO daily_reports (venue, day, filed_by, filed_at, deadline, late, body)"
                " VALUES (?,?,?,?,?,?,?)", [venue, day, filed_by, utc_text(utc_now()), deadline, int(late), body])
        return cur.rowcount == 1

    def filed_reports(self, venue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Filed reports (without their bodies), newest day first."""
        sql = "SELECT venue, day, filed_by, filed_at, deadline, late FROM daily_reports"
        params: list[Any] = []
        if venue:
            sql += " WHERE venue = ?"
            params.append(venue)
        return self._rows(sql + " ORDER BY day DESC, venue LIMIT ?", params + [limit])

    def filed_report(self, venue: str, day: str) -> dict[str, Any] | None:
        """One filed report with its body (JSON text), or None."""
        rows = self._rows("SELECT * FROM daily_reports WHERE venue = ? AND day = ?", [venue, day])
        return rows[0] if rows else None

    # ---- console: visitors -------------------------------------------------------------------

    def create_visit(self, venue: str, name: str, subject: str, host: str, purpose: str, starts_at: str,
                     ends_at: str, created_by: str) -> int:
        """Record a pending visit request; its id."""
        with self.write() as c:
            cur = c.execute(
                "INSERT INTO visits (venue, name, subject, host, purpose, starts_at, ends_at, status, created_by,"
                " created_at) VALUES (?,?,?,?,?,?,?,'pending',?,?)",
                [venue, name, subject, host, purpose, starts_at, ends_at, created_by, utc_text(utc_now())])
            return int(cur.lastrowid or 0)

    def visits(self, venue: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Visit requests, latest window first."""
        sql = "SELECT * FROM visits" + (" WHERE venue = ?" if venue else "") + " ORDER BY starts_at DESC, id DESC LIMIT ?"
        return self._rows(sql, ([venue] if venue else []) + [limit])

    def visit(self, visit_id: int) -> dict[str, Any] | None:
        """One visit request, or None."""
        rows = self._rows("SELECT * FROM visits WHERE id = ?", [visit_id])
        return rows[0] if rows else None

    def decide_visit(self, visit_id: int, status: str, decided_by: str) -> bool:
        """Approve or refuse a pending visit; False when it is no longer pending."""
        with self.write() as c:
            cur = c.execute("UPDATE visits SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
                            [status, decided_by, utc_text(utc_now()), visit_id])
        return cur.rowcount == 1

    def approved_visits(self, venue: str, ending_after: str) -> list[dict[str, Any]]:
        """A venue's approved visits whose window has not ended, earliest first."""
        return self._rows("SELECT * FROM visits WHERE venue = ? AND status = 'approved' AND ends_at > ?"
                          " AND subject IS NOT NULL ORDER BY starts_at, id", [venue, ending_after])

    # ---- console: retention ------------------------------------------------------------------

    def _batched(self, select_ids: str, update: str, params: Sequence[Any], batch: int) -> int:
        """Run `update` (with `?` for a JSON list of ids) over `select_ids`'s rows, `batch` rows per transaction."""
        done = 0
        while True:
            # One short write transaction per batch, so gates' event batches never wait long on the lock.
            with self.write() as c:
                ids = [r[0] for r in c.execute(select_ids + " LIMIT ?", [*params, batch])]
                if ids:
                    c.execute(update, [json.dumps(ids)])
            done += len(ids)
            if len(ids) < batch:
                return done

    def purge_personal(self, venue: str, before: str, batch: int = PURGE_BATCH) -> int:
        """Null the subject hash, masked name, operator and note of a venue's events before a time; rows purged."""
        return self._batched(
            "SELECT id FROM events WHERE venue = ? AND at < ?"
            " AND (subject IS NOT NULL OR name IS NOT NULL OR note IS NOT NULL OR operator IS NOT NULL)",
            "UPDATE events SET subject = NULL, name = NULL, note = NULL, operator = NULL"
            " WHERE id IN (SELECT value FROM json_each(?))", [venue, before], batch)

    def purge_records(self, venue: str, before: str, batch: int = PURGE_BATCH) -> dict[str, int]:
        """Null the personal fields of a venue's reviews, reservations and visits older than a time; rows per table."""
        return {
            # The review stays (that and when it was reviewed); who wrote it and the free text go.
            "denial_reviews": self._batched(
                "SELECT r.event_id FROM denial_reviews r JOIN events e ON e.id = r.event_id"
                " WHERE e.venue = ? AND r.reviewed_at < ? AND (r.reviewer IS NOT NULL OR r.note IS NOT NULL)",
                "UPDATE denial_reviews SET reviewer = NULL, note = NULL WHERE event_id IN (SELECT value FROM json_each(?))",
                [venue, before], batch),
            # The booking stays (slots keep their counts); whose it was goes.
            "reservations": self._batched(
                "SELECT id FROM reservations WHERE venue = ? AND slot < ? AND subject IS NOT NULL",
                "UPDATE reservations SET subject = NULL WHERE id IN (SELECT value FROM json_each(?))",
                [venue, before], batch),
            # The visit's window and status stay; visitor, host, purpose and the staff who handled it go.
            "visits": self._batched(
                "SELECT id FROM visits WHERE venue = ? AND ends_at < ? AND (name IS NOT NULL OR subject IS NOT NULL"
                " OR host IS NOT NULL OR purpose IS NOT NULL OR created_by IS NOT NULL OR decided_by IS NOT NULL)",
                "UPDATE visits SET name = NULL, subject = NULL, host = NULL, purpose = NULL, created_by = NULL,"
                " decided_by = NULL WHERE id IN (SELECT value FROM json_each(?))",
                [venue, before], batch),
        }

    def purge_audit(self, venue: str | None, before: str, batch: int = PURGE_BATCH) -> int:
        """Reduce old audit rows of a venue (None: rows of no venue) to who did what and when; rows changed."""
        # Query strings (the console's denial filters, the API's event queries) carry names and dates a
        # supervisor searched for: only their parameter names stay. Login rows' source addresses go.
        scope = "venue = ?" if venue is not None else "venue IS NULL"
        params = [venue] if venue is not None else []
        done = 0
        while True:
            with self.write() as c:
                rows = c.execute(
                    f"SELECT id, action, target FROM audit WHERE {scope} AND at < ? AND ("
                    f"(action IN ({_QUERY_ACTIONS}) AND instr(target, '=') > 0)"
                    f" OR (action IN ({_SOURCE_ACTIONS}) AND target != '-')) LIMIT ?",
                    [*params, before, batch]).fetchall()
                c.executemany("UPDATE audit SET target = ? WHERE id = ?",
                              [(_reduced_target(action, target), row_id) for row_id, action, target in rows])
            done += len(rows)
            if len(rows) < batch:
                return done

    # ---- API helper "api" (issue 9): login lockout and rate-limit counters --------------------
    # Kept together at the end of the class to ease merging with other work on this file.

    def failed_logins_from(self, username: str, source: str, since: str) -> int:
        """Failed logins (console or API) of a user name from one source address since a time."""
        # Per user AND source: a stranger's guesses cannot lock the admin out everywhere.
        return self.conn.execute(
            "SELECT count(*) FROM audit WHERE username = ? AND action = 'login.failed' AND target = ? AND at >= ?",
            [username, source, since]).fetchone()[0]

    def limit_incr(self, key: str, expiry: float, amount: int, now: float) -> int:
        """Add to a rate-limit counter (a new window when the old one expired); the count now."""
        with self.write() as c:
            c.execute("DELETE FROM rate_limits WHERE key = ? AND expires_at <= ?", [key, now])
            c.execute("INSERT INTO rate_limits (key, count, expires_at) VALUES (?,?,?)"
                      " ON CONFLICT (key) DO UPDATE SET count = count + excluded.count", [key, amount, now + expiry])
            return c.execute("SELECT count FROM rate_limits WHERE key = ?", [key]).fetchone()[0]

    def limit_get(self, key: str, now: float) -> tuple[int, float]:
        """A rate-limit counter and when its window ends ((0, now) when none is running)."""
        row = self.conn.execute("SELECT count, expires_at FROM rate_limits WHERE key = ? AND expires_at > ?",
                                [key, now]).fetchone()
        return (row[0], row[1]) if row else (0, now)

    def limit_clear(self, key: str | None = None) -> int:
        """Forget one rate-limit counter, or all of them (None); how many were dropped."""
        with self.write() as c:
            cur = c.execute("DELETE FROM rate_limits" + (" WHERE key = ?" if key is not None else ""),
                            [key] if key is not None else [])
        return cur.rowcount

    def session_generation(self, username: str) -> str:
        """The user's console session generation: a session made under another one has ended."""
        row = self.conn.execute("SELECT value FROM settings WHERE name = ?", [f"session_gen:{username}"]).fetchone()
        return row[0] if row else "0"

    def bump_session_generation(self, username: str) -> None:
        """End every console session of a user (at logout)."""
        with self.write() as c:
            c.execute("INSERT INTO settings (name, value) VALUES (?, '1') ON CONFLICT (name) DO UPDATE"
                      " SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)", [f"session_gen:{username}"])
