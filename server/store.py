"""All of the hub's SQL: accounts, venues, gates, devices, events, occupancy, leases, documents
(and, through the `ConsoleQueries` mixin in store_console.py, the console's).

SQLite through sqlite-utils, WAL, one connection per request (or per process for the bridge).
Write transactions start with BEGIN IMMEDIATE so that two writers queue on the busy timeout
instead of failing when a read lock cannot be upgraded.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from ulid import ULID

from protocols.clock import utc_now, utc_text
from protocols.errors import CheckpointError
from protocols.contract import PRESENCE_PAGE
from protocols.events import FUTURE_SKEW, MAX_EVENT_AGE, GateEvent, takes_place
from server.leases import DEFAULT_RECLAIM_AFTER_S, LentPlaces, check_reclaim
from server.migrations import migrate
from server.store_console import ConsoleQueries
from server.passwords import forget_verified, hash_password, mosquitto_hash, verify_password

log = logging.getLogger(__name__)

VENUE_FIELDS = ("name", "cap", "dwell_minutes", "gathering", "plan_approved", "slot_minutes", "slot_capacity",
                "lease_reclaim_after_s", "timezone")


def sha256(text: str) -> str:
    """Hex SHA-256 of a high-entropy secret (a slow KDF buys nothing for 256 random bits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def effect(event: GateEvent) -> int:
    """What an event does to the number inside: +1 an admitted entry, -1 an exit, 0 nothing."""
    # A referral at an exit is not an exit yet: the guard's manual opening that follows is.
    if event.kind == "exit" or (event.direction == "out" and event.decision == "admit"):
        return -1
    if takes_place(event.kind, event.direction, event.decision):
        return 1
    return 0


@dataclass(frozen=True)
class Device:
    """An enrolled device, bound to one gate of one venue."""

    id: str
    venue: str
    gate: str


def gate_direction_of(event: GateEvent) -> str:
    """Which way the gate that made this event lets people through: an exit is always made at an 'out' gate."""
    return "out" if event.kind == "exit" else event.direction


@dataclass(frozen=True)
class Refusal:
    """An event the hub will not store, and why (a stable reason code and a bilingual message)."""

    id: str
    reason: str
    message: str


IN_FUTURE = ("event_in_future", "记录时间晚于中心时钟 / the event is dated after the hub's clock (more than the allowed skew)")
TOO_OLD = ("event_too_old", "记录时间过早 / the event is older than the hub keeps")
WRONG_DIRECTION = ("wrong_direction", "该闸机只允许{allowed}方向 / this gate lets people through one way only ({allowed})")


@dataclass(frozen=True)
class IngestResult:
    """What a batch did: ids now held by the hub (new or already there), how many were new, what was refused."""

    acked: list[str]
    new: int
    refused: list[Refusal] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # ids the hub holds with other content: kept, not overwritten
    unmatched_exits: int = 0  # exits of nobody counted inside: stored, but they free no place
    beyond_lease: int = 0  # admitted entries at a capped venue beyond the places the gate held: stored, audited


@dataclass(frozen=True)
class PresencePage:
    """One page of a venue's presence changes at other gates, and the cursor to ask from next."""

    changes: list[dict[str, Any]]
    cursor: int
    more: bool


_INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (id, venue, gate, at, kind, direction, decision, effect, failed, reasons,"
    " subject, name, person_class, colour, celsius, bundle_version, credential_format, operator, note,"
    " received_at, wall_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _event_row(e: GateEvent, eff: int, received: str) -> tuple:
    if e.reasons:
        failed = "," + ",".join(r.rule for r in e.reasons if r.outcome == "FAIL") + ","
        reasons = json.dumps([r.model_dump(exclude_none=True) for r in e.reasons], ensure_ascii=False)
    else:
        failed, reasons = ",,", "[]"
    return (
        e.id, e.venue, e.gate, utc_text(e.at), e.kind, e.direction, e.decision, eff, failed, reasons,
        e.subject, e.name, e.person_class, e.colour, e.celsius, e.bundle_version, e.credential_format,
        e.operator, e.note, received, None if e.wall_at is None else utc_text(e.wall_at),
    )


class HubDatabaseError(CheckpointError):
    """The hub's database file cannot be opened or is not a usable SQLite database."""

    reason = "bad_database"


class HubStore(ConsoleQueries):
    """The hub's SQLite database (the console's queries come from `server/store_console.py`)."""

    def __init__(self, path: Path | str, timeout: float = 30.0):
        self.path = Path(path)
        # Created 0600 before SQLite opens it (its -wal and -shm files take the database's mode): the file
        # holds the console's signing key and personal data, so other local users must not read it.
        # Only when it does not exist yet: closing any descriptor of a database file drops every POSIX
        # lock this process holds on it, so opening and closing it beside live connections (one per
        # request thread) corrupts the database under concurrent writers.
        try:
            try:
                os.close(os.open(str(self.path), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) in `write()`.
            conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False)
        except OSError as exc:
            raise HubDatabaseError(f"{self.path}: cannot open the hub database: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise HubDatabaseError(f"{self.path}: cannot open the hub database: {exc}") from exc
        try:
            # The first statements read the header and the schema: garbage or a truncated file fails here.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HubDatabaseError(f"{self.path}: not a usable hub database ({exc})") from exc
        self.db = Database(conn)
        self.conn = conn
        # Writers queue on a file lock before BEGIN IMMEDIATE: SQLite's own busy handler sleeps
        # 1, 2, 5, 10... ms between retries, which under two busy workers cost hundreds of ms.
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)

    def migrate(self) -> list[str]:
        """Create or upgrade the schema; call at start-up only."""
        self.conn.isolation_level = ""  # migrations use the sqlite3 module's own transactions
        try:
            return migrate(self.db)
        finally:
            self.conn.isolation_level = None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
        os.close(self._lock_fd)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE; rolled back on any error."""
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    # ---- users -------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str = "admin") -> None:
        """Create or replace a console/API user."""
        with self.write() as c:
            c.execute(
                "INSERT OR REPLACE INTO users (username, password_hash, role, created_at) VALUES (?,?,?,?)",
                [username, hash_password(password), role, utc_text(utc_now())],
            )
        forget_verified()  # a replaced password: this worker forgets its matches (the others miss by the new hash)

    def check_user(self, username: str, password: str) -> str | None:
        """The user's role if the password is right, else None."""
        rows = self._rows("SELECT password_hash, role FROM users WHERE username = ?", [username])
        if rows and verify_password(password, rows[0]["password_hash"]):
            return rows[0]["role"]
        return None

    # ---- venues and gates --------------------------------------------------------------------

    def create_venue(self, venue_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Create a venue; raises sqlite3.IntegrityError when it exists."""
        row = {k: settings.get(k) for k in VENUE_FIELDS}
        with self.write() as c:
            c.execute(
                "INSERT INTO venues (id, " + ", ".join(VENUE_FIELDS) + ", created_at) VALUES (?"
                + ",?" * len(VENUE_FIELDS) + ",?)",
                [venue_id, *row.values(), utc_text(utc_now())],
            )
            c.execute("INSERT INTO occupancy (venue, inside, entries, exits) VALUES (?,0,0,0)", [venue_id])
        return self.venue(venue_id) or {}

    def update_venue(self, venue_id: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        """Change some of a venue's settings; None when there is no such venue."""
        fields = [k for k in VENUE_FIELDS if k in settings]
        if fields:
            with self.write() as c:
                c.execute(
                    "UPDATE venues SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?",
                    [settings[k] for k in fields] + [venue_id],
                )
        return self.venue(venue_id)

    def venue(self, venue_id: str) -> dict[str, Any] | None:
        """One venue's settings, or None."""
        rows = self._rows("SELECT * FROM venues WHERE id = ?", [venue_id])
        return rows[0] if rows else None

    def venues(self) -> list[dict[str, Any]]:
        """Every venue."""
        return self._rows("SELECT * FROM venues ORDER BY id")

    def create_gate(self, venue: str, gate: str, name: str | None = None, direction: str | None = None) -> dict[str, Any]:
        """Add a gate to a venue (idempotent); `direction` 'in' or 'out' fixes which way it lets people through
        ('both': a door used either way, no check).

        Left None, the gate's first event fixes it (trust on first use), so a gate that has posted
        entries can never post exits, and the reverse.
        """
        with self.write() as c:
            c.execute("INSERT OR IGNORE INTO gates (venue, id, name, direction) VALUES (?,?,?,?)",
                      [venue, gate, name, direction])
            if direction is not None:
                c.execute("UPDATE gates SET direction = ? WHERE venue = ? AND id = ?", [direction, venue, gate])
        return self.gates(venue, gate)[0]

    def gates(self, venue: str, gate: str | None = None) -> list[dict[str, Any]]:
        """A venue's gates with the versions they run, when last seen, and the lease they hold."""
        sql = (
            "SELECT g.id, g.name, g.direction, g.running, g.last_seen, g.status, g.status_at, coalesce(l.held, 0) AS lease FROM gates g"
            " LEFT JOIN leases l ON l.venue = g.venue AND l.gate = g.id WHERE g.venue = ?"
        )
        rows = self._rows(sql + (" AND g.id = ?" if gate else "") + " ORDER BY g.id", [venue] + ([gate] if gate else []))
        for r in rows:
            r["running"] = json.loads(r["running"]) if r["running"] else {}
        return rows

    def touch_gate(self, venue: str, gate: str, running: dict[str, str] | None) -> None:
        """Record that a gate called in, and the document versions it reports running."""
        with self.write() as c:
            self._touch(c, venue, gate, running)

    def set_gate_status(self, venue: str, gate: str, status: str) -> None:
        """Record a gate's availability (from its retained MQTT status)."""
        with self.write() as c:
            c.execute("UPDATE gates SET status = ?, status_at = ? WHERE venue = ? AND id = ?",
                      [status, utc_text(utc_now()), venue, gate])

    @staticmethod
    def _touch(c: sqlite3.Connection, venue: str, gate: str, running: dict[str, str] | None) -> None:
        if running is None:
            c.execute("UPDATE gates SET last_seen = ? WHERE venue = ? AND id = ?", [utc_text(utc_now()), venue, gate])
        else:
            c.execute("UPDATE gates SET last_seen = ?, running = ? WHERE venue = ? AND id = ?",
                      [utc_text(utc_now()), json.dumps(running, sort_keys=True), venue, gate])

    # ---- enrollment and devices --------------------------------------------------------------

    def create_enroll_token(self, venue: str, gate: str, ttl: dt.timedelta = dt.timedelta(days=1)) -> str:
        """A one-time enrollment token for a gate (only its hash is kept)."""
        token = secrets.token_urlsafe(24)
        with self.write() as c:
            c.execute(
                "INSERT INTO enroll_tokens (token_sha256, venue, gate, expires_at) VALUES (?,?,?,?)",
                [sha256(token), venue, gate, utc_text(utc_now() + ttl)],
            )
        return token

    def redeem_token(self, token: str) -> tuple[Device, str] | None:
        """Spend a token once: a new device and its secret (shown once, only hashes kept), or None."""
        secret = secrets.token_urlsafe(32)
        device_id = "dev-" + str(ULID()).lower()
        now = utc_text(utc_now())
        with self.write() as c:
            cur = c.execute(
                "UPDATE enroll_tokens SET used_at = ? WHERE token_sha256 = ? AND used_at IS NULL AND expires_at > ?",
                [now, sha256(token), now],
            )
            if cur.rowcount != 1:
                return None
            venue, gate = c.execute(
                "SELECT venue, gate FROM enroll_tokens WHERE token_sha256 = ?", [sha256(token)]
            ).fetchone()
            c.execute(
                "INSERT INTO devices (id, venue, gate, secret_sha256, mqtt_hash, created_at) VALUES (?,?,?,?,?,?)",
                [device_id, venue, gate, sha256(secret), mosquitto_hash(secret), now],
            )
        return Device(device_id, venue, gate), secret

    def device_for_secret(self, secret: str) -> Device | None:
        """The live device whose credential this is, or None."""
        row = self.conn.execute(
            "SELECT id, venue, gate FROM devices WHERE secret_sha256 = ? AND revoked_at IS NULL", [sha256(secret)]
        ).fetchone()
        return Device(*row) if row else None

    def devices(self, venue: str) -> list[dict[str, Any]]:
        """A venue's devices: id, gate, when enrolled, when revoked (never a secret or a hash)."""
        return self._rows("SELECT id, gate, created_at, revoked_at FROM devices WHERE venue = ? ORDER BY id", [venue])

    def revoke_device(self, venue: str, device_id: str) -> bool:
        """Revoke a device's credential at once (HTTP); the broker after the next mosquitto-config."""
        with self.write() as c:
            cur = c.execute("UPDATE devices SET revoked_at = ? WHERE id = ? AND venue = ? AND revoked_at IS NULL",
                            [utc_text(utc_now()), device_id, venue])
        return cur.rowcount == 1

    def mqtt_accounts(self) -> list[dict[str, Any]]:
        """Every live device's MQTT username (its id), password hash and gate, for the broker files."""
        return self._rows("SELECT id, venue, gate, mqtt_hash FROM devices WHERE revoked_at IS NULL ORDER BY id")

    # ---- events and occupancy ----------------------------------------------------------------

    def ingest(self, events: Sequence[GateEvent], received_at: dt.datetime | None = None,
               gate_running: tuple[str, str, dict[str, str] | None] | None = None) -> IngestResult:
        """Store a batch once per event id; count entries, exits and lease use of new events only.

        An event whose direction is not its gate's is refused (not stored, listed in the answer). An
        exit frees a place only when its subject is counted inside (stored with effect 0 otherwise),
        so the number inside never goes below zero and surplus exits cannot lend extra places.
        `gate_running` (venue, gate, versions) also records that the gate called in, in the same transaction.
        """
        now = received_at or utc_now()
        received = utc_text(now)
        new, unmatched, beyond = 0, 0, 0
        refused: list[Refusal] = []
        timely = []
        for e in events:
            # A future-dated entry would hold a place of a dwell-time venue until that date.
            if e.at > now + FUTURE_SKEW:
                refused.append(Refusal(e.id, *IN_FUTURE))
            elif e.at < now - MAX_EVENT_AGE:
                refused.append(Refusal(e.id, *TOO_OLD))
            else:
                timely.append(e)
        with self.write() as c:
            conflicts = self._conflicts(c, timely)
            accepted = self._check_directions(c, timely, refused)
            groups: dict[tuple[str, str, int], list[tuple]] = defaultdict(list)
            exits: list[GateEvent] = []
            for e in accepted:
                eff = effect(e)
                if eff == -1:
                    exits.append(e)  # after the entries of the batch: an exit may match one of them
                else:
                    groups[(e.venue, e.gate, eff)].append(_event_row(e, eff, received))
            for (venue, gate, eff), rows in groups.items():
                # rowcount of an executemany of INSERT OR IGNORE = how many rows were new.
                added = c.executemany(_INSERT_EVENT, rows).rowcount
                new += added
                if added and eff == 1:
                    beyond += self._beyond_lease(c, venue, gate, added, received)
                    c.execute("UPDATE occupancy SET entries = entries + ? WHERE venue = ?", [added, venue])
                    # Admissions made against a lease turn into occupancy: the lease shrinks.
                    c.execute(
                        "UPDATE leases SET held = max(0, held - ?) WHERE venue = ? AND gate = ?", [added, venue, gate]
                    )
            late = self._match_late_entries(c, [e for e in accepted if effect(e) == 1 and e.subject])
            dwell: dict[str, int | None] = {}
            for e in sorted(exits, key=lambda x: x.at):
                if e.venue not in dwell:
                    row = c.execute("SELECT dwell_minutes FROM venues WHERE id = ?", [e.venue]).fetchone()
                    dwell[e.venue] = row[0] if row else None
                eff = -1 if self._counted_inside(c, e, dwell[e.venue]) else 0
                added = c.execute(_INSERT_EVENT, _event_row(e, eff, received)).rowcount
                new += added
                if added and eff == -1:
                    c.execute("UPDATE occupancy SET exits = exits + 1 WHERE venue = ?", [e.venue])
                elif added:
                    unmatched += 1
            if gate_running is not None:
                self._touch(c, *gate_running)
        if late:
            log.info("%d exits stored earlier now match entries that arrived late", late)
        if unmatched:
            log.warning("%d exits of nobody counted inside: stored, no place freed", unmatched)
        for r in refused:
            log.warning("event %s refused: %s", r.id, r.reason)
        if conflicts:
            log.warning("events %s sent again with other content: the first kept", ", ".join(conflicts))
        if beyond:
            log.warning("ALERT %d admitted entries beyond the gates' leases: stored and audited", beyond)
        taken = {r.id for r in refused}
        return IngestResult([e.id for e in events if e.id not in taken], new, refused, conflicts, unmatched, beyond)

    @staticmethod
    def _beyond_lease(c: sqlite3.Connection, venue: str, gate: str, admitted: int, received: str) -> int:
        """Audit admitted entries at a capped venue beyond the places the gate held; how many were beyond."""
        # A gate admits only against places the hub lent it (guard openings too), so more is a faulty or
        # hostile device filling the venue. Still stored and counted: the people are inside, and a
        # refused record would under-count them; the audit shows supervisors which gate and how many.
        row = c.execute("SELECT v.cap, coalesce(l.held, 0) FROM venues v LEFT JOIN leases l ON l.venue = v.id"
                        " AND l.gate = ? WHERE v.id = ?", [gate, venue]).fetchone()
        if row is None or row[0] is None or admitted <= row[1]:
            return 0
        c.execute("INSERT INTO audit (at, username, action, target, venue) VALUES (?,?,?,?,?)",
                  [received, f"gate:{gate}", "device.beyond_lease", f"{gate}: {admitted - row[1]} of {admitted}", venue])
        return admitted - row[1]

    @staticmethod
    def _conflicts(c: sqlite3.Connection, events: Sequence[GateEvent]) -> list[str]:
        """Ids of the batch the hub already holds with other content (INSERT OR IGNORE keeps the first)."""
        if not events:
            return []
        columns = _INSERT_EVENT.split("(", 1)[1].split(")", 1)[0].replace(" ", "").split(",")
        same = [i for i, name in enumerate(columns) if name not in ("effect", "received_at")]
        held = {row[0]: row for row in c.execute(
            "SELECT " + ", ".join(columns) + " FROM events WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps([e.id for e in events])])}
        out = []
        for e in events:
            row = held.get(e.id)
            if row is not None:
                mine = _event_row(e, 0, "")
                if any(row[i] != mine[i] for i in same):
                    out.append(e.id)
        return out

    @staticmethod
    def _check_directions(c: sqlite3.Connection, events: Sequence[GateEvent], refused: list[Refusal]) -> list[GateEvent]:
        """The events made the way their gate lets people through; the others go to `refused`.

        A gate with no direction yet takes that of its first event (trust on first use).
        """
        known: dict[tuple[str, str], str | None] = {}
        accepted = []
        for e in events:
            key = (e.venue, e.gate)
            if key not in known:
                row = c.execute("SELECT direction FROM gates WHERE venue = ? AND id = ?", list(key)).fetchone()
                known[key] = row[0] if row else None
            way = gate_direction_of(e)
            if known[key] == "both":  # an admin's choice: a door used both ways, each event keeps its own
                accepted.append(e)
                continue
            if known[key] is None:
                c.execute("UPDATE gates SET direction = ? WHERE venue = ? AND id = ? AND direction IS NULL",
                          [way, e.venue, e.gate])
                known[key] = way
            if way != known[key]:
                allowed = "进 in" if known[key] == "in" else "出 out"
                refused.append(Refusal(e.id, WRONG_DIRECTION[0], WRONG_DIRECTION[1].format(allowed=allowed)))
                continue
            accepted.append(e)
        return accepted

    @staticmethod
    def _match_late_entries(c: sqlite3.Connection, entries: list[GateEvent]) -> int:
        """Let exits stored unmatched free their place now that an entry of theirs arrived (an entry gate
        was offline longer than the exit gate); how many were matched."""
        by_venue: dict[str, set[str]] = defaultdict(set)
        for e in entries:
            by_venue[e.venue].add(e.subject or "")
        matched = 0
        for venue, subjects in by_venue.items():
            rows = c.execute(
                "SELECT id, subject, at FROM events WHERE venue = ? AND effect = 0 AND subject IN"
                " (SELECT value FROM json_each(?)) AND (kind = 'exit' OR (direction = 'out' AND decision = 'admit'))"
                " ORDER BY at", [venue, json.dumps(sorted(subjects))]).fetchall()
            for event_id, subject, at in rows:
                balance = c.execute("SELECT coalesce(sum(effect), 0) FROM events WHERE venue = ? AND subject = ?"
                                    " AND effect != 0 AND at <= ?", [venue, subject, at]).fetchone()[0]
                if balance <= 0:
                    continue  # still nobody inside before this exit
                c.execute("UPDATE events SET effect = -1 WHERE id = ?", [event_id])
                c.execute("UPDATE occupancy SET exits = exits + 1 WHERE venue = ?", [venue])
                # The presence trigger fires on insert only: the exit's row for anti-passback, written here.
                c.execute("INSERT INTO presence (venue, gate, subject, direction, at)"
                          " SELECT venue, gate, subject, 'out', at FROM events WHERE id = ?", [event_id])
                matched += 1
        return matched

    @staticmethod
    def _counted_inside(c: sqlite3.Connection, exit_: GateEvent, dwell_minutes: int | None) -> bool:
        """True if the exit's subject has more counted entries than counted exits (within the dwell time, if any)."""
        if not exit_.subject:
            return False  # nobody named: no entry to match
        sql = "SELECT coalesce(sum(effect), 0) FROM events WHERE venue = ? AND subject = ? AND effect != 0"
        params: list[Any] = [exit_.venue, exit_.subject]
        if dwell_minutes:
            sql += " AND at > ?"
            params.append(utc_text(exit_.at - dt.timedelta(minutes=dwell_minutes)))
        return c.execute(sql, params).fetchone()[0] > 0

    def event_count(self, venue: str | None = None) -> int:
        """How many events the hub holds (for one venue, or all)."""
        if venue:
            return self.conn.execute("SELECT count(*) FROM events WHERE venue = ?", [venue]).fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM events").fetchone()[0]

    def presence_changes(self, venue: str, gate: str, after: int, since: dt.datetime,
                         limit: int = PRESENCE_PAGE) -> PresencePage:
        """Admitted entries and exits at the venue's other gates received after cursor `after`, at or after `since`."""
        top = self.conn.execute("SELECT coalesce(max(id), 0) FROM presence WHERE venue = ?", [venue]).fetchone()[0]
        if after > top:
            after = 0  # a cursor from another database (the hub was restored): start over
        # Bounded by `top` read first: every id up to it is committed (writers commit in id order),
        # so moving the cursor to `top` skips nothing that a later sync would have seen.
        rows = self._rows(
            "SELECT id, subject, direction, at FROM presence WHERE venue = ? AND id > ? AND id <= ?"
            " AND gate != ? AND at >= ? ORDER BY id LIMIT ?", [venue, after, top, gate, utc_text(since), limit])
        more = len(rows) == limit
        changes = [{"subject": r["subject"], "direction": r["direction"], "at": r["at"]} for r in rows]
        return PresencePage(changes, rows[-1]["id"] if more else top, more)

    def purge_presence(self, before: dt.datetime) -> int:
        """Delete presence changes older than `before` (they only serve the anti-passback window); rows deleted."""
        with self.write() as c:
            return c.execute("DELETE FROM presence WHERE at < ?", [utc_text(before)]).rowcount

    def _inside(self, c: sqlite3.Connection, venue: dict[str, Any], now: dt.datetime) -> int:
        if venue.get("dwell_minutes"):
            # No exit gates: an entry counts as inside until the dwell time has passed.
            cutoff = utc_text(now - dt.timedelta(minutes=venue["dwell_minutes"]))
            # Per subject, never below zero: an exit whose entry has aged out of the window frees nothing more.
            row = c.execute(
                "SELECT coalesce(sum(max(0, n)), 0) FROM (SELECT sum(effect) AS n FROM events"
                " WHERE venue = ? AND at > ? AND effect != 0 GROUP BY subject)",
                [venue["id"], cutoff],
            ).fetchone()
            return row[0]
        row = c.execute("SELECT entries - exits FROM occupancy WHERE venue = ?", [venue["id"]]).fetchone()
        return max(0, row[0]) if row else 0

    def occupancy(self, venue_id: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
        """How many are inside, the cap, the places lent to gates, and what is free."""
        venue = self.venue(venue_id)
        if venue is None:
            return None
        inside = self._inside(self.conn, venue, now or utc_now())
        counts = self.conn.execute("SELECT entries, exits FROM occupancy WHERE venue = ?", [venue_id]).fetchone()
        leased = self.conn.execute(
            "SELECT coalesce(sum(held), 0) FROM leases WHERE venue = ?", [venue_id]
        ).fetchone()[0]
        cap = venue["cap"]
        free = None if cap is None else max(0, cap - inside - leased)
        return {"venue": venue_id, "inside": inside, "entries": counts[0], "exits": counts[1],
                "cap": cap, "leased": leased, "free": free}

    def lease(self, venue_id: str, gate: str, want: int, unsynced: int = 0,
              now: dt.datetime | None = None) -> dict[str, Any]:
        """Renew (or return, want=0) a gate's lease; leases never add up to more than the free places."""
        from server.leases import grant  # pure arithmetic kept beside its explanation

        with self.write() as c:
            venue = self.venue(venue_id) or {}
            inside = self._inside(c, venue, now or utc_now())
            rows = c.execute("SELECT gate, held FROM leases WHERE venue = ?", [venue_id]).fetchall()
            held = dict(rows)
            # Exit gates take no share: a fair share split with them was a share no one could use.
            n_gates = c.execute("SELECT count(*) FROM gates WHERE venue = ? AND coalesce(direction, '') != 'out'",
                                [venue_id]).fetchone()[0]
            exit_gate = c.execute("SELECT 1 FROM gates WHERE venue = ? AND id = ? AND direction = 'out'",
                                  [venue_id, gate]).fetchone() is not None
            # Admissions not yet synced were made against places the hub lent this gate, so there can
            # be no more of them than it holds: a gate claiming more cannot hold back the others' places.
            unsynced = min(max(0, unsynced), held.get(gate, 0))
            # An exit gate admits nobody in, so it is lent nothing (whatever it asks for).
            granted = 0 if exit_gate else grant(venue.get("cap"), inside, held, gate, want, unsynced, n_gates)
            # Admissions the hub has not seen yet stay reserved until their events arrive.
            new_held = granted + max(0, unsynced)
            c.execute(
                "INSERT INTO leases (venue, gate, held, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT (venue, gate) DO UPDATE SET held = excluded.held, updated_at = excluded.updated_at",
                [venue_id, gate, new_held, utc_text(utc_now())],
            )
            self._touch(c, venue_id, gate, None)  # a lease call is contact too: the gate is not silent
        return {"grant": granted, "held": new_held, "cap": venue.get("cap"), "inside": inside}

    def lent_places(self, venue_id: str, now: dt.datetime | None = None) -> list[LentPlaces]:
        """Per gate of a venue: the places it holds, its last contact, and whether they may be reclaimed now."""
        return self._lent(self.conn, venue_id, None, now or utc_now())

    def _lent(self, c: sqlite3.Connection, venue_id: str, gate: str | None, now: dt.datetime) -> list[LentPlaces]:
        from server.reports import stored_time  # reports imports this module: read lazily, as the console does

        venue = c.execute("SELECT lease_reclaim_after_s FROM venues WHERE id = ?", [venue_id]).fetchone()
        after = (venue[0] if venue else None) or DEFAULT_RECLAIM_AFTER_S
        rows = c.execute(
            "SELECT g.id, g.direction, coalesce(l.held, 0), g.last_seen, l.updated_at, l.reclaimed_at FROM gates g"
            " LEFT JOIN leases l ON l.venue = g.venue AND l.gate = g.id WHERE g.venue = ?"
            + (" AND g.id = ?" if gate else "") + " ORDER BY g.id", [venue_id] + ([gate] if gate else [])).fetchall()
        out = []
        for gate_id, direction, held, seen, renewed, reclaimed in rows:
            # Read as times, not compared as text: a time no clock can show in the gates table is skipped
            # (the lease's own time is always the hub's), never an error on this page.
            times = [(t, text) for text in (seen, renewed) if (t := stored_time(text)) is not None]
            last_t, last = max(times) if times else (None, None)
            silent = None if last_t is None else (now - last_t).total_seconds()
            out.append(LentPlaces(gate_id, direction, held, last, silent, after, reclaimed))
        return out

    def reclaim_lease(self, venue_id: str, gate: str, username: str, now: dt.datetime | None = None) -> LentPlaces:
        """Take back the places lent to a gate silent long enough, audited in the same transaction; what it held.

        Raises ReclaimRefused when the gate is not silent long enough or holds nothing, KeyError when
        there is no such gate."""
        now = now or utc_now()
        with self.write() as c:
            found = self._lent(c, venue_id, gate, now)
            if not found:
                raise KeyError(gate)
            lent = found[0]
            check_reclaim(lent)
            c.execute("UPDATE leases SET held = 0, reclaimed_at = ? WHERE venue = ? AND gate = ?",
                      [utc_text(now), venue_id, gate])
            c.execute("INSERT INTO audit (at, username, action, target, venue) VALUES (?,?,?,?,?)",
                      [utc_text(now), username, "lease.reclaim", f"{gate}: {lent.held}", venue_id])
        return lent

    # ---- distribution ------------------------------------------------------------------------

    def put_document(self, venue: str, kind: str, body: bytes, content_type: str) -> dict[str, Any]:
        """Store a new version of a venue's document (bundle, trust list, ...); same bytes, same version."""
        with self.write() as c:
            return self._put_document(c, venue, kind, body, content_type)

    def put_built_document(self, venue: str, kind: str, build: Callable[[], bytes], content_type: str) -> dict[str, Any]:
        """Build a document (it may read this store) and store it in one write transaction: two workers publishing
        at once store their versions in the order they built them, so a signed issued_at never goes back."""
        with self.write() as c:
            return self._put_document(c, venue, kind, build(), content_type)

    @staticmethod
    def _put_document(c: sqlite3.Connection, venue: str, kind: str, body: bytes, content_type: str) -> dict[str, Any]:
        etag = hashlib.sha256(body).hexdigest()[:32]
        row = c.execute("SELECT version, etag FROM documents WHERE venue = ? AND kind = ?", [venue, kind]).fetchone()
        if row and row[1] == etag:
            return {"kind": kind, "version": row[0], "etag": etag}
        version = (row[0] if row else 0) + 1
        c.execute(
            "INSERT OR REPLACE INTO documents (venue, kind, version, etag, content_type, body, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            [venue, kind, version, etag, content_type, body, utc_text(utc_now())],
        )
        return {"kind": kind, "version": version, "etag": etag}

    def document(self, venue: str, kind: str) -> dict[str, Any] | None:
        """The current version of a venue's document with its bytes, or None."""
        rows = self._rows("SELECT kind, version, etag, content_type, body FROM documents WHERE venue = ? AND kind = ?",
                          [venue, kind])
        return rows[0] if rows else None

    def versions(self, venue: str) -> dict[str, str]:
        """The current version of each of a venue's documents: what its gates must run."""
        return {r[0]: str(r[1]) for r in self.conn.execute(
            "SELECT kind, version FROM documents WHERE venue = ? ORDER BY kind", [venue])}

    def all_versions(self) -> dict[str, dict[str, str]]:
        """Versions per venue, for the MQTT bridge's retained notices."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for venue, kind, version in self.conn.execute("SELECT venue, kind, version FROM documents ORDER BY venue, kind"):
            out[venue][kind] = str(version)
        return dict(out)

    def all_gates(self) -> list[tuple[str, str]]:
        """Every (venue, gate) pair."""
        return [tuple(r) for r in self.conn.execute("SELECT venue, id FROM gates ORDER BY venue, id")]

    # ---- reservations ------------------------------------------------------------------------

    def reserve(self, venue: str, slot: str, subject: str, capacity: int) -> int | None:
        """Book a subject into a slot; the booking's id, or None when the slot is full."""
        with self.write() as c:
            mine = c.execute("SELECT id FROM reservations WHERE venue = ? AND slot = ? AND subject = ?",
                             [venue, slot, subject]).fetchone()
            if mine:  # booking again is the same booking
                return mine[0]
            taken = c.execute("SELECT count(*) FROM reservations WHERE venue = ? AND slot = ?", [venue, slot]).fetchone()[0]
            if taken >= capacity:
                return None
            cur = c.execute("INSERT INTO reservations (venue, slot, subject, created_at) VALUES (?,?,?,?)",
                            [venue, slot, subject, utc_text(utc_now())])
            return cur.lastrowid

    def slots(self, venue: str) -> list[dict[str, Any]]:
        """Bookings per slot."""
        return self._rows("SELECT slot, count(*) AS booked FROM reservations WHERE venue = ? GROUP BY slot ORDER BY slot",
                          [venue])

    def bookings(self, venue: str, since: str) -> list[dict[str, Any]]:
        """Every booking of a slot starting at or after `since` (UTC text), as (subject keyed hash, slot start)."""
        return self._rows("SELECT subject, slot FROM reservations WHERE venue = ? AND slot >= ? ORDER BY slot, subject",
                          [venue, since])

    # ---- schedule groups (meal groups, shifts) -------------------------------------------------

    def schedule_groups(self, venue: str) -> list[dict[str, Any]]:
        """The venue's roster groups with time windows: name, kind, zones and slots (JSON text)."""
        return self._rows("SELECT name, kind, zones, slots FROM schedule_groups WHERE venue = ? ORDER BY name", [venue])

    def put_schedule_group(self, venue: str, name: str, kind: str, zones: str, slots: str) -> None:
        """Set a group's windows (zones and slots as JSON text), replacing what it had."""
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO schedule_groups (venue, name, kind, zones, slots, updated_at)"
                      " VALUES (?,?,?,?,?,?)", [venue, name, kind, zones, slots, utc_text(utc_now())])

    def delete_schedule_group(self, venue: str, name: str) -> bool:
        """Remove a group's windows; False when it had none."""
        with self.write() as c:
            return c.execute("DELETE FROM schedule_groups WHERE venue = ? AND name = ?", [venue, name]).rowcount > 0

    # ---- access log --------------------------------------------------------------------------

    def access_log(self, *, venue: str | None = None, gate: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, decision: str | None = None, rule: str | None = None,
                   limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """Events matching the filters, newest first."""
        where, params = [], []
        for column, value in (("venue", venue), ("gate", gate), ("decision", decision)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("at >= ?")
            params.append(utc_text(since))
        if until is not None:
            where.append("at < ?")
            params.append(utc_text(until))
        if rule is not None:
            where.append("instr(failed, ?) > 0")
            params.append("," + rule + ",")
        sql = (
            "SELECT id, venue, gate, at, kind, direction, decision, failed, reasons, subject, name, person_class,"
            " colour, celsius, bundle_version, credential_format, operator, note, received_at FROM events"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = self._rows(sql, params + [limit, offset])
        for r in rows:
            r["failed"] = [x for x in r["failed"].split(",") if x]
            r["reasons"] = json.loads(r["reasons"])
        return rows
