"""Status feeds: two venue settings, how old the authority's colour and the holder's travel declaration may
be before issuing refuses a green pass (NULL: 24 h each, POLICY.md section 6).

Revision ID: 0009_status_feeds
Revises: 0008_i10_holder
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0009_status_feeds"
down_revision: Union[str, Sequence[str], None] = "0008_i10_holder"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the venues' maximum ages of the colour and of the declaration."""
    with op.batch_alter_table("venues") as batch_op:
        batch_op.add_column(sa.Column("colour_max_age_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("declaration_max_age_hours", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("venues") as batch_op:
        batch_op.drop_column("declaration_max_age_hours")
        batch_op.drop_column("colour_max_age_hours")
