"""The hub's tables as SQLAlchemy Core `MetaData`: the schema of the old migrations 001-012, column for column.

Alembic's revisions (server/alembic/versions/) create and change these tables; the store's queries
(server/store*.py) are built from them. The same tables run on SQLite and PostgreSQL; where the two
engines differ, it is said here once:

- floats: `Real`, 8 bytes on both (SQLite's REAL, PostgreSQL's DOUBLE PRECISION).
- text: `Str` is TEXT, compared byte by byte on both (SQLite's BINARY, PostgreSQL's "C" collation), so
  ids, subject hashes and times sort the same on either engine whatever the database's locale.
- times: ISO-8601 UTC text (`protocols.clock.utc_text`), not a time type: the text is what gates sign
  and compare, and in one fixed format it orders as the times do.
- JSON (`gates.running`, `events.reasons`): JSON text, parsed by the store, never by SQL.
- `events` is WITHOUT ROWID on SQLite (the ULID key is the table); `presence.id` is AUTOINCREMENT on
  SQLite and a sequence on PostgreSQL: on both an id is never reused after old rows are purged.
"""

from __future__ import annotations

from sqlalchemy import Column, Double, ForeignKey, Index, Integer, LargeBinary, MetaData, Table, Text, text
from sqlalchemy.dialects import postgresql, sqlite

Str = Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
Real = Double().with_variant(sqlite.REAL(), "sqlite")  # 8-byte floats on both: REAL, DOUBLE PRECISION

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("username", Str, primary_key=True),
    Column("password_hash", Str),
    Column("role", Str),
    Column("created_at", Str),
    Column("venue", Str),  # NULL: every venue
)

venues = Table(
    "venues", metadata,
    Column("id", Str, primary_key=True),
    Column("name", Str),
    Column("cap", Integer),  # places; NULL means no cap
    Column("dwell_minutes", Integer),  # venues without exit gates: an entry frees its place after this
    Column("gathering", Integer),  # expected attendees of a gathering held here (POLICY.md tiers)
    Column("plan_approved", Integer),
    Column("slot_minutes", Integer),  # reservations: staggered slots of this length
    Column("slot_capacity", Integer),  # reservations per slot
    Column("created_at", Str),
    Column("kind", Str),  # factory, school, kindergarten, market, canteen, office, village
    Column("report_deadline_hour", Integer),  # NULL: 10 for schools and kindergartens, else 14
    Column("retention_days", Integer),  # NULL: 28 (contact tracing needs 21-28 days)
    # How long a gate must be silent before a supervisor may take back the places lent to it (NULL: 600 s).
    Column("lease_reclaim_after_s", Integer),
    # The venue's IANA zone for every time shown or exported; NULL: the hub's CONSOLE_TZ (default Asia/Shanghai).
    Column("timezone", Str),
    # Retention has deleted this venue's events before this time (UTC text; NULL: none deleted): an event
    # older than it is refused, since the hub can no longer tell a new one from a replay already counted.
    Column("events_deleted_before", Str),
    # Issuing (revision 0008_i10_holder): minutes a hub-issued pass is valid (NULL: 5) and the test window in hours (NULL: 48).
    Column("pass_minutes", Integer),
    Column("test_window_hours", Integer),
    # Status feeds (revision 0009_status_feeds): how old the authority's colour and the holder's declaration
    # may be before issuing refuses green (NULL: 24 h each, POLICY.md section 6).
    Column("colour_max_age_hours", Integer),
    Column("declaration_max_age_hours", Integer),
)

gates = Table(
    "gates", metadata,
    Column("venue", Str, ForeignKey("venues.id"), primary_key=True),
    Column("id", Str, primary_key=True),
    Column("name", Str),
    Column("running", Str),  # JSON text: the document versions the gate reports running
    Column("last_seen", Str),
    Column("status", Str),  # online / offline / stopped, from its retained MQTT status
    Column("status_at", Str),
    Column("direction", Str),  # 'in', 'out', 'both'; NULL until an admin or the gate's first event says
    Column("zone", Str),  # canteen zone where the gate stands (signed into the schedule); NULL: none (revision 0003)
)

devices = Table(
    "devices", metadata,
    Column("id", Str, primary_key=True),
    Column("venue", Str),
    Column("gate", Str),
    Column("secret_sha256", Str),
    Column("mqtt_hash", Str),
    Column("created_at", Str),
    Column("revoked_at", Str),
    Index("devices_secret", "secret_sha256", unique=True),
)

enroll_tokens = Table(
    "enroll_tokens", metadata,
    Column("token_sha256", Str, primary_key=True),
    Column("venue", Str),
    Column("gate", Str),
    Column("expires_at", Str),
    Column("used_at", Str),
)

# Code colours the daily report counts, as SQL text: the partial index below and the query share it.
ALERT_COLOURS = "colour IN ('red', 'yellow')"

events = Table(
    "events", metadata,
    Column("id", Str, primary_key=True),
    Column("venue", Str, nullable=False),
    Column("gate", Str, nullable=False),
    Column("at", Str, nullable=False),
    Column("kind", Str, nullable=False),
    Column("direction", Str, nullable=False),
    Column("decision", Str),
    Column("effect", Integer, nullable=False),
    Column("failed", Str, nullable=False),  # ",RULE-1,RULE-2," so one rule is found as a substring
    Column("reasons", Str, nullable=False),  # JSON text
    Column("subject", Str),
    Column("name", Str),
    Column("person_class", Str),
    Column("colour", Str),
    Column("celsius", Real),
    Column("bundle_version", Str),
    Column("credential_format", Str),
    Column("operator", Str),
    Column("note", Str),
    Column("received_at", Str, nullable=False),
    # What the gate's wall clock said when it decided by its trusted time instead (the clock defence);
    # NULL for events of gates from before it.
    Column("wall_at", Str),
    Index("events_venue_at", "venue", "at"),
    # The console's filters: venue + decision + time, and time alone for the all-venues view.
    Index("events_venue_decision_at", "venue", "decision", "at"),
    Index("events_venue_gate_at", "venue", "gate", "at"),
    Index("events_at", "at"),
    # An exit frees a place only when its subject is inside: looked up by subject at every exit.
    Index("events_venue_subject", "venue", "subject", "at"),
    # The daily report's fever list: a partial index holds the fevers only (a few rows a day), not every event.
    Index("events_venue_fever", "venue", "at", sqlite_where=text("kind = 'fever'"),
          postgresql_where=text("kind = 'fever'")),
    # The daily report's red and yellow codes (a few a day): the query spells the same condition
    # (ALERT_COLOURS), or no planner takes a partial index.
    Index("events_venue_alert_colour", "venue", "at", sqlite_where=text(ALERT_COLOURS),
          postgresql_where=text(ALERT_COLOURS)),
    sqlite_with_rowid=False,
)

# The figures the overview and the daily report show, per venue and UTC hour ("2026-05-01T08"), counted in
# the ingest transaction from the rows it inserted (so a replayed event counts once), kept after retention
# deletes the events. Decision and person class are '' for none (a key column cannot be NULL).
event_counts = Table(
    "event_counts", metadata,
    Column("venue", Str, primary_key=True),
    Column("hour", Str, primary_key=True),
    Column("gate", Str, primary_key=True),
    Column("kind", Str, primary_key=True),
    Column("decision", Str, primary_key=True),
    Column("person_class", Str, primary_key=True),
    Column("effect", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)

# Denials (not re-measure prompts) per venue, UTC hour and failed rule ("—": a denial naming no rule).
rule_counts = Table(
    "rule_counts", metadata,
    Column("venue", Str, primary_key=True),
    Column("hour", Str, primary_key=True),
    Column("rule", Str, primary_key=True),
    Column("n", Integer, nullable=False),
)

# Entries and exits that count (effect +1/-1) per venue and UTC minute ("2026-05-01T08:05"): the peak
# occupancy of a day and the number inside at a past time, without reading the events.
occupancy_minutes = Table(
    "occupancy_minutes", metadata,
    Column("venue", Str, primary_key=True),
    Column("minute", Str, primary_key=True),
    Column("entries", Integer, nullable=False),
    Column("exits", Integer, nullable=False),
)

# Each failed rule of an event, written at ingest: a filter by rule walks this index, not every `failed` text.
event_rules = Table(
    "event_rules", metadata,
    Column("event_id", Str, primary_key=True),
    Column("rule", Str, primary_key=True),
    Column("venue", Str, nullable=False),
    Column("at", Str, nullable=False),
    Index("event_rules_venue_rule_at", "venue", "rule", "at", "event_id"),
    Index("event_rules_rule_at", "rule", "at", "event_id"),
    sqlite_with_rowid=False,
)

# Hub-wide jobs that one process of the hub runs at a time (the retention purge): the holder and until
# when; a holder that died lets it lapse. A row, not an advisory lock, so it works the same on SQLite.
hub_locks = Table(
    "hub_locks", metadata,
    Column("name", Str, primary_key=True),
    Column("holder", Str, nullable=False),
    Column("until", Real, nullable=False),
)

# One counter row per venue, updated in the same transaction as the inserts it counts.
occupancy = Table(
    "occupancy", metadata,
    Column("venue", Str, primary_key=True),
    Column("inside", Integer),
    Column("entries", Integer),
    Column("exits", Integer),
)

leases = Table(
    "leases", metadata,
    Column("venue", Str, primary_key=True),
    Column("gate", Str, primary_key=True),
    Column("held", Integer),
    Column("updated_at", Str),
    Column("reclaimed_at", Str),  # when a supervisor last took the places back, so the console can say so
)

documents = Table(
    "documents", metadata,
    Column("venue", Str, primary_key=True),
    Column("kind", Str, primary_key=True),
    Column("version", Integer),
    Column("etag", Str),
    Column("content_type", Str),
    Column("body", LargeBinary),
    Column("created_at", Str),
)

reservations = Table(
    "reservations", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", Str),
    Column("slot", Str),
    Column("subject", Str),
    Column("created_at", Str),
    Index("reservations_slot", "venue", "slot"),
    Index("reservations_once", "venue", "slot", "subject", unique=True),
)

denial_reviews = Table(
    "denial_reviews", metadata,
    Column("event_id", Str, primary_key=True),
    Column("reviewer", Str),
    Column("note", Str),
    Column("reviewed_at", Str),
)

visits = Table(
    "visits", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", Str),
    Column("name", Str),
    Column("subject", Str),
    Column("host", Str),
    Column("purpose", Str),
    Column("starts_at", Str),
    Column("ends_at", Str),
    Column("status", Str),
    Column("created_by", Str),
    Column("created_at", Str),
    Column("decided_by", Str),
    Column("decided_at", Str),
    Index("visits_venue_status", "venue", "status", "ends_at"),
)

daily_reports = Table(
    "daily_reports", metadata,
    Column("venue", Str, primary_key=True),
    Column("day", Str, primary_key=True),
    Column("filed_by", Str),
    Column("filed_at", Str),
    Column("deadline", Str),
    Column("late", Integer),
    Column("body", Str),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Str),
    Column("username", Str),
    Column("action", Str),
    Column("target", Str),
    Column("venue", Str),
    Index("audit_at", "at"),
    # The per-user-and-source lockout counts failed logins by user name and source.
    Index("audit_login", "username", "action", "target", "at"),
)

settings = Table(
    "settings", metadata,
    Column("name", Str, primary_key=True),
    Column("value", Str),
)

# Anti-passback across a venue's gates: every admitted entry and exit, in the order the hub received
# it. The id is the cursor a gate syncs from: ids are assigned inside the serialised write
# transactions (server/store_engine.py), so they commit in order and a late event (old `at`) still
# gets a new id and is never skipped. Written by the store in the transaction that stores the event.
presence = Table(
    "presence", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", Str, nullable=False),
    Column("gate", Str, nullable=False),
    Column("subject", Str, nullable=False),
    Column("direction", Str, nullable=False),
    Column("at", Str, nullable=False),
    Index("presence_venue_id", "venue", "id"),
    Index("presence_at", "at"),
    sqlite_autoincrement=True,
)

# The venue's roster groups with time windows (canteen meal groups, staff shifts), signed into the
# `schedule` document with the bookings; zones and slots as JSON lists (text).
schedule_groups = Table(
    "schedule_groups", metadata,
    Column("venue", Str, primary_key=True),
    Column("name", Str, primary_key=True),
    Column("kind", Str),
    Column("zones", Str),
    Column("slots", Str),
    Column("updated_at", Str),
)

# Flask-Limiter's counters (server/limits_store.py): one row per limit key and window, shared by every
# gunicorn worker and hub process on this database, so a guess counts once wherever it lands.
rate_limits = Table(
    "rate_limits", metadata,
    Column("key", Str, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", Real, nullable=False),
)

# Alerts (issue 12): one row per thing a supervisor must hear of, raised at ingest (from the event: red code,
# fever, cap reached, thermometer drift) or by the hub's background check (gate offline, document expiry).
# `key` makes each raise happen once: the event id for an event's alert, the episode for a check's.
alerts = Table(
    "alerts", metadata,
    Column("id", Str, primary_key=True),  # ULID: sorts by when it was raised
    Column("venue", Str, nullable=False),
    Column("kind", Str, nullable=False),  # red_code, fever, positive_test, cap_reached, gate_offline, thermometer_drift, document_expiry
    Column("key", Str, nullable=False),
    Column("gate", Str),
    Column("event_id", Str),
    Column("at", Str, nullable=False),  # when it happened (the event's time; the check's for a check)
    Column("raised_at", Str, nullable=False),
    Column("deadline", Str),  # a fever's report deadline (POLICY.md: within 2 hours)
    Column("detail", Str, nullable=False),  # JSON text: masked name, reading, colour, rules; never a raw id
    Column("acked_by", Str),
    Column("acked_at", Str),
    Column("ack_note", Str),
    Index("alerts_once", "venue", "key", unique=True),
    Index("alerts_venue_raised", "venue", "raised_at"),
    Index("alerts_event", "event_id"),
)

# The delivery outbox: one row per alert and channel (mqtt, webhook, mail), written in the transaction that
# raises the alert and retried with backoff until sent, so delivery survives a hub restart.
alert_outbox = Table(
    "alert_outbox", metadata,
    Column("alert_id", Str, primary_key=True),
    Column("channel", Str, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("next_at", Str, nullable=False),
    Column("sent_at", Str),
    Column("last_error", Str),
    Index("alert_outbox_due", "sent_at", "next_at"),
)

# Where a venue's alerts go besides the console and MQTT: its webhook and its mail recipients.
alert_settings = Table(
    "alert_settings", metadata,
    Column("venue", Str, primary_key=True),
    Column("webhook_url", Str),
    Column("webhook_kind", Str),  # generic, wecom, dingtalk
    Column("webhook_secret", Str),  # DingTalk's signing secret (optional)
    Column("mail_to", Str),  # comma-separated addresses
    Column("updated_at", Str),
)

# A gate's own figures (protocols.contract.GateFigures as JSON text) from its latest sync, and when.
gate_figures = Table(
    "gate_figures", metadata,
    Column("venue", Str, primary_key=True),
    Column("gate", Str, primary_key=True),
    Column("figures", Str, nullable=False),
    Column("at", Str, nullable=False),
)

# Commands a console user sent to a gate over MQTT (protocols.topics.CommandMessage) and the gate's
# answer: rows, not messages in memory, so the WSGI worker that asked and the bridge that publishes
# meet here, and the console shows a command's result (or its timeout) after any restart.
gate_commands = Table(
    "gate_commands", metadata,
    Column("id", Str, primary_key=True),  # a ULID: also the command's id on the wire
    Column("venue", Str, nullable=False),
    Column("gate", Str, nullable=False),
    Column("command", Str, nullable=False),
    Column("reason", Str),
    Column("event_id", Str),  # the denial an "open once" answers, so its page shows it beside the denial
    Column("requested_by", Str, nullable=False),
    Column("requested_at", Str, nullable=False),
    Column("sent_at", Str),  # when the bridge published it (NULL: not yet)
    Column("answered_at", Str),
    Column("ok", Integer),  # the gate's answer: 1 done, 0 refused; NULL: no answer
    Column("detail", Str),  # the gate's detail (for an opening, its event id)
    Index("gate_commands_unsent", "sent_at", "requested_at"),
    Index("gate_commands_event", "event_id"),
)

# A candidate rule bundle a supervisor uploaded to preview (revision 0011_bundle_previews): each online gate replays
# its own last day of decisions against it (a `replay` row of gate_commands whose reason is this id), then it is
# published as the venue's bundle, or left. The body is the signed document as uploaded.
bundle_previews = Table(
    "bundle_previews", metadata,
    Column("id", Str, primary_key=True),  # a ULID
    Column("venue", Str, nullable=False),
    Column("version", Str, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("requested_by", Str, nullable=False),
    Column("requested_at", Str, nullable=False),
    Column("published_by", Str),
    Column("published_at", Str),
    Index("bundle_previews_venue", "venue", "requested_at"),
)

# A holder's personal link `/h/<secret>` (revision 0008_i10_holder): only the secret's SHA-256 is kept. One live link per
# person and venue; revoking sets revoked_at, re-issuing adds a new row. A visitor's link is valid in its window.
holder_links = Table(
    "holder_links", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", Str, nullable=False),
    Column("subject", Str, nullable=False),  # the venue's keyed hash of the ID number
    Column("secret_hash", Str, nullable=False, unique=True),
    Column("created_at", Str, nullable=False),
    Column("created_by", Str),
    Column("revoked_at", Str),
    Column("valid_from", Str),  # visitors: the approved window; NULL for the roster's people
    Column("valid_until", Str),
    Column("visit", Integer),  # the approved visit it was issued for
    Index("holder_links_person", "venue", "subject"),
    sqlite_autoincrement=True,
)

# Goods a courier declared on the holder page (revision 0008_i10_holder): the trace a supervisor searches by batch.
goods = Table(
    "goods", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue", Str, nullable=False),
    Column("subject", Str, nullable=False),
    Column("name", Str),  # the courier's masked name
    Column("declared_at", Str, nullable=False),
    Column("product", Str, nullable=False),
    Column("supplier", Str, nullable=False),
    Column("origin", Str, nullable=False),
    Column("quantity", Str, nullable=False),
    Column("batch", Str, nullable=False),
    Column("maker", Str, nullable=False),
    Column("cold_chain", Integer, nullable=False),
    Column("report", Str),
    Column("active", Integer, nullable=False),  # 1: carried by the courier's passes now
    Index("goods_batch", "venue", "batch"),
    Index("goods_courier", "venue", "subject", "active"),
    sqlite_autoincrement=True,
)

# Enrolled people of a venue (issue 10). Never the ID number or the full name: `id_hash` is the keyed
# HMAC-SHA256 of the normalised ID number (the key is the hub setting `people_id_key`), `subject` the
# random pseudonym a pass carries as `sub` and the gate's roster is keyed by. A person left out of a
# re-import is soft-deleted (`removed_at`) so audit rows and statuses still name a row.
people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True),
    Column("venue_id", Str, ForeignKey("venues.id"), nullable=False),
    Column("id_hash", Str, nullable=False),
    Column("subject", Str, nullable=False),
    Column("masked_name", Str, nullable=False),
    Column("person_class", Str, nullable=False),  # one of protocols.credential.PersonClass
    Column("group_name", Str),
    Column("phone_masked", Str),
    Column("created_at", Str, nullable=False),
    Column("updated_at", Str, nullable=False),
    Column("removed_at", Str),
    Index("people_venue_id_hash", "venue_id", "id_hash", unique=True),
    Index("people_subject", "subject", unique=True),
)

# A roster file checked in the console, waiting for its admin's confirmation (issue 10): only what the
# import would store (`records`: JSON [[id_hash, masked_name, class, group, phone], ...]), never the file
# or an ID number. The confirmation takes it; one older than an hour is deleted by the next upload.
roster_uploads = Table(
    "roster_uploads", metadata,
    Column("token", Str, primary_key=True),
    Column("venue_id", Str, ForeignKey("venues.id"), nullable=False),
    Column("username", Str, nullable=False),
    Column("created_at", Str, nullable=False),
    Column("records", Str, nullable=False),
)

# Every status received for a person, kept as received (one row each): the health authority's colour, a
# lab's nucleic-acid result, a supervisor's manual entry (with its reason), the holder's travel declaration.
# `stays` is JSON text [[region_code, start_date, end_date], ...]. Issuing reads the latest of each source.
person_status = Table(
    "person_status", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("source", Str, nullable=False),  # authority | lab | manual | declaration
    Column("colour", Str),
    Column("colour_since", Str),
    Column("test_at", Str),
    Column("test_result", Str),  # negative | positive
    Column("stays", Str),
    Column("reason", Str),
    Column("by_user", Str),
    Column("received_at", Str, nullable=False),
    Index("person_status_latest", "person_id", "source", "id"),
)
