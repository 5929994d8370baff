"""Issuing and the holder's page: holder links (secret hashes), the goods couriers declare, and two venue
settings (pass validity minutes, nucleic-acid test window hours).

Revision ID: 0008_i10_holder
Revises: 0007_i10_people
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

Str = sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql')

revision: str = "0008_i10_holder"
down_revision: Union[str, Sequence[str], None] = "0007_i10_people"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the holder links and goods tables and the venues' issuing settings."""
    with op.batch_alter_table("venues") as batch_op:
        batch_op.add_column(sa.Column("pass_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("test_window_hours", sa.Integer(), nullable=True))
    op.create_table(
        "holder_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue", Str, nullable=False),
        sa.Column("subject", Str, nullable=False),
        sa.Column("secret_hash", Str, nullable=False),
        sa.Column("created_at", Str, nullable=False),
        sa.Column("created_by", Str, nullable=True),
        sa.Column("revoked_at", Str, nullable=True),
        sa.Column("valid_from", Str, nullable=True),
        sa.Column("valid_until", Str, nullable=True),
        sa.Column("visit", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("holder_links_person", "holder_links", ["venue", "subject"], unique=False)
    op.create_table(
        "goods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue", Str, nullable=False),
        sa.Column("subject", Str, nullable=False),
        sa.Column("name", Str, nullable=True),
        sa.Column("declared_at", Str, nullable=False),
        sa.Column("product", Str, nullable=False),
        sa.Column("supplier", Str, nullable=False),
        sa.Column("origin", Str, nullable=False),
        sa.Column("quantity", Str, nullable=False),
        sa.Column("batch", Str, nullable=False),
        sa.Column("maker", Str, nullable=False),
        sa.Column("cold_chain", sa.Integer(), nullable=False),
        sa.Column("report", Str, nullable=True),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("goods_batch", "goods", ["venue", "batch"], unique=False)
    op.create_index("goods_courier", "goods", ["venue", "subject", "active"], unique=False)


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index("goods_courier", table_name="goods")
    op.drop_index("goods_batch", table_name="goods")
    op.drop_table("goods")
    op.drop_index("holder_links_person", table_name="holder_links")
    op.drop_table("holder_links")
    with op.batch_alter_table("venues") as batch_op:
        batch_op.drop_column("test_window_hours")
        batch_op.drop_column("pass_minutes")
