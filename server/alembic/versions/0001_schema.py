"""The hub's schema as the old named migrations 001-012 left it (server/migrations.py), minus the
SQLite-only presence trigger (revision 0002 drops it from databases made by that code).

Frozen: generated once from server/schema.py, never edited; a change is a new revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')
Real = sa.Double().with_variant(sqlite.REAL(), 'sqlite')


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', Str, nullable=True),
    sa.Column('username', Str, nullable=True),
    sa.Column('action', Str, nullable=True),
    sa.Column('target', Str, nullable=True),
    sa.Column('venue', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index('audit_at', ['at'], unique=False)
        batch_op.create_index('audit_login', ['username', 'action', 'target', 'at'], unique=False)

    op.create_table('daily_reports',
    sa.Column('venue', Str, nullable=False),
    sa.Column('day', Str, nullable=False),
    sa.Column('filed_by', Str, nullable=True),
    sa.Column('filed_at', Str, nullable=True),
    sa.Column('deadline', Str, nullable=True),
    sa.Column('late', sa.Integer(), nullable=True),
    sa.Column('body', Str, nullable=True),
    sa.PrimaryKeyConstraint('venue', 'day')
    )
    op.create_table('denial_reviews',
    sa.Column('event_id', Str, nullable=False),
    sa.Column('reviewer', Str, nullable=True),
    sa.Column('note', Str, nullable=True),
    sa.Column('reviewed_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('devices',
    sa.Column('id', Str, nullable=False),
    sa.Column('venue', Str, nullable=True),
    sa.Column('gate', Str, nullable=True),
    sa.Column('secret_sha256', Str, nullable=True),
    sa.Column('mqtt_hash', Str, nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.Column('revoked_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index('devices_secret', ['secret_sha256'], unique=True)

    op.create_table('documents',
    sa.Column('venue', Str, nullable=False),
    sa.Column('kind', Str, nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('etag', Str, nullable=True),
    sa.Column('content_type', Str, nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('venue', 'kind')
    )
    op.create_table('enroll_tokens',
    sa.Column('token_sha256', Str, nullable=False),
    sa.Column('venue', Str, nullable=True),
    sa.Column('gate', Str, nullable=True),
    sa.Column('expires_at', Str, nullable=True),
    sa.Column('used_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    op.create_table('events',
    sa.Column('id', Str, nullable=False),
    sa.Column('venue', Str, nullable=False),
    sa.Column('gate', Str, nullable=False),
    sa.Column('at', Str, nullable=False),
    sa.Column('kind', Str, nullable=False),
    sa.Column('direction', Str, nullable=False),
    sa.Column('decision', Str, nullable=True),
    sa.Column('effect', sa.Integer(), nullable=False),
    sa.Column('failed', Str, nullable=False),
    sa.Column('reasons', Str, nullable=False),
    sa.Column('subject', Str, nullable=True),
    sa.Column('name', Str, nullable=True),
    sa.Column('person_class', Str, nullable=True),
    sa.Column('colour', Str, nullable=True),
    sa.Column('celsius', Real, nullable=True),
    sa.Column('bundle_version', Str, nullable=True),
    sa.Column('credential_format', Str, nullable=True),
    sa.Column('operator', Str, nullable=True),
    sa.Column('note', Str, nullable=True),
    sa.Column('received_at', Str, nullable=False),
    sa.Column('wall_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('events_at', ['at'], unique=False)
        batch_op.create_index('events_venue_at', ['venue', 'at'], unique=False)
        batch_op.create_index('events_venue_decision_at', ['venue', 'decision', 'at'], unique=False)
        batch_op.create_index('events_venue_gate_at', ['venue', 'gate', 'at'], unique=False)
        batch_op.create_index('events_venue_subject', ['venue', 'subject', 'at'], unique=False)

    op.create_table('leases',
    sa.Column('venue', Str, nullable=False),
    sa.Column('gate', Str, nullable=False),
    sa.Column('held', sa.Integer(), nullable=True),
    sa.Column('updated_at', Str, nullable=True),
    sa.Column('reclaimed_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('venue', 'gate')
    )
    op.create_table('occupancy',
    sa.Column('venue', Str, nullable=False),
    sa.Column('inside', sa.Integer(), nullable=True),
    sa.Column('entries', sa.Integer(), nullable=True),
    sa.Column('exits', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('venue')
    )
    op.create_table('presence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue', Str, nullable=False),
    sa.Column('gate', Str, nullable=False),
    sa.Column('subject', Str, nullable=False),
    sa.Column('direction', Str, nullable=False),
    sa.Column('at', Str, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.create_index('presence_at', ['at'], unique=False)
        batch_op.create_index('presence_venue_id', ['venue', 'id'], unique=False)

    op.create_table('rate_limits',
    sa.Column('key', Str, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', Real, nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('reservations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue', Str, nullable=True),
    sa.Column('slot', Str, nullable=True),
    sa.Column('subject', Str, nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index('reservations_once', ['venue', 'slot', 'subject'], unique=True)
        batch_op.create_index('reservations_slot', ['venue', 'slot'], unique=False)

    op.create_table('schedule_groups',
    sa.Column('venue', Str, nullable=False),
    sa.Column('name', Str, nullable=False),
    sa.Column('kind', Str, nullable=True),
    sa.Column('zones', Str, nullable=True),
    sa.Column('slots', Str, nullable=True),
    sa.Column('updated_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('venue', 'name')
    )
    op.create_table('settings',
    sa.Column('name', Str, nullable=False),
    sa.Column('value', Str, nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('users',
    sa.Column('username', Str, nullable=False),
    sa.Column('password_hash', Str, nullable=True),
    sa.Column('role', Str, nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.Column('venue', Str, nullable=True),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_table('venues',
    sa.Column('id', Str, nullable=False),
    sa.Column('name', Str, nullable=True),
    sa.Column('cap', sa.Integer(), nullable=True),
    sa.Column('dwell_minutes', sa.Integer(), nullable=True),
    sa.Column('gathering', sa.Integer(), nullable=True),
    sa.Column('plan_approved', sa.Integer(), nullable=True),
    sa.Column('slot_minutes', sa.Integer(), nullable=True),
    sa.Column('slot_capacity', sa.Integer(), nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.Column('kind', Str, nullable=True),
    sa.Column('report_deadline_hour', sa.Integer(), nullable=True),
    sa.Column('retention_days', sa.Integer(), nullable=True),
    sa.Column('lease_reclaim_after_s', sa.Integer(), nullable=True),
    sa.Column('timezone', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue', Str, nullable=True),
    sa.Column('name', Str, nullable=True),
    sa.Column('subject', Str, nullable=True),
    sa.Column('host', Str, nullable=True),
    sa.Column('purpose', Str, nullable=True),
    sa.Column('starts_at', Str, nullable=True),
    sa.Column('ends_at', Str, nullable=True),
    sa.Column('status', Str, nullable=True),
    sa.Column('created_by', Str, nullable=True),
    sa.Column('created_at', Str, nullable=True),
    sa.Column('decided_by', Str, nullable=True),
    sa.Column('decided_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('visits_venue_status', ['venue', 'status', 'ends_at'], unique=False)

    op.create_table('gates',
    sa.Column('venue', Str, nullable=False),
    sa.Column('id', Str, nullable=False),
    sa.Column('name', Str, nullable=True),
    sa.Column('running', Str, nullable=True),
    sa.Column('last_seen', Str, nullable=True),
    sa.Column('status', Str, nullable=True),
    sa.Column('status_at', Str, nullable=True),
    sa.Column('direction', Str, nullable=True),
    sa.ForeignKeyConstraint(['venue'], ['venues.id'], ),
    sa.PrimaryKeyConstraint('venue', 'id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('gates')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('visits_venue_status')

    op.drop_table('visits')
    op.drop_table('venues')
    op.drop_table('users')
    op.drop_table('settings')
    op.drop_table('schedule_groups')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('reservations_slot')
        batch_op.drop_index('reservations_once')

    op.drop_table('reservations')
    op.drop_table('rate_limits')
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.drop_index('presence_venue_id')
        batch_op.drop_index('presence_at')

    op.drop_table('presence')
    op.drop_table('occupancy')
    op.drop_table('leases')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('events_venue_subject')
        batch_op.drop_index('events_venue_gate_at')
        batch_op.drop_index('events_venue_decision_at')
        batch_op.drop_index('events_venue_at')
        batch_op.drop_index('events_at')

    op.drop_table('events')
    op.drop_table('enroll_tokens')
    op.drop_table('documents')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('devices_secret')

    op.drop_table('devices')
    op.drop_table('denial_reviews')
    op.drop_table('daily_reports')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index('audit_login')
        batch_op.drop_index('audit_at')

    op.drop_table('audit')
