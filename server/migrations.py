"""The hub's old schema steps (SQLite through sqlite-utils), frozen: Alembic owns the schema now.

Kept only to take over a database an older hub made (server/store_migrate.py): the steps it has not
applied yet are finished here, so that it is exactly the schema of Alembic's first revision, then it
is stamped. Applied names are recorded in `_migrations`. Never edit or add a step: a schema change is
a new Alembic revision (server/alembic/versions/).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from sqlite_utils import Database

from protocols.clock import utc_now, utc_text
from protocols.events import PRESENCE_WINDOW_MAX

log = logging.getLogger(__name__)


def _m001_accounts(db: Database) -> None:
    db["users"].create({"username": str, "password_hash": str, "role": str, "created_at": str}, pk="username")
    db["venues"].create(
        {
            "id": str,
            "name": str,
            "cap": int,  # places; NULL means no cap
            "dwell_minutes": int,  # venues without exit gates: an entry frees its place after this
            "gathering": int,  # expected attendees of a gathering held here (POLICY.md tiers)
            "plan_approved": int,
            "slot_minutes": int,  # reservations: staggered slots of this length
            "slot_capacity": int,  # reservations per slot
            "created_at": str,
        },
        pk="id",
    )
    db["gates"].create(
        {"venue": str, "id": str, "name": str, "running": str, "last_seen": str},
        pk=("venue", "id"),
        foreign_keys=[("venue", "venues", "id")],
    )
    db["devices"].create(
        {"id": str, "venue": str, "gate": str, "secret_sha256": str, "mqtt_hash": str, "created_at": str, "revoked_at": str},
        pk="id",
    )
    db["devices"].create_index(["secret_sha256"], unique=True, index_name="devices_secret")
    db["enroll_tokens"].create(
        {"token_sha256": str, "venue": str, "gate": str, "expires_at": str, "used_at": str}, pk="token_sha256"
    )


def _m002_events_and_occupancy(db: Database) -> None:
    # WITHOUT ROWID: the ULID primary key is the table; dedup is INSERT OR IGNORE on it.
    db.execute(
        """CREATE TABLE events (
            id TEXT PRIMARY KEY, venue TEXT NOT NULL, gate TEXT NOT NULL, at TEXT NOT NULL,
            kind TEXT NOT NULL, direction TEXT NOT NULL, decision TEXT, effect INTEGER NOT NULL,
            failed TEXT NOT NULL, reasons TEXT NOT NULL, subject TEXT, name TEXT, person_class TEXT,
            colour TEXT, celsius REAL, bundle_version TEXT, credential_format TEXT, operator TEXT,
            note TEXT, received_at TEXT NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX events_venue_at ON events (venue, at)")
    # One counter row per venue, updated in the same transaction as the inserts it counts.
    db["occupancy"].create({"venue": str, "inside": int, "entries": int, "exits": int}, pk="venue")
    db["leases"].create(
        {"venue": str, "gate": str, "held": int, "updated_at": str}, pk=("venue", "gate")
    )


def _m003_distribution(db: Database) -> None:
    db["documents"].create(
        {"venue": str, "kind": str, "version": int, "etag": str, "content_type": str, "body": bytes, "created_at": str},
        pk=("venue", "kind"),
    )
    db["reservations"].create(
        {"id": int, "venue": str, "slot": str, "subject": str, "created_at": str}, pk="id"
    )
    db["reservations"].create_index(["venue", "slot"], index_name="reservations_slot")
    db["reservations"].create_index(["venue", "slot", "subject"], unique=True, index_name="reservations_once")


def _m004_gate_status(db: Database) -> None:
    # The gate's availability as its retained MQTT status says: online / offline / stopped.
    db["gates"].add_column("status", str)
    db["gates"].add_column("status_at", str)


def _m005_console(db: Database) -> None:
    # The supervisors' console: who may see which venue, venue report/retention settings,
    # reviews of denials, visit requests, filed daily reports, and an audit of views of personal data.
    db["users"].add_column("venue", str)  # NULL: every venue
    db["venues"].add_column("kind", str)  # factory, school, kindergarten, market, canteen, office, village
    db["venues"].add_column("report_deadline_hour", int)  # NULL: 10 for schools and kindergartens, else 14
    db["venues"].add_column("retention_days", int)  # NULL: 28 (contact tracing needs 21-28 days)
    # The console's filters: venue + decision + time, and time alone for the all-venues view.
    db.execute("CREATE INDEX events_venue_decision_at ON events (venue, decision, at)")
    db.execute("CREATE INDEX events_venue_gate_at ON events (venue, gate, at)")
    db.execute("CREATE INDEX events_at ON events (at)")
    db["denial_reviews"].create(
        {"event_id": str, "reviewer": str, "note": str, "reviewed_at": str}, pk="event_id"
    )
    db["visits"].create(
        {
            "id": int, "venue": str, "name": str, "subject": str, "host": str, "purpose": str,
            "starts_at": str, "ends_at": str, "status": str, "created_by": str, "created_at": str,
            "decided_by": str, "decided_at": str,
        },
        pk="id",
    )
    db["visits"].create_index(["venue", "status", "ends_at"], index_name="visits_venue_status")
    db["daily_reports"].create(
        {"venue": str, "day": str, "filed_by": str, "filed_at": str, "deadline": str, "late": int, "body": str},
        pk=("venue", "day"),
    )
    db["audit"].create(
        {"id": int, "at": str, "username": str, "action": str, "target": str, "venue": str}, pk="id"
    )
    db["audit"].create_index(["at"], index_name="audit_at")
    db["settings"].create({"name": str, "value": str}, pk="name")


def _m006_presence(db: Database) -> None:
    # Anti-passback across a venue's gates: every admitted entry and exit, in the order the hub
    # received it. The AUTOINCREMENT id is the cursor a gate syncs from: ids are assigned inside
    # the serialised write transactions, so they commit in order and a late event (old `at`) still
    # gets a new id and is never skipped, and ids are never reused after old rows are purged.
    # A trigger, not code in ingest: every path that inserts an event (HTTP, MQTT bridge) fills it,
    # and INSERT OR IGNORE of a duplicate inserts nothing, so nothing is counted twice.
    db.execute(
        """CREATE TABLE presence (
            id INTEGER PRIMARY KEY AUTOINCREMENT, venue TEXT NOT NULL, gate TEXT NOT NULL,
            subject TEXT NOT NULL, direction TEXT NOT NULL, at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX presence_venue_id ON presence (venue, id)")
    db.execute("CREATE INDEX presence_at ON presence (at)")
    db.execute(
        """CREATE TRIGGER events_presence AFTER INSERT ON events
           WHEN NEW.effect != 0 AND NEW.subject IS NOT NULL
           BEGIN
             INSERT INTO presence (venue, gate, subject, direction, at)
             VALUES (NEW.venue, NEW.gate, NEW.subject, CASE WHEN NEW.effect > 0 THEN 'in' ELSE 'out' END, NEW.at);
           END"""
    )
    # The last day of an existing hub, so gates know who is inside from the first sync after the upgrade.
    since = utc_text(utc_now() - PRESENCE_WINDOW_MAX)
    db.execute(
        "INSERT INTO presence (venue, gate, subject, direction, at)"
        " SELECT venue, gate, subject, CASE WHEN effect > 0 THEN 'in' ELSE 'out' END, at FROM events"
        " WHERE effect != 0 AND subject IS NOT NULL AND at >= ? ORDER BY received_at, id", [since]
    )


def _m007_gate_direction(db: Database) -> None:
    # Which way a gate lets people through: 'in' (entries only) or 'out' (exits only); NULL until an
    # admin says so or the gate's first event does. Existing gates learn it from what they posted.
    db["gates"].add_column("direction", str)
    db.execute(
        "UPDATE gates SET direction = (SELECT CASE WHEN e.kind = 'exit' THEN 'out' ELSE e.direction END FROM events e"
        " WHERE e.venue = gates.venue AND e.gate = gates.id ORDER BY e.received_at, e.id LIMIT 1)"
    )
    # An exit frees a place only when its subject is inside: looked up by subject at every exit.
    db.execute("CREATE INDEX events_venue_subject ON events (venue, subject, at)")
def _m008_rate_limits(db: Database) -> None:
    # Flask-Limiter's counters (server/limits_store.py): one row per limit key and window, shared by
    # every gunicorn worker and hub process on this database, so a guess counts once wherever it lands.
    db.execute("CREATE TABLE rate_limits (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)")
    # The per-user-and-source lockout counts failed logins in the audit by user name and source.
    db.execute("CREATE INDEX audit_login ON audit (username, action, target, at)")


def _m009_event_wall_clock(db: Database) -> None:
    # What the gate's wall clock said when it decided by its trusted time instead (the clock defence);
    # NULL for events of gates from before it.
    db["events"].add_column("wall_at", str)


def _m010_lease_reclaim(db: Database) -> None:
    # How long a gate must be silent before a supervisor may take back the places lent to it
    # (NULL: 600 s); and when a lease was last reclaimed, so the console can say so.
    db["venues"].add_column("lease_reclaim_after_s", int)
    db["leases"].add_column("reclaimed_at", str)


def _m011_schedule_groups(db: Database) -> None:
    # The venue's roster groups with time windows (canteen meal groups, staff shifts), signed into the
    # `schedule` document with the bookings; zones and slots as JSON lists.
    db["schedule_groups"].create(
        {"venue": str, "name": str, "kind": str, "zones": str, "slots": str, "updated_at": str}, pk=("venue", "name"))


def _m012_venue_timezone(db: Database) -> None:
    # The venue's IANA zone for every time shown or exported (console, CSV, report days and deadlines);
    # NULL: the hub's CONSOLE_TZ (default Asia/Shanghai).
    db["venues"].add_column("timezone", str)


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("001_accounts", _m001_accounts),
    ("002_events_and_occupancy", _m002_events_and_occupancy),
    ("003_distribution", _m003_distribution),
    ("004_gate_status", _m004_gate_status),
    ("005_console", _m005_console),
    ("006_presence", _m006_presence),
    ("007_gate_direction", _m007_gate_direction),
    ("008_rate_limits", _m008_rate_limits),
    ("009_event_wall_clock", _m009_event_wall_clock),
    ("010_lease_reclaim", _m010_lease_reclaim),
    ("011_schedule_groups", _m011_schedule_groups),
    ("012_venue_timezone", _m012_venue_timezone),
]


def migrate(db: Database) -> list[str]:
    """Apply every old step not yet recorded, each in its own transaction (how older hubs built their database)."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            step(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                [name, utc_now().isoformat()],
            )
        log.info("hub migration %s applied", name)
        applied.append(name)
    return applied


def finish_legacy(conn: sqlite3.Connection) -> list[str]:
    """Apply the old steps a database lacks inside the caller's open transaction; the names applied."""
    db = Database(conn)
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, step in MIGRATIONS:
        if name not in done:
            step(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, utc_now().isoformat()])
            applied.append(name)
    return applied
