"""Roster files checked in the console and waiting for their admin's confirmation (issue 10, Enrolment):
`roster_uploads` holds what the import would store (ID hashes, masked names), never the file.

Revision ID: 0010_roster_uploads
Revises: 0009_status_feeds
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# Text compared byte by byte on both engines (server/schema.py says why).
Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0010_roster_uploads"
down_revision: Union[str, Sequence[str], None] = "0009_status_feeds"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create roster_uploads."""
    op.create_table('roster_uploads',
    sa.Column('token', Str, nullable=False),
    sa.Column('venue_id', Str, nullable=False),
    sa.Column('username', Str, nullable=False),
    sa.Column('created_at', Str, nullable=False),
    sa.Column('records', Str, nullable=False),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id']),
    sa.PrimaryKeyConstraint('token')
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table('roster_uploads')
