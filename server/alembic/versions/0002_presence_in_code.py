"""The presence change is written by the store, in the transaction that stores the event: the old
schema's SQLite-only trigger `events_presence` is dropped (from databases made by the old migrations;
a database made by revision 0001 never had it). Nothing else changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Drop the old presence trigger where there is one (only SQLite databases had it)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_presence")


def downgrade() -> None:
    """Nothing to restore: code older than this revision expects the trigger, so it cannot run on this database."""
