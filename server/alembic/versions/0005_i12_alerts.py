"""Alerts (issue 12): the alerts, their delivery outbox and each venue's delivery settings.

Revision ID: 0005_i12_alerts
Revises: 0004_i13_storage
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0005_i12_alerts"
down_revision: Union[str, Sequence[str], None] = "0004_i13_storage"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create alerts, alert_outbox and alert_settings."""
    op.create_table('alerts',
    sa.Column('id', Str, nullable=False),
    sa.Column('venue', Str, nullable=False),
    sa.Column('kind', Str, nullable=False),
    sa.Column('key', Str, nullable=False),
    sa.Column('gate', Str, nullable=True),
    sa.Column('event_id', Str, nullable=True),
    sa.Column('at', Str, nullable=False),
    sa.Column('raised_at', Str, nullable=False),
    sa.Column('deadline', Str, nullable=True),
    sa.Column('detail', Str, nullable=False),
    sa.Column('acked_by', Str, nullable=True),
    sa.Column('acked_at', Str, nullable=True),
    sa.Column('ack_note', Str, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('alerts_once', ['venue', 'key'], unique=True)
        batch_op.create_index('alerts_venue_raised', ['venue', 'raised_at'], unique=False)
        batch_op.create_index('alerts_event', ['event_id'], unique=False)
    op.create_table('alert_outbox',
    sa.Column('alert_id', Str, nullable=False),
    sa.Column('channel', Str, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', Str, nullable=False),
    sa.Column('sent_at', Str, nullable=True),
    sa.Column('last_error', Str, nullable=True),
    sa.PrimaryKeyConstraint('alert_id', 'channel')
    )
    with op.batch_alter_table('alert_outbox', schema=None) as batch_op:
        batch_op.create_index('alert_outbox_due', ['sent_at', 'next_at'], unique=False)
    op.create_table('alert_settings',
    sa.Column('venue', Str, nullable=False),
    sa.Column('webhook_url', Str, nullable=True),
    sa.Column('webhook_kind', Str, nullable=True),
    sa.Column('webhook_secret', Str, nullable=True),
    sa.Column('mail_to', Str, nullable=True),
    sa.Column('updated_at', Str, nullable=True),
    sa.PrimaryKeyConstraint('venue')
    )


def downgrade() -> None:
    """Drop the alert tables."""
    op.drop_table('alert_settings')
    op.drop_table('alert_outbox')
    op.drop_table('alerts')
