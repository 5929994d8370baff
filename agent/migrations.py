"""The agent store's schema as named migrations, each applied once in its own transaction.

Applied names are recorded in `_migrations`; a new schema change is a new entry at the end of
MIGRATIONS, never an edit of an old one (a gate in the field already ran the old ones).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlite_utils import Database

from protocols.clock import utc_now
from protocols.events import TAKES_PLACE_SQL

log = logging.getLogger(__name__)


def _m001_events_and_outbox(db: Database) -> None:
    # events: what happened at this gate, reduced to the least the rules and supervisors need.
    db["events"].create(
        {
            "id": str,  # ULID minted at the gate; never changes
            "kind": str,
            "at": str,  # ISO 8601 UTC
            "direction": str,
            "decision": str,
            "subject": str,  # keyed hash, never the subject id itself
            "name": str,  # masked
            "person_class": str,
            "colour": str,
            "celsius": float,
            "bundle_version": str,
            "payload": str,  # GateEvent JSON, exactly what the hub receives
        },
        pk="id",
        not_null={"kind", "at", "payload"},
    )
    db["events"].create_index(["subject", "at"], index_name="events_subject_at")
    db["events"].create_index(["at"], index_name="events_at")
    # outbox: one row per event the sync client still has to deliver (or has delivered).
    db["outbox"].create(
        {"event_id": str, "payload": str, "created_at": str, "attempts": int, "sent_at": str, "last_error": str},
        pk="event_id",
        not_null={"payload", "created_at", "attempts"},
        defaults={"attempts": 0},
        foreign_keys=[("event_id", "events", "id")],
    )
    db["outbox"].create_index(["sent_at", "created_at"], index_name="outbox_pending")


def _m002_lease(db: Database) -> None:
    # The hub's last lease answer, so a restarted gate that cannot reach the hub still knows its
    # places: the grant minus the admissions recorded after `after_event` (one row, id 1).
    db["lease"].create({"id": int, "cap": int, "grant": int, "after_event": str, "saved_at": str}, pk="id",
                       not_null={"grant", "saved_at"})


def _m003_decision_inputs(db: Database) -> None:
    # What the rules saw for each decision they made (protocols.decision.decision_inputs, subject
    # hashed), so `checkpoint rules backtest` can replay real decisions under a new bundle. Local to
    # the gate: never in the outbox nor the GateEvent the hub receives. `decision` is the rules' own
    # (before the venue cap turned an admit into a denial); `at` the moment they decided.
    db["decision_inputs"].create(
        {"event_id": str, "at": str, "decision": str, "inputs": str},
        pk="event_id",
        not_null={"at", "decision", "inputs"},
        foreign_keys=[("event_id", "events", "id")],
    )
    db["decision_inputs"].create_index(["at"], index_name="decision_inputs_at")


def _m004_peer_presence(db: Database) -> None:
    # Anti-passback across the venue's gates: admitted entries and exits at the OTHER gates, as the
    # hub's sync answer lists them, kept so an offline gate still uses what it last heard; and the
    # hub's cursor to ask from next (one row, id 1). Subject: the venue's keyed hash, as in events.
    db["peer_presence"].create({"id": int, "subject": str, "direction": str, "at": str}, pk="id",
                               not_null={"subject", "direction", "at"})
    # The scan-to-decision check looks up one subject in the window: (subject, at) keeps it one seek.
    db["peer_presence"].create_index(["subject", "at"], index_name="peer_presence_subject_at")
    db["peer_presence"].create_index(["at"], index_name="peer_presence_at")
    db["peer_cursor"].create({"id": int, "after": int, "saved_at": str}, pk="id", not_null={"after", "saved_at"})


def _m005_clock_anchor(db: Database) -> None:
    # The last trusted time (agent/trusted_clock.py): the hub's clock at a sync, the monotonic clock at
    # that moment and the boot it belongs to (one row, id 1), so a restart without the hub keeps a reference.
    db["clock_anchor"].create({"id": int, "hub_at": float, "monotonic": float, "boot_id": str, "saved_at": str},
                              pk="id", not_null={"hub_at", "monotonic", "boot_id", "saved_at"})


def _m006_outbox_backlog(db: Database) -> None:
    # After a long outage the outbox holds 100k rows: the sync client's "oldest pending first" sorted
    # every one of them on each call, and the lease renewal read all of them to count the admissions
    # the hub has not seen. A partial index in the outbox's order makes the first a seek, and a counter
    # kept by triggers (in the writer's own transaction, so a crash cannot make it drift) the second.
    # outbox_pending (sent_at, created_at) served that query only, and without ANALYZE the planner kept
    # choosing it and sorting: it goes.
    db.execute("DROP INDEX IF EXISTS outbox_pending")
    db.execute("CREATE INDEX outbox_unsent ON outbox (event_id) WHERE sent_at IS NULL")
    db.execute("CREATE TABLE outbox_unsynced (id INTEGER PRIMARY KEY CHECK (id = 1), places INTEGER NOT NULL)")
    # What "takes a place" means is frozen into the triggers here: a change to protocols.events'
    # definition needs a migration that recreates them (tests/test_agent_backlog.py checks they agree).
    takes = f"EXISTS (SELECT 1 FROM events WHERE id = {{row}}.event_id AND {TAKES_PLACE_SQL})"
    db.execute(f"INSERT INTO outbox_unsynced (id, places) SELECT 1, count(*) FROM outbox o "
               f"WHERE o.sent_at IS NULL AND {takes.format(row='o')}")
    db.execute(f"CREATE TRIGGER outbox_unsynced_add AFTER INSERT ON outbox "
               f"WHEN NEW.sent_at IS NULL AND {takes.format(row='NEW')} "
               f"BEGIN UPDATE outbox_unsynced SET places = places + 1 WHERE id = 1; END")
    db.execute(f"CREATE TRIGGER outbox_unsynced_sent AFTER UPDATE OF sent_at ON outbox "
               f"WHEN OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL AND {takes.format(row='OLD')} "
               f"BEGIN UPDATE outbox_unsynced SET places = places - 1 WHERE id = 1; END")
    db.execute(f"CREATE TRIGGER outbox_unsynced_gone BEFORE DELETE ON outbox "
               f"WHEN OLD.sent_at IS NULL AND {takes.format(row='OLD')} "
               f"BEGIN UPDATE outbox_unsynced SET places = places - 1 WHERE id = 1; END")


def _m007_outbox_depth(db: Database) -> None:
    # The gate's figures (sent with every sync) carry how many events wait: a count(*) of up to 100k
    # pending rows on each sync, under the lock the decisions take. A second counter in the same row,
    # kept by triggers in the writer's own transaction as the first is, makes it one row read.
    db.execute("ALTER TABLE outbox_unsynced ADD COLUMN pending INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE outbox_unsynced SET pending = (SELECT count(*) FROM outbox WHERE sent_at IS NULL) WHERE id = 1")
    db.execute("CREATE TRIGGER outbox_pending_add AFTER INSERT ON outbox WHEN NEW.sent_at IS NULL "
               "BEGIN UPDATE outbox_unsynced SET pending = pending + 1 WHERE id = 1; END")
    db.execute("CREATE TRIGGER outbox_pending_sent AFTER UPDATE OF sent_at ON outbox "
               "WHEN OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL "
               "BEGIN UPDATE outbox_unsynced SET pending = pending - 1 WHERE id = 1; END")
    db.execute("CREATE TRIGGER outbox_pending_gone BEFORE DELETE ON outbox WHEN OLD.sent_at IS NULL "
               "BEGIN UPDATE outbox_unsynced SET pending = pending - 1 WHERE id = 1; END")


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("001_events_and_outbox", _m001_events_and_outbox),
    ("002_lease", _m002_lease),
    ("003_decision_inputs", _m003_decision_inputs),
    ("004_peer_presence", _m004_peer_presence),
    ("005_clock_anchor", _m005_clock_anchor),
    ("006_outbox_backlog", _m006_outbox_backlog),
    ("007_outbox_depth", _m007_outbox_depth),
]


def migrate(db: Database) -> list[str]:
    """Apply every migration not applied yet; return the names applied now."""
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with db.atomic():
            step(db)
            db["_migrations"].insert({"name": name, "applied_at": utc_now().isoformat()})
        log.info("applied migration %s", name)
        applied.append(name)
    return applied
