"""Alembic's environment for the hub: always run programmatically (server/store_migrate.py) on a
connection the store opened and holds in its write transaction; never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from server.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the hub's migrations run from `checkpoint hub migrate` (or init, or start-up), not the alembic command")

# The caller's transaction holds the writers' lock: Alembic runs inside it and does not commit itself.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
