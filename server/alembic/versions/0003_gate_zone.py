"""A gate's zone of the venue (canteen zones: where a meal group may eat), kept on the gate's record and
signed into the venue's schedule document, so a supervisor moves a gate without touching its config.

Revision ID: 0003_gate_zone
Revises: 0002
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
from sqlalchemy import Column

from server.schema import Str

revision: str = "0003_gate_zone"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add gates.zone (NULL: the gate's own `[gate] zone` config, or no zone)."""
    with op.batch_alter_table("gates") as batch:
        batch.add_column(Column("zone", Str, nullable=True))


def downgrade() -> None:
    """Drop gates.zone."""
    with op.batch_alter_table("gates") as batch:
        batch.drop_column("zone")
