"""The gates' own figures from their latest sync, and the commands sent to gates with their answers
(issue 12: live overview and fleet).

Revision ID: 0006_i12_live
Revises: 0005_i12_alerts
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0006_i12_live"
down_revision: Union[str, Sequence[str], None] = "0005_i12_alerts"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add gate_figures and gate_commands."""
    op.create_table('gate_figures',
                    sa.Column('venue', Str, nullable=False),
                    sa.Column('gate', Str, nullable=False),
                    sa.Column('figures', Str, nullable=False),
                    sa.Column('at', Str, nullable=False),
                    sa.PrimaryKeyConstraint('venue', 'gate'))
    op.create_table('gate_commands',
                    sa.Column('id', Str, nullable=False),
                    sa.Column('venue', Str, nullable=False),
                    sa.Column('gate', Str, nullable=False),
                    sa.Column('command', Str, nullable=False),
                    sa.Column('reason', Str, nullable=True),
                    sa.Column('event_id', Str, nullable=True),
                    sa.Column('requested_by', Str, nullable=False),
                    sa.Column('requested_at', Str, nullable=False),
                    sa.Column('sent_at', Str, nullable=True),
                    sa.Column('answered_at', Str, nullable=True),
                    sa.Column('ok', sa.Integer(), nullable=True),
                    sa.Column('detail', Str, nullable=True),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('gate_commands_unsent', 'gate_commands', ['sent_at', 'requested_at'])
    op.create_index('gate_commands_event', 'gate_commands', ['event_id'])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index('gate_commands_event', table_name='gate_commands')
    op.drop_index('gate_commands_unsent', table_name='gate_commands')
    op.drop_table('gate_commands')
    op.drop_table('gate_figures')
