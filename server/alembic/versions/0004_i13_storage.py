"""Counters that do not grow with the log (issue 13 item 4, issue 14 item 4): per-venue, per-hour event
counts, per-rule denial counts, per-minute occupancy, an (event, rule) index, the fever index, the hub's job
locks, and the venue's deleted-before horizon; existing events are counted in bounded batches.

Revision ID: 0004_i13_storage
Revises: 0003_gate_zone
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

revision: str = "0004_i13_storage"
down_revision: Union[str, Sequence[str], None] = "0003_gate_zone"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql")
Real = sa.Double().with_variant(sqlite.REAL(), "sqlite")
# Existing events are read in id order, this many per statement, so the back-fill's memory stays flat.
BACKFILL_BATCH = 20_000


def upgrade() -> None:
    """Create the counter tables and indexes, then count the events already stored."""
    with op.batch_alter_table("venues") as batch_op:
        batch_op.add_column(sa.Column("events_deleted_before", Str, nullable=True))
    op.create_index("events_venue_fever", "events", ["venue", "at"], sqlite_where=sa.text("kind = 'fever'"),
                    postgresql_where=sa.text("kind = 'fever'"))
    op.create_table(
        "event_counts",
        *(sa.Column(name, Str, nullable=False) for name in ("venue", "hour", "gate", "kind", "decision", "person_class")),
        sa.Column("effect", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "hour", "gate", "kind", "decision", "person_class", "effect"),
    )
    op.create_table(
        "rule_counts",
        sa.Column("venue", Str, nullable=False), sa.Column("hour", Str, nullable=False),
        sa.Column("rule", Str, nullable=False), sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "hour", "rule"),
    )
    op.create_table(
        "occupancy_minutes",
        sa.Column("venue", Str, nullable=False), sa.Column("minute", Str, nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False), sa.Column("exits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("venue", "minute"),
    )
    op.create_table(
        "event_rules",
        sa.Column("event_id", Str, nullable=False), sa.Column("rule", Str, nullable=False),
        sa.Column("venue", Str, nullable=False), sa.Column("at", Str, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "rule"),
        sqlite_with_rowid=False,
    )
    op.create_index("event_rules_venue_rule_at", "event_rules", ["venue", "rule", "at", "event_id"])
    op.create_index("event_rules_rule_at", "event_rules", ["rule", "at", "event_id"])
    op.create_table(
        "hub_locks",
        sa.Column("name", Str, nullable=False), sa.Column("holder", Str, nullable=False),
        sa.Column("until", Real, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _backfill()


def _backfill() -> None:
    # The store's own counting (server/store_counts.py), so the back-fill and ingest cannot count differently.
    # A revision importing the app is a trade: should that function ever change meaning, this revision must
    # keep a frozen copy of today's.
    from server.store_counts import count_events

    conn = op.get_bind()
    columns = ("id", "venue", "gate", "at", "kind", "decision", "effect", "failed", "person_class")
    events = sa.table("events", *(sa.column(name) for name in columns))
    after = ""
    while True:
        rows = [dict(r) for r in conn.execute(
            sa.select(*events.c).where(events.c.id > after).order_by(events.c.id).limit(BACKFILL_BATCH)).mappings()]
        if not rows:
            return
        count_events(conn, rows)
        after = rows[-1]["id"]


def downgrade() -> None:
    """Drop what upgrade made (the counts can be rebuilt from the events still held)."""
    for table in ("hub_locks", "event_rules", "occupancy_minutes", "rule_counts", "event_counts"):
        op.drop_table(table)
    op.drop_index("events_venue_fever", "events")
    with op.batch_alter_table("venues") as batch_op:
        batch_op.drop_column("events_deleted_before")
