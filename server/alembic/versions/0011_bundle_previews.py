"""Bundle previews: a candidate rule bundle a supervisor uploaded, replayed by each online gate before it is
published (each gate's answer is a `replay` row of gate_commands whose reason is the preview's id).

Revision ID: 0011_bundle_previews
Revises: 0010_roster_uploads
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0011_bundle_previews"
down_revision: Union[str, Sequence[str], None] = "0010_roster_uploads"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the bundle_previews table."""
    op.create_table(
        "bundle_previews",
        sa.Column("id", Str, nullable=False),
        sa.Column("venue", Str, nullable=False),
        sa.Column("version", Str, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("requested_by", Str, nullable=False),
        sa.Column("requested_at", Str, nullable=False),
        sa.Column("published_by", Str, nullable=True),
        sa.Column("published_at", Str, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("bundle_previews_venue", "bundle_previews", ["venue", "requested_at"])


def downgrade() -> None:
    """Drop the bundle_previews table."""
    op.drop_index("bundle_previews_venue", table_name="bundle_previews")
    op.drop_table("bundle_previews")
