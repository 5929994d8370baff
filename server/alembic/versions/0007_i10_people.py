"""Enrolled people and their statuses (issue 10): `people` (keyed hash of the ID number, masked name,
pseudonymous subject, class, group) and `person_status` (every status received, per source).

Revision ID: 0007_i10_people
Revises: 0006_i12_live
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0007_i10_people"
down_revision: Union[str, Sequence[str], None] = "0006_i12_live"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create people and person_status."""
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue_id', Str, nullable=False),
    sa.Column('id_hash', Str, nullable=False),
    sa.Column('subject', Str, nullable=False),
    sa.Column('masked_name', Str, nullable=False),
    sa.Column('person_class', Str, nullable=False),
    sa.Column('group_name', Str, nullable=True),
    sa.Column('phone_masked', Str, nullable=True),
    sa.Column('created_at', Str, nullable=False),
    sa.Column('updated_at', Str, nullable=False),
    sa.Column('removed_at', Str, nullable=True),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('people_venue_id_hash', ['venue_id', 'id_hash'], unique=True)
        batch_op.create_index('people_subject', ['subject'], unique=True)
    op.create_table('person_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('source', Str, nullable=False),
    sa.Column('colour', Str, nullable=True),
    sa.Column('colour_since', Str, nullable=True),
    sa.Column('test_at', Str, nullable=True),
    sa.Column('test_result', Str, nullable=True),
    sa.Column('stays', Str, nullable=True),
    sa.Column('reason', Str, nullable=True),
    sa.Column('by_user', Str, nullable=True),
    sa.Column('received_at', Str, nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('person_status', schema=None) as batch_op:
        batch_op.create_index('person_status_latest', ['person_id', 'source', 'id'], unique=False)


def downgrade() -> None:
    """Drop person_status and people (their data with them)."""
    op.drop_table('person_status')
    op.drop_table('people')
