"""All of the hub's SQL: accounts, venues, gates, devices, events, occupancy, leases, documents
(and, through the `ConsoleQueries` mixin in store_console.py, the console's).

SQLAlchemy Core on the tables of server/schema.py, one code path for SQLite and PostgreSQL; where the
engines differ (the URL, set-up, how writers queue, upserts) is server/store_engine.py. One connection
per store, held for its life (server/db.py: one store per worker thread; the bridge its own). Reads run
outside transactions; every write is one `write()` transaction, serialised with every other writer.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Executable, Integer, bindparam, case, delete, func, insert, literal, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from ulid import ULID

from protocols.clock import utc_now, utc_text
from protocols.errors import CheckpointError
from protocols.contract import PRESENCE_PAGE
from protocols.events import FUTURE_SKEW, MAX_EVENT_AGE, GateEvent, takes_place
from server.schema import audit, devices, documents, enroll_tokens, gates, leases, occupancy, presence
from server.schema import events as events_table  # `events` is the batch in ingest()
from server.leases import DEFAULT_RECLAIM_AFTER_S, LentPlaces, check_reclaim
from server.schema import reservations, schedule_groups, users, venues
from server.store_console import ConsoleQueries, Cursor, keyset
from server.store_counts import count_events
from server.store_alerts import AlertQueries
from server.store_commands import CommandQueries
from server.store_holders import HolderQueries
from server.store_people import PeopleQueries
from server.store_trace import TraceQueries
from server.store_engine import (
    begin_write, database_url, end_write, engine_for, insert_ignore, insert_ignore_returning, is_sqlite, shown, upsert,
)
from server.store_migrate import upgrade
from server.passwords import forget_verified, hash_password, mosquitto_hash, verify_password

log = logging.getLogger(__name__)

VENUE_FIELDS = ("name", "cap", "dwell_minutes", "gathering", "plan_approved", "slot_minutes", "slot_capacity",
                "lease_reclaim_after_s", "timezone", "pass_minutes", "test_window_hours",
                "colour_max_age_hours", "declaration_max_age_hours")


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
    alerted: list[str] = field(default_factory=list)  # ids of the batch that raised an alert the hub holds


@dataclass(frozen=True)
class PresencePage:
    """One page of a venue's presence changes at other gates, and the cursor to ask from next."""

    changes: list[dict[str, Any]]
    cursor: int
    more: bool


EVENT_COLUMNS = tuple(c.name for c in events_table.columns)
# What must match for an event sent again to be the same event (the hub's own columns aside).
_SAME_EVENT = tuple(name for name in EVENT_COLUMNS if name not in ("effect", "received_at"))


def _event_row(e: GateEvent, eff: int, received: str) -> dict[str, Any]:
    """The `events` row of an event, as stored."""
    if e.reasons:
        failed = "," + ",".join(r.rule for r in e.reasons if r.outcome == "FAIL") + ","
        reasons = json.dumps([r.model_dump(exclude_none=True) for r in e.reasons], ensure_ascii=False)
    else:
        failed, reasons = ",,", "[]"
    return {
        "id": e.id, "venue": e.venue, "gate": e.gate, "at": utc_text(e.at), "kind": e.kind, "direction": e.direction,
        "decision": e.decision, "effect": eff, "failed": failed, "reasons": reasons, "subject": e.subject,
        "name": e.name, "person_class": e.person_class, "colour": e.colour, "celsius": e.celsius,
        "bundle_version": e.bundle_version, "credential_format": e.credential_format, "operator": e.operator,
        "note": e.note, "received_at": received, "wall_at": None if e.wall_at is None else utc_text(e.wall_at),
    }


def _inserted(c: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert event rows unless their id is stored; the rows this statement inserted (only those are counted)."""
    # What `_held` read stays true within a venue (its writes queue), but another venue's batch may insert the
    # same id meanwhile: RETURNING says which rows were this transaction's.
    ids = set(c.execute(insert_ignore_returning(c, events_table, "id"), rows).scalars())
    return [r for r in rows if r["id"] in ids]


def _presence_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The presence changes (anti-passback) of newly stored event rows: admitted entries and exits of a subject."""
    return [{"venue": r["venue"], "gate": r["gate"], "subject": r["subject"],
             "direction": "in" if r["effect"] > 0 else "out", "at": r["at"]}
            for r in rows if r["effect"] != 0 and r["subject"] is not None]


# The sync's statements, built once (each sync runs them all; building a Core statement costs more than
# running it on SQLite). `b_` names: bound values, apart from the columns an UPDATE sets.
_DEVICE = (select(devices.c.id, devices.c.venue, devices.c.gate)
           .where(devices.c.secret_sha256 == bindparam("b_secret"), devices.c.revoked_at.is_(None)))
_HELD = select(events_table).where(events_table.c.id.in_(bindparam("b_ids", expanding=True)))
# What ingest needs of a gate, in one look-up: its direction, its venue's cap and dwell time, the places it holds.
_GATE_FACTS = (select(gates.c.direction, venues.c.cap, venues.c.dwell_minutes, func.coalesce(leases.c.held, 0))
               .select_from(gates.join(venues, venues.c.id == gates.c.venue)
                            .outerjoin(leases, (leases.c.venue == gates.c.venue) & (leases.c.gate == gates.c.id)))
               .where(gates.c.venue == bindparam("b_venue"), gates.c.id == bindparam("b_gate")))
_TOUCH = update(gates).where(gates.c.venue == bindparam("b_venue"), gates.c.id == bindparam("b_gate"))
_VERSIONS = (select(documents.c.kind, documents.c.version).where(documents.c.venue == bindparam("b_venue"))
             .order_by(documents.c.kind))
_PRESENCE_TOP = select(func.coalesce(func.max(presence.c.id), 0)).where(presence.c.venue == bindparam("b_venue"))
_PRESENCE_PAGE = (select(presence.c.id, presence.c.subject, presence.c.direction, presence.c.at)
                  .where(presence.c.venue == bindparam("b_venue"), presence.c.id > bindparam("b_after"),
                         presence.c.id <= bindparam("b_top"), presence.c.gate != bindparam("b_gate"),
                         presence.c.at >= bindparam("b_since"))
                  .order_by(presence.c.id).limit(bindparam("b_limit", type_=Integer)))
_PRESENCE_ROWS = (select(presence.c.id, presence.c.gate, presence.c.subject, presence.c.direction, presence.c.at)
                  .where(presence.c.venue == bindparam("b_venue"), presence.c.id > bindparam("b_after"),
                         presence.c.id <= bindparam("b_top"), presence.c.at >= bindparam("b_since"))
                  .order_by(presence.c.id))
_DWELL = select(venues.c.dwell_minutes).where(venues.c.id == bindparam("b_venue"))
_CAP_AND_HELD = (select(venues.c.cap, func.coalesce(leases.c.held, 0))
                 .select_from(venues.outerjoin(leases, (leases.c.venue == venues.c.id) & (leases.c.gate == bindparam("b_gate"))))
                 .where(venues.c.id == bindparam("b_venue")))
_COUNT = (update(occupancy).where(occupancy.c.venue == bindparam("b_venue"))
          .values(entries=occupancy.c.entries + bindparam("b_entries", type_=Integer),
                  exits=occupancy.c.exits + bindparam("b_exits", type_=Integer)))
# max(0, held - n), spelt as CASE: a two-argument max() is SQLite's only (PostgreSQL's is GREATEST).
_SHRINK_LEASE = (update(leases).where(leases.c.venue == bindparam("b_venue"), leases.c.gate == bindparam("b_gate"))
                 .values(held=case((leases.c.held > bindparam("b_n", type_=Integer),
                                    leases.c.held - bindparam("b_n", type_=Integer)), else_=0)))
_IS_EXIT = (events_table.c.kind == "exit") | ((events_table.c.direction == "out") & (events_table.c.decision == "admit"))
_UNMATCHED_EXITS = (select(events_table.c.id, events_table.c.gate, events_table.c.subject, events_table.c.at,
                           events_table.c.kind, events_table.c.decision, events_table.c.person_class, events_table.c.failed)
                    .where(events_table.c.venue == bindparam("b_venue"), events_table.c.effect == 0,
                           events_table.c.subject.in_(bindparam("b_subjects", expanding=True)), _IS_EXIT))
# No ORDER BY (the rows are sorted by time in Python): ordered by `at`, SQLite walked events_venue_at,
# every event of the venue (7.5 ms at 6,000 events, growing with the venue), not events_venue_subject.
_SUBJECT_BALANCE = (select(func.coalesce(func.sum(events_table.c.effect), 0))
                    .where(events_table.c.venue == bindparam("b_venue"), events_table.c.subject == bindparam("b_subject"),
                           events_table.c.effect != 0, events_table.c.at <= bindparam("b_at")))
_BALANCES = (select(events_table.c.subject, func.sum(events_table.c.effect))
             .where(events_table.c.venue == bindparam("b_venue"),
                    events_table.c.subject.in_(bindparam("b_subjects", expanding=True)), events_table.c.effect != 0)
             .group_by(events_table.c.subject))
_ADD_PRESENCE = insert(presence)
_HORIZONS = (select(venues.c.id, venues.c.events_deleted_before)
             .where(venues.c.id.in_(bindparam("b_venues", expanding=True)), venues.c.events_deleted_before.is_not(None)))


class HubDatabaseError(CheckpointError):
    """The hub's database cannot be opened (a file that is not a usable SQLite database, a server that does not answer)."""

    reason = "bad_database"


class HubStore(ConsoleQueries, AlertQueries, CommandQueries, HolderQueries, PeopleQueries, TraceQueries):
    """The hub's database (the console's queries come from `server/store_console.py`, the holder side's from
    `server/store_holders.py`, the people's from `server/store_people.py`, contact tracing's from
    `server/store_trace.py`)."""

    def __init__(self, database: Path | str, timeout: float = 30.0):
        """Open the database a SQLite path or a database URL names (server/store_engine.py)."""
        self.url = database_url(database)
        self.name = shown(self.url)  # for messages: the file, or the URL without its password
        self.path: Path | None = Path(self.url.database or "") if is_sqlite(self.url) else None
        self._lock_fd: int | None = None
        try:
            if self.path is not None:
                # Created 0600 before SQLite opens it (its -wal and -shm files take the database's mode): the file
                # holds the console's signing key and personal data, so other local users must not read it.
                # Only when it does not exist yet: closing any descriptor of a database file drops every POSIX
                # lock this process holds on it, so opening and closing it beside live connections (one per
                # request thread) corrupts the database under concurrent writers.
                try:
                    os.close(os.open(str(self.path), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    pass
            self.conn: Connection = engine_for(self.url).connect()
        except OSError as exc:
            raise HubDatabaseError(f"{self.name}: cannot open the hub database: {exc.strerror or exc}") from exc
        except OperationalError as exc:
            # One line: libpq's messages run over several.
            raise HubDatabaseError(f"{self.name}: cannot open the hub database: {' '.join(str(exc.orig).split())}") from exc
        except DBAPIError as exc:
            # Opened, but the connect listener's pragmas read a header that is not SQLite's (garbage, truncated).
            raise HubDatabaseError(f"{self.name}: not a usable hub database ({' '.join(str(exc.orig).split())})") from exc
        if self.path is not None:
            try:
                # The connect listener's pragmas read the header; this reads the schema: a damaged file fails here.
                self.conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").fetchone()
            except DBAPIError as exc:
                self.conn.close()
                raise HubDatabaseError(f"{self.name}: not a usable hub database ({exc.orig})") from exc
            # Writers queue on a file lock before BEGIN IMMEDIATE: SQLite's own busy handler sleeps
            # 1, 2, 5, 10... ms between retries, which under two busy workers cost hundreds of ms.
            self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            # Closed with the store, or when a store nobody closed is collected (a worker thread's store
            # dies with its thread, server/db.py): a raw fd outlives its object otherwise, and a long-running
            # process leaked one per such store until select() in paho-mqtt and pyserial met fd 1024.
            self._lock_closer = weakref.finalize(self, os.close, self._lock_fd)

    def migrate(self) -> list[str]:
        """Create or upgrade the schema (Alembic, server/store_migrate.py); the revisions applied now. At start-up only."""
        with self.write() as c:
            return upgrade(c)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
        if self._lock_fd is not None:
            self._lock_closer()  # closes the fd once, however often close() is called
            self._lock_fd = None

    @contextmanager
    def write(self, *venues: str) -> Iterator[Connection]:
        """One write transaction, rolled back on any error. Naming the venues it writes lets writes of other
        venues run beside it on PostgreSQL (server/store_engine.py `begin_write`); naming none queues it behind
        every other writer. SQLite has one writer at a time either way."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            begin_write(self.conn, venues)
            try:
                yield self.conn
            except BaseException:
                end_write(self.conn, commit=False)
                raise
            end_write(self.conn, commit=True)
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _rows(self, stmt: Executable) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def _one(self, stmt: Executable) -> dict[str, Any] | None:
        row = self.conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def _scalar(self, stmt: Executable) -> Any:
        return self.conn.execute(stmt).scalar()

    # ---- users -------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, role: str = "admin") -> None:
        """Create or replace a console/API user (a replaced user is bound to no venue, as a new one)."""
        with self.write() as c:
            c.execute(upsert(c, users, ["username"], ["password_hash", "role", "created_at", "venue"]),
                      {"username": username, "password_hash": hash_password(password), "role": role,
                       "created_at": utc_text(utc_now()), "venue": None})
        forget_verified()  # a replaced password: this worker forgets its matches (the others miss by the new hash)

    def check_user(self, username: str, password: str) -> str | None:
        """The user's role if the password is right, else None."""
        row = self._one(select(users.c.password_hash, users.c.role).where(users.c.username == username))
        if row and verify_password(password, row["password_hash"]):
            return row["role"]
        return None

    # ---- venues and gates --------------------------------------------------------------------

    def create_venue(self, venue_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Create a venue; raises sqlalchemy.exc.IntegrityError when it exists."""
        row = {k: settings.get(k) for k in VENUE_FIELDS}
        with self.write() as c:
            c.execute(insert(venues).values(id=venue_id, created_at=utc_text(utc_now()), **row))
            c.execute(insert(occupancy).values(venue=venue_id, inside=0, entries=0, exits=0))
        return self.venue(venue_id) or {}

    def update_venue(self, venue_id: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        """Change some of a venue's settings; None when there is no such venue."""
        fields = {k: settings[k] for k in VENUE_FIELDS if k in settings}
        if fields:
            with self.write() as c:
                c.execute(update(venues).where(venues.c.id == venue_id).values(**fields))
        return self.venue(venue_id)

    def venue(self, venue_id: str) -> dict[str, Any] | None:
        """One venue's settings, or None."""
        return self._one(select(venues).where(venues.c.id == venue_id))

    def venues(self) -> list[dict[str, Any]]:
        """Every venue."""
        return self._rows(select(venues).order_by(venues.c.id))

    def create_gate(self, venue: str, gate: str, name: str | None = None, direction: str | None = None) -> dict[str, Any]:
        """Add a gate to a venue (idempotent); `direction` 'in' or 'out' fixes which way it lets people through
        ('both': a door used either way, no check).

        Left None, the gate's first event fixes it (trust on first use), so a gate that has posted
        entries can never post exits, and the reverse.
        """
        with self.write() as c:
            c.execute(insert_ignore(c, gates).values(venue=venue, id=gate, name=name, direction=direction))
            if direction is not None:
                c.execute(update(gates).where(gates.c.venue == venue, gates.c.id == gate).values(direction=direction))
        return self.gates(venue, gate)[0]

    def set_gate_zone(self, venue: str, gate: str, zone: str | None) -> str | None:
        """Set (None: clear) the canteen zone a gate stands in; the zone it had before. KeyError: no such gate."""
        with self.write() as c:
            before = c.execute(select(gates.c.zone).where(gates.c.venue == venue, gates.c.id == gate)).first()
            if before is None:
                raise KeyError(gate)
            c.execute(update(gates).where(gates.c.venue == venue, gates.c.id == gate).values(zone=zone))
        return before[0]

    def gate_zones(self, venue: str) -> dict[str, str]:
        """The venue's gates that stand in a zone: gate id -> zone."""
        stmt = select(gates.c.id, gates.c.zone).where(gates.c.venue == venue, gates.c.zone.is_not(None))
        return {r["id"]: r["zone"] for r in self._rows(stmt)}

    def gates(self, venue: str, gate: str | None = None) -> list[dict[str, Any]]:
        """A venue's gates with the versions they run, when last seen, and the lease they hold."""
        g = gates
        stmt = (select(g.c.id, g.c.name, g.c.direction, g.c.zone, g.c.running, g.c.last_seen, g.c.status, g.c.status_at,
                       func.coalesce(leases.c.held, 0).label("lease"))
                .select_from(g.outerjoin(leases, (leases.c.venue == g.c.venue) & (leases.c.gate == g.c.id)))
                .where(g.c.venue == venue).order_by(g.c.id))
        if gate:
            stmt = stmt.where(g.c.id == gate)
        rows = self._rows(stmt)
        for r in rows:
            r["running"] = json.loads(r["running"]) if r["running"] else {}
        return rows

    def touch_gate(self, venue: str, gate: str, running: dict[str, str] | None) -> None:
        """Record that a gate called in, and the document versions it reports running."""
        with self.write(venue) as c:
            self._touch(c, venue, gate, running)

    def set_gate_status(self, venue: str, gate: str, status: str) -> None:
        """Record a gate's availability (from its retained MQTT status)."""
        with self.write(venue) as c:
            c.execute(update(gates).where(gates.c.venue == venue, gates.c.id == gate)
                      .values(status=status, status_at=utc_text(utc_now())))

    @staticmethod
    def _touch(c: Connection, venue: str, gate: str, running: dict[str, str] | None) -> None:
        values: dict[str, Any] = {"b_venue": venue, "b_gate": gate, "last_seen": utc_text(utc_now())}
        if running is not None:
            values["running"] = json.dumps(running, sort_keys=True)
        c.execute(_TOUCH, values)

    # ---- enrollment and devices --------------------------------------------------------------

    def create_enroll_token(self, venue: str, gate: str, ttl: dt.timedelta = dt.timedelta(days=1)) -> str:
        """A one-time enrollment token for a gate (only its hash is kept)."""
        token = secrets.token_urlsafe(24)
        with self.write() as c:
            c.execute(insert(enroll_tokens).values(token_sha256=sha256(token), venue=venue, gate=gate,
                                                   expires_at=utc_text(utc_now() + ttl)))
        return token

    def redeem_token(self, token: str) -> tuple[Device, str] | None:
        """Spend a token once: a new device and its secret (shown once, only hashes kept), or None."""
        secret = secrets.token_urlsafe(32)
        device_id = "dev-" + str(ULID()).lower()
        now = utc_text(utc_now())
        t = enroll_tokens
        with self.write() as c:
            cur = c.execute(update(t).where(t.c.token_sha256 == sha256(token), t.c.used_at.is_(None), t.c.expires_at > now)
                            .values(used_at=now))
            if cur.rowcount != 1:
                return None
            venue, gate = c.execute(select(t.c.venue, t.c.gate).where(t.c.token_sha256 == sha256(token))).one()
            c.execute(insert(devices).values(id=device_id, venue=venue, gate=gate, secret_sha256=sha256(secret),
                                             mqtt_hash=mosquitto_hash(secret), created_at=now))
        return Device(device_id, venue, gate), secret

    def device_for_secret(self, secret: str) -> Device | None:
        """The live device whose credential this is, or None."""
        row = self.conn.execute(_DEVICE, {"b_secret": sha256(secret)}).first()
        return Device(*row) if row else None

    def devices(self, venue: str) -> list[dict[str, Any]]:
        """A venue's devices: id, gate, when enrolled, when revoked (never a secret or a hash)."""
        d = devices
        return self._rows(select(d.c.id, d.c.gate, d.c.created_at, d.c.revoked_at).where(d.c.venue == venue).order_by(d.c.id))

    def revoke_device(self, venue: str, device_id: str) -> bool:
        """Revoke a device's credential at once (HTTP); the broker after the next mosquitto-config."""
        d = devices
        with self.write() as c:
            return c.execute(update(d).where(d.c.id == device_id, d.c.venue == venue, d.c.revoked_at.is_(None))
                             .values(revoked_at=utc_text(utc_now()))).rowcount == 1

    def mqtt_accounts(self) -> list[dict[str, Any]]:
        """Every live device's MQTT username (its id), password hash and gate, for the broker files."""
        d = devices
        return self._rows(select(d.c.id, d.c.venue, d.c.gate, d.c.mqtt_hash).where(d.c.revoked_at.is_(None)).order_by(d.c.id))

    # ---- events and occupancy ----------------------------------------------------------------

    def ingest(self, events: Sequence[GateEvent], received_at: dt.datetime | None = None,
               gate_running: tuple[str, str, dict[str, str] | None] | None = None) -> IngestResult:
        """Store a batch once per event id; count entries, exits and lease use of new events only.

        An event whose direction is not its gate's is refused (not stored, listed in the answer). An
        exit frees a place only when its subject is counted inside (stored with effect 0 otherwise),
        so the number inside never goes below zero and surplus exits cannot lend extra places.
        Each new admitted entry or exit of a subject also becomes a presence change (anti-passback), in
        the same transaction. `gate_running` (venue, gate, versions) also records that the gate called in.
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
        # Each venue's lock (PostgreSQL): batches of other venues are stored beside this one.
        written = {e.venue for e in timely} | ({gate_running[0]} if gate_running is not None else set())
        with self.write(*written) as c:
            held = self._held(c, timely)
            conflicts = self._conflicts(held, timely)
            facts: dict[tuple[str, str], Any] = {}
            accepted = self._after_horizon(c, self._check_directions(c, timely, refused, facts), refused)
            # Entries and exits counted per venue, written once at the end of the transaction.
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            # The first of each id is stored, later ones and ids held already are not (writers are serialised,
            # so what `held` read stays true until this transaction ends).
            seen = set(held)
            groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
            exits: list[GateEvent] = []
            admitted: list[GateEvent] = []  # entries of the batch with a subject, held already or not
            for e in accepted:
                eff = effect(e)
                if eff == 1 and e.subject:
                    admitted.append(e)
                if eff == -1:
                    exits.append(e)  # after the entries of the batch: an exit may match one of them
                elif e.id not in seen:
                    seen.add(e.id)
                    groups[(e.venue, e.gate, eff)].append(_event_row(e, eff, received))
            entered: list[dict[str, Any]] = []
            for (venue, gate, eff), rows in groups.items():
                rows = _inserted(c, rows)
                if not rows:
                    continue
                added = len(rows)
                new += added
                entered += rows
                if eff == 1:
                    beyond += self._beyond_lease(c, venue, gate, added, received, facts.get((venue, gate)))
                    counts[venue][0] += added
                    # Admissions made against a lease turn into occupancy: the lease shrinks (if it holds any).
                    known = facts.get((venue, gate))
                    if known is None or known[3] > 0:
                        c.execute(_SHRINK_LEASE, {"b_venue": venue, "b_gate": gate, "b_n": added})
            late = self._match_late_entries(c, admitted, counts)
            fresh_exits = []
            for e in sorted(exits, key=lambda x: x.at):
                if e.id not in seen:
                    seen.add(e.id)
                    fresh_exits.append(e)
            left = self._store_exits(c, fresh_exits, received, facts, counts)
            new += len(left)
            unmatched += sum(1 for r in left if r["effect"] == 0)
            # Presence changes in the order the events count: the entries, late-matched exits, the exits.
            self._add_presence(c, [*entered, *late, *left])
            # The hour counters, from the rows this transaction inserted (only those: a replay adds nothing);
            # a late-matched exit moves from effect 0 to -1.
            count_events(c, [*entered, *left])
            if late:
                count_events(c, [{**r, "effect": 0} for r in late], -1, index_rules=False)
                count_events(c, late, index_rules=False)
            # Alerts are raised with the events that carry them: once per event, never without it (issue 12).
            self.raise_event_alerts(c, [*entered, *left], now)
            for venue, (entries, exits_) in counts.items():
                if entries or exits_:
                    c.execute(_COUNT, {"b_venue": venue, "b_entries": entries, "b_exits": exits_})
            if gate_running is not None:
                self._touch(c, *gate_running)
        if late:
            log.info("%d exits stored earlier now match entries that arrived late", len(late))
        if unmatched:
            log.warning("%d exits of nobody counted inside: stored, no place freed", unmatched)
        for r in refused:
            log.warning("event %s refused: %s", r.id, r.reason)
        if conflicts:
            log.warning("events %s sent again with other content: the first kept", ", ".join(conflicts))
        if beyond:
            log.warning("ALERT %d admitted entries beyond the gates' leases: stored and audited", beyond)
        # Imported here, not at the top: `checkpoint hub serve` imports this module in gunicorn's master before
        # it sets $PROMETHEUS_MULTIPROC_DIR, and prometheus-client picks its mode when first imported.
        from server import metrics

        metrics.EVENTS_INGESTED.inc(new)
        if refused:
            metrics.EVENTS_REFUSED.inc(len(refused))
        taken = {r.id for r in refused}
        acked = [e.id for e in events if e.id not in taken]
        return IngestResult(acked, new, refused, conflicts, unmatched, beyond, self.alerted(acked))

    def _store_exits(self, c: Connection, exits: Sequence[GateEvent], received: str, facts: dict[tuple[str, str], Any],
                     counts: dict[str, list[int]]) -> list[dict[str, Any]]:
        """Store new exits in time order, each freeing a place only if its subject is counted inside; their rows."""
        stored: list[dict[str, Any]] = []
        by_venue: dict[str, list[GateEvent]] = defaultdict(list)
        for e in exits:
            by_venue[e.venue].append(e)
        for venue, mine in by_venue.items():
            known = next((row for (v, _), row in facts.items() if v == venue and row is not None), None)
            dwell = known[2] if known is not None else c.execute(_DWELL, {"b_venue": venue}).scalar()
            rows = []
            if dwell:
                # Inside means within the dwell time of each exit: one look-up per exit, each seeing the ones before.
                for e in mine:
                    rows += _inserted(c, [_event_row(e, -1 if self._counted_inside(c, e, dwell) else 0, received)])
            else:
                # Inside means more counted entries than exits, whenever: one sum per subject, then kept here.
                subjects = sorted({e.subject for e in mine if e.subject})
                balance = dict(c.execute(_BALANCES, {"b_venue": venue, "b_subjects": subjects}).all()) if subjects else {}
                for e in mine:
                    inside = bool(e.subject) and balance.get(e.subject, 0) > 0
                    if inside:
                        balance[e.subject] -= 1
                    rows.append(_event_row(e, -1 if inside else 0, received))
                rows = _inserted(c, rows)
            counts[venue][1] += sum(1 for r in rows if r["effect"] == -1)
            stored += rows
        return stored

    @staticmethod
    def _add_presence(c: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Record the presence changes of newly stored events, in the order they were stored (the cursor's order)."""
        changes = _presence_rows(rows)
        if changes:
            c.execute(_ADD_PRESENCE, changes)

    @staticmethod
    def _after_horizon(c: Connection, batch: list[GateEvent], refused: list[Refusal]) -> list[GateEvent]:
        """The events after their venue's deleted-before horizon; older ones go to `refused` (too old).

        Retention has deleted the venue's events before it, counters kept: one of those sent again would
        be inserted and counted twice, and the hub can no longer tell it from a new one."""
        if not batch:
            return batch
        horizons = dict(c.execute(_HORIZONS, {"b_venues": sorted({e.venue for e in batch})}).all())
        if not horizons:
            return batch
        kept = []
        for e in batch:
            if e.venue in horizons and utc_text(e.at) < horizons[e.venue]:
                refused.append(Refusal(e.id, *TOO_OLD))
            else:
                kept.append(e)
        return kept

    @staticmethod
    def _beyond_lease(c: Connection, venue: str, gate: str, admitted: int, received: str, known: Any = None) -> int:
        """Audit admitted entries at a capped venue beyond the places the gate held; how many were beyond."""
        # A gate admits only against places the hub lent it (guard openings too), so more is a faulty or
        # hostile device filling the venue. Still stored and counted: the people are inside, and a
        # refused record would under-count them; the audit shows supervisors which gate and how many.
        # `known`: the gate's facts read by _check_directions in this transaction (cap, held); else read now.
        row = (known[1], known[3]) if known is not None else c.execute(_CAP_AND_HELD, {"b_venue": venue, "b_gate": gate}).first()
        if row is None or row[0] is None or admitted <= row[1]:
            return 0
        c.execute(insert(audit).values(at=received, username=f"gate:{gate}", action="device.beyond_lease",
                                       target=f"{gate}: {admitted - row[1]} of {admitted}", venue=venue))
        return admitted - row[1]

    @staticmethod
    def _held(c: Connection, batch: Sequence[GateEvent]) -> dict[str, dict[str, Any]]:
        """The rows the hub already holds for the batch's ids."""
        if not batch:
            return {}
        ids = sorted({e.id for e in batch})
        return {r["id"]: dict(r) for r in c.execute(_HELD, {"b_ids": ids}).mappings()}

    @staticmethod
    def _conflicts(held: dict[str, dict[str, Any]], batch: Sequence[GateEvent]) -> list[str]:
        """Ids of the batch the hub already holds with other content (the first one stored is kept)."""
        out = []
        for e in batch:
            row = held.get(e.id)
            if row is not None:
                mine = _event_row(e, 0, "")
                if any(row[name] != mine[name] for name in _SAME_EVENT):
                    out.append(e.id)
        return out

    @staticmethod
    def _check_directions(c: Connection, batch: Sequence[GateEvent], refused: list[Refusal],
                          facts: dict[tuple[str, str], Any]) -> list[GateEvent]:
        """The events made the way their gate lets people through; the others go to `refused`.

        A gate with no direction yet takes that of its first event (trust on first use). `facts` gets each
        gate's row of `_GATE_FACTS` (None for a gate the hub has no row of).
        """
        known: dict[tuple[str, str], str | None] = {}
        accepted = []
        for e in batch:
            key = (e.venue, e.gate)
            if key not in known:
                facts[key] = c.execute(_GATE_FACTS, {"b_venue": e.venue, "b_gate": e.gate}).first()
                known[key] = facts[key][0] if facts[key] is not None else None
            way = gate_direction_of(e)
            if known[key] == "both":  # an admin's choice: a door used both ways, each event keeps its own
                accepted.append(e)
                continue
            if known[key] is None:
                c.execute(update(gates).where(gates.c.venue == e.venue, gates.c.id == e.gate, gates.c.direction.is_(None))
                          .values(direction=way))
                known[key] = way
            if way != known[key]:
                allowed = "进 in" if known[key] == "in" else "出 out"
                refused.append(Refusal(e.id, WRONG_DIRECTION[0], WRONG_DIRECTION[1].format(allowed=allowed)))
                continue
            accepted.append(e)
        return accepted

    @staticmethod
    def _match_late_entries(c: Connection, entries: list[GateEvent], counts: dict[str, list[int]]) -> list[dict[str, Any]]:
        """Let exits stored unmatched free their place now that an entry of theirs arrived (an entry gate
        was offline longer than the exit gate); the rows of the exits matched, as they now count."""
        ev = events_table
        by_venue: dict[str, set[str]] = defaultdict(set)
        for e in entries:
            by_venue[e.venue].add(e.subject or "")
        matched: list[dict[str, Any]] = []
        for venue, subjects in by_venue.items():
            rows = sorted(c.execute(_UNMATCHED_EXITS, {"b_venue": venue, "b_subjects": sorted(subjects)}).all(),
                          key=lambda r: (r[3], r[0]))
            for event_id, gate, subject, at, kind, decision, person_class, failed in rows:
                balance = c.execute(_SUBJECT_BALANCE, {"b_venue": venue, "b_subject": subject, "b_at": at}).scalar()
                if balance <= 0:
                    continue  # still nobody inside before this exit
                c.execute(update(ev).where(ev.c.id == event_id).values(effect=-1))
                counts[venue][1] += 1
                # Its presence change (an exit, now that it counts) goes in with the batch's own.
                # The rest of the row: its counters move from "stored, freed nothing" to "an exit".
                matched.append({"venue": venue, "gate": gate, "subject": subject, "effect": -1, "at": at, "id": event_id,
                                "kind": kind, "decision": decision, "person_class": person_class, "failed": failed})
        return matched

    @staticmethod
    def _counted_inside(c: Connection, exit_: GateEvent, dwell_minutes: int | None) -> bool:
        """True if the exit's subject has more counted entries than counted exits (within the dwell time, if any)."""
        if not exit_.subject:
            return False  # nobody named: no entry to match
        ev = events_table
        stmt = select(func.coalesce(func.sum(ev.c.effect), 0)).where(
            ev.c.venue == exit_.venue, ev.c.subject == exit_.subject, ev.c.effect != 0)
        if dwell_minutes:
            stmt = stmt.where(ev.c.at > utc_text(exit_.at - dt.timedelta(minutes=dwell_minutes)))
        return c.execute(stmt).scalar() > 0

    def event_count(self, venue: str | None = None) -> int:
        """How many events the hub holds (for one venue, or all)."""
        stmt = select(func.count()).select_from(events_table)
        if venue:
            stmt = stmt.where(events_table.c.venue == venue)
        return self._scalar(stmt)

    def presence_changes(self, venue: str, gate: str, after: int, since: dt.datetime,
                         limit: int = PRESENCE_PAGE) -> PresencePage:
        """Admitted entries and exits at the venue's other gates received after cursor `after`, at or after `since`."""
        top = self.presence_top(venue)
        if after > top:
            after = 0  # a cursor from another database (the hub was restored): start over
        # Bounded by `top` read first: every id up to it is committed (writers commit in id order),
        # so moving the cursor to `top` skips nothing that a later sync would have seen.
        rows = self.conn.execute(_PRESENCE_PAGE, {"b_venue": venue, "b_after": after, "b_top": top, "b_gate": gate,
                                                  "b_since": utc_text(since), "b_limit": limit}).all()
        more = len(rows) == limit
        changes = [{"subject": r[1], "direction": r[2], "at": r[3]} for r in rows]
        return PresencePage(changes, rows[-1][0] if more else top, more)

    def presence_top(self, venue: str) -> int:
        """The venue's highest presence id (0: none): every change up to it is committed."""
        return int(self.conn.execute(_PRESENCE_TOP, {"b_venue": venue}).scalar())

    def presence_rows(self, venue: str, after: int, top: int, since: str) -> list[tuple[int, str, str, str, str]]:
        """Every presence change of the venue (all gates) with after < id <= top and at >= since, in id order:
        (id, gate, subject, direction, at), for server/presence_window.py's copy of the window."""
        return [tuple(r) for r in self.conn.execute(_PRESENCE_ROWS, {"b_venue": venue, "b_after": after, "b_top": top,
                                                                     "b_since": since})]

    def _inside(self, c: Connection, venue: dict[str, Any], now: dt.datetime) -> int:
        ev = events_table
        if venue.get("dwell_minutes"):
            # No exit gates: an entry counts as inside until the dwell time has passed.
            cutoff = utc_text(now - dt.timedelta(minutes=venue["dwell_minutes"]))
            # Per subject, never below zero: an exit whose entry has aged out of the window frees nothing more.
            per_subject = (select(func.sum(ev.c.effect).label("n"))
                           .where(ev.c.venue == venue["id"], ev.c.at > cutoff, ev.c.effect != 0)
                           .group_by(ev.c.subject).subquery())
            n = per_subject.c.n
            return int(c.execute(select(func.coalesce(func.sum(case((n > 0, n), else_=0)), 0))).scalar())
        row = c.execute(select(occupancy.c.entries - occupancy.c.exits).where(occupancy.c.venue == venue["id"])).first()
        return max(0, row[0]) if row else 0

    def occupancy(self, venue_id: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
        """How many are inside, the cap, the places lent to gates, and what is free."""
        venue = self.venue(venue_id)
        if venue is None:
            return None
        inside = self._inside(self.conn, venue, now or utc_now())
        counts = self.conn.execute(select(occupancy.c.entries, occupancy.c.exits).where(occupancy.c.venue == venue_id)).one()
        leased = int(self._scalar(select(func.coalesce(func.sum(leases.c.held), 0)).where(leases.c.venue == venue_id)))
        cap = venue["cap"]
        free = None if cap is None else max(0, cap - inside - leased)
        return {"venue": venue_id, "inside": inside, "entries": counts[0], "exits": counts[1],
                "cap": cap, "leased": leased, "free": free}

    def lease(self, venue_id: str, gate: str, want: int, unsynced: int = 0,
              now: dt.datetime | None = None) -> dict[str, Any]:
        """Renew (or return, want=0) a gate's lease; leases never add up to more than the free places.

        One write transaction reads what is inside and held and writes the new lease, so two hub processes
        never lend the same place: a venue's write transactions queue behind each other across processes (SQLite's
        BEGIN IMMEDIATE, PostgreSQL's advisory lock of the venue: server/store_engine.py), and the venue's row is
        also locked FOR UPDATE (PostgreSQL; SQLite has no row locks and needs none), so the lease stays correct
        by itself whatever the writers' lock. tests/test_hub_processes.py: three hubs, one cap.
        """
        from server.leases import grant  # pure arithmetic kept beside its explanation

        with self.write(venue_id) as c:
            venue = c.execute(select(venues).where(venues.c.id == venue_id).with_for_update()).mappings().first() or {}
            inside = self._inside(c, dict(venue), now or utc_now())
            held = dict(c.execute(select(leases.c.gate, leases.c.held).where(leases.c.venue == venue_id)).all())
            # Exit gates take no share: a fair share split with them was a share no one could use.
            n_gates = c.execute(select(func.count()).select_from(gates).where(
                gates.c.venue == venue_id, func.coalesce(gates.c.direction, "") != "out")).scalar()
            exit_gate = c.execute(select(literal(1)).where(
                gates.c.venue == venue_id, gates.c.id == gate, gates.c.direction == "out")).first() is not None
            # Admissions not yet synced were made against places the hub lent this gate, so there can
            # be no more of them than it holds: a gate claiming more cannot hold back the others' places.
            unsynced = min(max(0, unsynced), held.get(gate, 0))
            # An exit gate admits nobody in, so it is lent nothing (whatever it asks for).
            granted = 0 if exit_gate else grant(venue.get("cap"), inside, held, gate, want, unsynced, n_gates)
            # Admissions the hub has not seen yet stay reserved until their events arrive.
            new_held = granted + max(0, unsynced)
            c.execute(upsert(c, leases, ["venue", "gate"], ["held", "updated_at"]),
                      {"venue": venue_id, "gate": gate, "held": new_held, "updated_at": utc_text(utc_now())})
            self._touch(c, venue_id, gate, None)  # a lease call is contact too: the gate is not silent
        if want > 0:
            from server import metrics  # imported late: see ingest()

            (metrics.LEASES_GRANTED if granted > 0 else metrics.LEASES_REFUSED).inc()
        return {"grant": granted, "held": new_held, "cap": venue.get("cap"), "inside": inside}

    def lent_places(self, venue_id: str, now: dt.datetime | None = None) -> list[LentPlaces]:
        """Per gate of a venue: the places it holds, its last contact, and whether they may be reclaimed now."""
        return self._lent(self.conn, venue_id, None, now or utc_now())

    def _lent(self, c: Connection, venue_id: str, gate: str | None, now: dt.datetime) -> list[LentPlaces]:
        from server.reports import stored_time  # reports imports this module: read lazily, as the console does

        after = c.execute(select(venues.c.lease_reclaim_after_s).where(venues.c.id == venue_id)).scalar()
        after = after or DEFAULT_RECLAIM_AFTER_S
        g, lz = gates, leases
        stmt = (select(g.c.id, g.c.direction, func.coalesce(lz.c.held, 0), g.c.last_seen, lz.c.updated_at, lz.c.reclaimed_at)
                .select_from(g.outerjoin(lz, (lz.c.venue == g.c.venue) & (lz.c.gate == g.c.id)))
                .where(g.c.venue == venue_id).order_by(g.c.id))
        if gate:
            stmt = stmt.where(g.c.id == gate)
        out = []
        for gate_id, direction, held, seen, renewed, reclaimed in c.execute(stmt).all():
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
        with self.write(venue_id) as c:
            found = self._lent(c, venue_id, gate, now)
            if not found:
                raise KeyError(gate)
            lent = found[0]
            check_reclaim(lent)
            c.execute(update(leases).where(leases.c.venue == venue_id, leases.c.gate == gate)
                      .values(held=0, reclaimed_at=utc_text(now)))
            c.execute(insert(audit).values(at=utc_text(now), username=username, action="lease.reclaim",
                                           target=f"{gate}: {lent.held}", venue=venue_id))
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
    def _put_document(c: Connection, venue: str, kind: str, body: bytes, content_type: str) -> dict[str, Any]:
        etag = hashlib.sha256(body).hexdigest()[:32]
        d = documents
        row = c.execute(select(d.c.version, d.c.etag).where(d.c.venue == venue, d.c.kind == kind)).first()
        if row and row[1] == etag:
            return {"kind": kind, "version": row[0], "etag": etag}
        version = (row[0] if row else 0) + 1
        c.execute(upsert(c, d, ["venue", "kind"], ["version", "etag", "content_type", "body", "created_at"]),
                  {"venue": venue, "kind": kind, "version": version, "etag": etag, "content_type": content_type,
                   "body": body, "created_at": utc_text(utc_now())})
        return {"kind": kind, "version": version, "etag": etag}

    def document(self, venue: str, kind: str) -> dict[str, Any] | None:
        """The current version of a venue's document with its bytes, or None."""
        d = documents
        return self._one(select(d.c.kind, d.c.version, d.c.etag, d.c.content_type, d.c.body)
                         .where(d.c.venue == venue, d.c.kind == kind))

    def versions(self, venue: str) -> dict[str, str]:
        """The current version of each of a venue's documents: what its gates must run."""
        return {r[0]: str(r[1]) for r in self.conn.execute(_VERSIONS, {"b_venue": venue})}

    def all_versions(self) -> dict[str, dict[str, str]]:
        """Versions per venue, for the MQTT bridge's retained notices."""
        d = documents
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for venue, kind, version in self.conn.execute(select(d.c.venue, d.c.kind, d.c.version).order_by(d.c.venue, d.c.kind)):
            out[venue][kind] = str(version)
        return dict(out)

    def all_gates(self) -> list[tuple[str, str]]:
        """Every (venue, gate) pair."""
        return [tuple(r) for r in self.conn.execute(select(gates.c.venue, gates.c.id).order_by(gates.c.venue, gates.c.id))]

    # ---- reservations ------------------------------------------------------------------------

    def reserve(self, venue: str, slot: str, subject: str, capacity: int) -> int | None:
        """Book a subject into a slot; the booking's id, or None when the slot is full."""
        r = reservations
        with self.write() as c:
            mine = c.execute(select(r.c.id).where(r.c.venue == venue, r.c.slot == slot, r.c.subject == subject)).scalar()
            if mine is not None:  # booking again is the same booking
                return mine
            taken = c.execute(select(func.count()).select_from(r).where(r.c.venue == venue, r.c.slot == slot)).scalar()
            if taken >= capacity:
                return None
            cur = c.execute(insert(r).values(venue=venue, slot=slot, subject=subject, created_at=utc_text(utc_now())))
            return cur.inserted_primary_key[0]

    def slots(self, venue: str) -> list[dict[str, Any]]:
        """Bookings per slot."""
        r = reservations
        return self._rows(select(r.c.slot, func.count().label("booked")).where(r.c.venue == venue)
                          .group_by(r.c.slot).order_by(r.c.slot))

    def bookings(self, venue: str, since: str) -> list[dict[str, Any]]:
        """Every booking of a slot starting at or after `since` (UTC text), as (subject keyed hash, slot start)."""
        r = reservations
        return self._rows(select(r.c.subject, r.c.slot).where(r.c.venue == venue, r.c.slot >= since)
                          .order_by(r.c.slot, r.c.subject))

    # ---- schedule groups (meal groups, shifts) -------------------------------------------------

    def schedule_groups(self, venue: str) -> list[dict[str, Any]]:
        """The venue's roster groups with time windows: name, kind, zones and slots (JSON text)."""
        sg = schedule_groups
        return self._rows(select(sg.c.name, sg.c.kind, sg.c.zones, sg.c.slots).where(sg.c.venue == venue)
                          .order_by(sg.c.name))

    def put_schedule_group(self, venue: str, name: str, kind: str, zones: str, slots: str) -> None:
        """Set a group's windows (zones and slots as JSON text), replacing what it had."""
        with self.write() as c:
            c.execute(upsert(c, schedule_groups, ["venue", "name"], ["kind", "zones", "slots", "updated_at"]),
                      {"venue": venue, "name": name, "kind": kind, "zones": zones, "slots": slots,
                       "updated_at": utc_text(utc_now())})

    def delete_schedule_group(self, venue: str, name: str) -> bool:
        """Remove a group's windows; False when it had none."""
        sg = schedule_groups
        with self.write() as c:
            return c.execute(delete(sg).where(sg.c.venue == venue, sg.c.name == name)).rowcount > 0

    # ---- access log --------------------------------------------------------------------------

    def access_log(self, *, venue: str | None = None, gate: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, decision: str | None = None, rule: str | None = None,
                   limit: int = 1000, offset: int = 0, before: Cursor | None = None) -> list[dict[str, Any]]:
        """Events matching the filters, newest first; a page starts past `before` (keyset) or after `offset` rows."""
        ev = events_table
        stmt = select(*(ev.c[name] for name in EVENT_COLUMNS if name not in ("effect", "wall_at")))
        stmt, at, key = self._by_rule(stmt, rule, venue, ev)
        for column, value in (("venue", venue), ("gate", gate), ("decision", decision)):
            if value is not None:
                stmt = stmt.where(ev.c[column] == value)
        if since is not None:
            stmt = stmt.where(at >= utc_text(since))
        if until is not None:
            stmt = stmt.where(at < utc_text(until))
        stmt, _ = keyset(stmt, at, key, before)
        rows = self._rows(stmt.limit(limit).offset(offset))
        for r in rows:
            r["failed"] = [x for x in r["failed"].split(",") if x]
            r["reasons"] = json.loads(r["reasons"])
        return rows
