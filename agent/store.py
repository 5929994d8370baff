"""The gate's local log: SQLite (WAL, synchronous=FULL) through sqlite-utils; all agent SQL lives here.

A decision is committed durably, with its outbox row (and, when the rules decided it, what they
saw) in the same transaction, before the barrier moves or the screen changes; a power cut after
that cannot lose it. Rows hold a keyed hash of the subject id, a masked name, the colour and the
reading: never a raw code or photo.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from agent.migrations import migrate
from protocols.clock import GATE_STORE_ZONE, utc_now, utc_text
from protocols.errors import CheckpointError, ConfigError
from protocols.events import PRESENCE_WINDOW_MAX, TAKES_PLACE_SQL, GateEvent, subject_hash

log = logging.getLogger(__name__)


# Oldest pending first (after an id, for the MQTT publisher's cursor); the partial index outbox_unsent
# (migration 006) gives this order, and the seek to the cursor, without a sort.
PENDING_SQL = ("SELECT event_id, payload, created_at, attempts FROM outbox "
               "WHERE sent_at IS NULL AND event_id > ? ORDER BY event_id LIMIT ?")


def _iso(t: dt.datetime) -> str:
    # The store's own text form since its first migration (protocols.clock says why it keeps +00:00).
    return utc_text(t, zone=GATE_STORE_ZONE)


class StoreUnavailable(CheckpointError):
    """The gate's store cannot take a record (disk full, read-only, I/O error, locked too long): nothing may open."""

    reason = "store_unavailable"


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn SQLite's and the OS's write failures into StoreUnavailable naming the file."""
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
        raise  # a bug (a duplicate id), not a store that cannot write
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StoreUnavailable(f"{path}: cannot write the gate's store: {exc}") from exc


@dataclass(frozen=True)
class OutboxItem:
    """One event waiting in the outbox for the sync client."""

    event_id: str
    payload: dict[str, Any]
    created_at: str
    attempts: int


@dataclass(frozen=True)
class DecisionInputs:
    """What the rules saw for one decision (`protocols.decision.decision_inputs`, subject hashed), kept for backtests."""

    decision: str  # the rules' own decision, before the venue cap may turn an admit into a denial
    at: dt.datetime  # the moment the rules decided at
    inputs: dict[str, Any]


class _OutboxConnection:
    """The sync client's own connection to the store: the outbox's pending rows, and its acks.

    The decision path and a drain of a long backlog used to share one connection and its lock: reading
    500 rows and committing every ack with an fsync held the loop's commits up (their p95 x2-4 during a
    drain). Here the reads go on their own connection (WAL: a reader never waits for the writer, nor it
    for them) and take no lock; acks commit at synchronous=NORMAL (an ack lost to a power cut only sends
    those events again, and the hub keeps each id once) in short transactions, under the store's lock,
    so a decision waits on that lock for one chunk at most, never on SQLite's polling busy handler.
    """

    CHUNK = 250  # acks per write transaction: how long a decision may wait behind them

    def __init__(self, path: Path):
        # isolation_level None: the transactions below are the explicit ones, nothing opened implicitly.
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()  # the MQTT thread's acks and the sync thread's reads share it

    def pending(self, limit: int, after: str, full: bool = False) -> list[Any]:
        """(event id, payload) rows, or with `full` (event id, payload, created_at, attempts), in the outbox's order."""
        with self._lock:
            rows = self.conn.execute(PENDING_SQL, [after, limit]).fetchall()
        return rows if full else [(r[0], r[1]) for r in rows]

    def write(self, store_lock: threading.RLock, sql: str, params: list[tuple[Any, ...]]) -> None:
        """Run one UPDATE for each parameter row, CHUNK rows a transaction, each under the store's lock."""
        with self._lock:
            for start in range(0, len(params), self.CHUNK):
                with store_lock:
                    self.conn.execute("BEGIN IMMEDIATE")
                    try:
                        self.conn.executemany(sql, params[start:start + self.CHUNK])
                    except BaseException:
                        self.conn.execute("ROLLBACK")
                        raise
                    self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()


class AgentStore:
    """The gate's SQLite store: events, outbox, migrations, retention."""

    def __init__(self, path: Path | str, subject_key: bytes):
        path = Path(path)
        self.path = path
        self._key = subject_key
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # One connection shared by the loop and the kiosk thread, serialised by a lock.
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            self.db = Database(conn)
            self.db.enable_wal()
            # FULL: a commit is on the disk when it returns; the decision must survive a power cut.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # Create the schema at start-up: lazy creation under concurrency gave "database is locked".
            with self._lock:
                migrate(self.db)
            self._outbox = _OutboxConnection(path)
        except (sqlite3.DatabaseError, OSError) as exc:  # not a database, unreadable, read-only, full
            raise ConfigError(f"{path}: not a usable agent store (corrupt, unreadable or read-only?): {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        self._outbox.close()  # not under the store's lock: an ack takes the outbox's lock, then the store's
        with self._lock:
            self.db.close()

    def hash_subject(self, subject: str | None) -> str | None:
        """The keyed hash this venue stores instead of the subject id."""
        return None if not subject else subject_hash(self._key, subject)

    def record(self, event: GateEvent, inputs: DecisionInputs | None = None) -> None:
        """Commit an event, its outbox row and what the rules saw durably in one transaction; StoreUnavailable if not."""
        payload = event.model_dump_json()
        row = {
            "id": event.id,
            "kind": event.kind,
            "at": _iso(event.at),
            "direction": event.direction,
            "decision": event.decision,
            "subject": event.subject,
            "name": event.name,
            "person_class": event.person_class,
            "colour": event.colour,
            "celsius": event.celsius,
            "bundle_version": event.bundle_version,
            "payload": payload,
        }
        with self._lock, _writing(self.path), self.db.atomic():
            self.db["events"].insert(row)
            self.db["outbox"].insert(
                {"event_id": event.id, "payload": payload, "created_at": _iso(utc_now()), "attempts": 0}
            )
            if inputs is not None:
                self.db["decision_inputs"].insert({
                    "event_id": event.id, "at": _iso(inputs.at), "decision": inputs.decision,
                    "inputs": json.dumps(inputs.inputs, ensure_ascii=False, separators=(",", ":")),
                })

    def event(self, event_id: str) -> GateEvent | None:
        """One event by id, or None."""
        with self._lock:
            rows = list(self.db.query("SELECT payload FROM events WHERE id = ?", [event_id]))
        return GateEvent.model_validate_json(rows[0]["payload"]) if rows else None

    def events(self, limit: int | None = None, kind: str | None = None) -> list[GateEvent]:
        """Events oldest first (ULID order), optionally of one kind, optionally the last `limit`."""
        sql = "SELECT payload FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id DESC"
        params: list[Any] = [kind] if kind else []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = list(self.db.query(sql, params))
        return [GateEvent.model_validate_json(r["payload"]) for r in reversed(rows)]

    def event_ids(self) -> set[str]:
        """Every event id in the store."""
        with self._lock:
            return {r["id"] for r in self.db.query("SELECT id FROM events")}

    def count(self) -> int:
        """How many events the store holds."""
        with self._lock:
            return next(self.db.query("SELECT count(*) AS n FROM events"))["n"]

    def last_admit(self, subject: str, direction: str, since: dt.datetime) -> dt.datetime | None:
        """When this hashed subject was last admitted in this direction after `since`, or None."""
        with self._lock:
            rows = list(
                self.db.query(
                    "SELECT max(at) AS at FROM events WHERE subject = ? AND direction = ? "
                    "AND decision = 'admit' AND at >= ?",
                    [subject, direction, _iso(since)],
                )
            )
        at = rows[0]["at"] if rows else None
        return dt.datetime.fromisoformat(at) if at else None

    def inside(self, subject: str, since: dt.datetime) -> bool:
        """Anti-passback: is this hashed subject inside? The newest admitted entry or exit after `since`,
        at this gate or (as the hub last told) at the venue's other gates, is an entry."""
        with self._lock:
            newest = dict(self.db.conn.execute(
                "SELECT direction, max(at) FROM ("
                " SELECT direction, at FROM events WHERE subject = ? AND at >= ? AND decision = 'admit'"
                " UNION ALL SELECT direction, at FROM peer_presence WHERE subject = ? AND at >= ?"
                ") GROUP BY direction", [subject, _iso(since), subject, _iso(since)]).fetchall())
        entered, left = newest.get("in"), newest.get("out")
        return entered is not None and (left is None or left < entered)

    def save_peer_presence(self, changes: list[dict[str, Any]], after: int) -> None:
        """Keep the hub's presence changes at other gates ({subject, direction, at}) and the cursor to ask
        from next, in one transaction (the cursor never moves past changes that were not kept)."""
        rows = [(c["subject"], c["direction"], _iso(dt.datetime.fromisoformat(c["at"]))) for c in changes]
        with self._lock, self.db.atomic():
            self.db.conn.executemany("INSERT INTO peer_presence (subject, direction, at) VALUES (?,?,?)", rows)
            self.db.conn.execute("INSERT OR REPLACE INTO peer_cursor (id, after, saved_at) VALUES (1, ?, ?)",
                                 [after, _iso(utc_now())])

    def peer_cursor(self) -> int:
        """The hub's presence cursor from the last answer kept (0: never heard)."""
        with self._lock:
            row = self.db.conn.execute("SELECT after FROM peer_cursor WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def outbox_rows(self, limit: int = 100, after: str = "") -> list[tuple[str, str]]:
        """Events not yet delivered, oldest first, as stored: (event id, GateEvent JSON), only ids above `after`.

        Read on the outbox's own connection, without the decisions' lock: a drain's reads never hold a decision up."""
        return self._outbox.pending(limit, after)

    def outbox_pending(self, limit: int = 100, after: str = "") -> list[OutboxItem]:
        """Events not yet delivered, oldest first (only those with an id above `after`), payloads parsed."""
        return [OutboxItem(i, json.loads(p), c, a) for i, p, c, a in self._outbox.pending(limit, after, full=True)]

    def outbox_depth(self) -> int:
        """How many events wait for the hub's acknowledgement: one row, kept by triggers (migration 007)."""
        with self._lock:
            return int(self.db.conn.execute("SELECT pending FROM outbox_unsynced WHERE id = 1").fetchone()[0])

    def unsynced_places(self) -> int:
        """How many pending outbox events take a place (the lease renewal's `unsynced`): one row, kept by triggers."""
        with self._lock:
            return int(self.db.conn.execute("SELECT places FROM outbox_unsynced WHERE id = 1").fetchone()[0])

    def mark_sent(self, event_ids: list[str], at: dt.datetime | None = None) -> None:
        """Mark outbox rows delivered (the hub acknowledged them)."""
        stamp = _iso(at or utc_now())
        self._outbox.write(self._lock, "UPDATE outbox SET sent_at = ?, last_error = NULL WHERE event_id = ?",
                           [(stamp, i) for i in event_ids])

    def mark_failed(self, event_ids: list[str], error: str) -> None:
        """Count a failed delivery attempt for outbox rows."""
        self._outbox.write(self._lock, "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE event_id = ?",
                           [(error[:500], i) for i in event_ids])

    def last_event_id(self) -> str | None:
        """The newest event id (ULIDs sort by time), or None for an empty store."""
        with self._lock:
            return self.db.conn.execute("SELECT max(id) FROM events").fetchone()[0]

    def save_clock_anchor(self, hub_at: float, monotonic: float, boot_id: str) -> None:
        """Keep the last trusted time: the hub's clock (epoch s) at `monotonic` seconds of boot `boot_id`."""
        with self._lock, _writing(self.path), self.db.atomic():
            self.db.conn.execute("INSERT OR REPLACE INTO clock_anchor (id, hub_at, monotonic, boot_id, saved_at)"
                                 " VALUES (1, ?, ?, ?, ?)", [hub_at, monotonic, boot_id, _iso(utc_now())])

    def clock_anchor(self) -> tuple[float, float, str] | None:
        """The last trusted time kept, (hub epoch s, monotonic s, boot id), or None if the hub never answered."""
        with self._lock:
            row = self.db.conn.execute("SELECT hub_at, monotonic, boot_id FROM clock_anchor WHERE id = 1").fetchone()
        return (float(row[0]), float(row[1]), str(row[2])) if row else None

    def save_lease(self, cap: int | None, grant: int, after_event: str | None) -> None:
        """Keep the hub's last lease answer: `grant` places from the admissions after `after_event` on."""
        with self._lock, self.db.atomic():
            self.db["lease"].upsert({"id": 1, "cap": cap, "grant": grant, "after_event": after_event or "",
                                     "saved_at": _iso(utc_now())}, pk="id")

    def lease_left(self) -> tuple[int | None, int] | None:
        """(cap, places left) from the last lease answer kept, or None if the hub never answered."""
        with self._lock:
            row = self.db.conn.execute('SELECT cap, "grant", after_event FROM lease WHERE id = 1').fetchone()
            if row is None:
                return None
            # An event that takes a place spends one of the lease (protocols.events.takes_place).
            used = self.db.conn.execute(
                f"SELECT count(*) FROM events WHERE id > ? AND {TAKES_PLACE_SQL}", [row[2]]).fetchone()[0]
        return row[0], max(0, row[1] - used)

    def purge(self, retention_days: int, now: dt.datetime | None = None) -> int:
        """Delete events older than the venue's retention that were delivered (or never queued), and other
        gates' presence changes older than that or a day, whichever is sooner."""
        cutoff = _iso((now or utc_now()) - dt.timedelta(days=retention_days))
        with self._lock, _writing(self.path), self.db.atomic():
            ids = [r[0] for r in self.db.conn.execute(
                "SELECT e.id FROM events e LEFT JOIN outbox o ON o.event_id = e.id "
                "WHERE e.at < ? AND (o.event_id IS NULL OR o.sent_at IS NOT NULL)", [cutoff])]
            self.db.conn.executemany("DELETE FROM outbox WHERE event_id = ?", [(i,) for i in ids])
            self.db.conn.executemany("DELETE FROM decision_inputs WHERE event_id = ?", [(i,) for i in ids])
            self.db.conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
            kept = self.db.conn.execute("SELECT count(*) FROM events WHERE at < ?", [cutoff]).fetchone()[0]
            # Other gates' presence changes serve the anti-passback window (at most a day): never kept longer.
            peers_cutoff = max(cutoff, _iso((now or utc_now()) - PRESENCE_WINDOW_MAX))
            self.db.conn.execute("DELETE FROM peer_presence WHERE at < ?", [peers_cutoff])
        if kept:
            # Undelivered records past retention are kept: losing them would lose a decision.
            log.warning("%d events past retention are kept until the hub has them", kept)
        if ids:
            log.info("purged %d events older than %d days", len(ids), retention_days)
        return len(ids)


def read_decisions(path: Path | str, since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Recorded decisions with their inputs, oldest first, as `checkpoint rules backtest` reads them:
    {"id", "at", "decision", "inputs"}; since inclusive, until exclusive. Opens the file read-only,
    so a running gate is not disturbed; a store older than migration 003 has none."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no agent store at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "decision_inputs" not in tables:
            log.warning("%s records no decision inputs (a store from before migration 003)", path)
            return
        sql = "SELECT event_id, at, decision, inputs FROM decision_inputs WHERE 1 = 1"
        params: list[str] = []
        if since is not None:
            sql += " AND at >= ?"
            params.append(_iso(since))
        if until is not None:
            sql += " AND at < ?"
            params.append(_iso(until))
        for event_id, at, decision, inputs in conn.execute(sql + " ORDER BY event_id", params):
            yield {"id": event_id, "at": at, "decision": decision, "inputs": json.loads(inputs)}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a readable agent store: {exc}") from exc
    finally:
        conn.close()
