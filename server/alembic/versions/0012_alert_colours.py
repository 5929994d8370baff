"""The daily report's red and yellow codes from a partial index of those events only (a few a day), not by
reading every event of the venue's day (54 ms a venue-day at 5M events on SQLite, five of them in the
console's overview: bench/storage_queries.py).

Revision ID: 0012_alert_colours
Revises: 0011_bundle_previews
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0012_alert_colours"
down_revision: Union[str, Sequence[str], None] = "0011_bundle_previews"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The same text as server/schema.py's ALERT_COLOURS: a planner takes a partial index only for a query
# whose WHERE holds its condition.
ALERT_COLOURS = "colour IN ('red', 'yellow')"


def upgrade() -> None:
    """Add the partial index events_venue_alert_colour."""
    op.create_index("events_venue_alert_colour", "events", ["venue", "at"], sqlite_where=sa.text(ALERT_COLOURS),
                    postgresql_where=sa.text(ALERT_COLOURS))


def downgrade() -> None:
    """Drop it."""
    op.drop_index("events_venue_alert_colour", "events")
