"""The hub's schema migrations: Alembic, run programmatically on the store's own connection.

Run at start-up (`hub init`, `hub migrate`, the app factory), never lazily, inside one write
transaction, so of several workers starting at once one migrates and the others find it done.
A database made by the hub's older named migrations (a `_migrations` table, SQLite only) is taken
over, never recreated: any of the old steps it lacks are finished by the frozen old code
(server/migrations.py), then it is stamped at the first revision, which is that schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

log = logging.getLogger(__name__)

FIRST = "0001"  # the schema of the old migrations 001-012


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("alembic")))
    config.attributes["connection"] = conn
    return config


def current(conn: Connection) -> str | None:
    """The database's Alembic revision (None: none recorded)."""
    return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    """The newest revision this code knows."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("alembic")))
    return ScriptDirectory.from_config(config).get_current_head() or ""


def revisions() -> list[str]:
    """Every revision this code knows, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("alembic")))
    return [rev.revision for rev in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def upgrade(conn: Connection, target: str = "head") -> list[str]:
    """Bring the schema to `target`, the newest revision by default (inside the caller's write transaction);
    the revisions applied now."""
    config = _config(conn)
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and "_migrations" in tables:
        _take_over(conn, config)
    before = current(conn)
    command.upgrade(config, target)
    script = ScriptDirectory.from_config(config)
    applied = [rev.revision for rev in script.iterate_revisions(target, before)]
    for rev in reversed(applied):
        log.info("hub migration %s applied", rev)
    return list(reversed(applied))


def _take_over(conn: Connection, config: Config) -> None:
    """Adopt a database made by the old named migrations: finish them, then stamp the first revision."""
    from server.migrations import finish_legacy  # the frozen old steps, SQLite only

    finished = finish_legacy(conn.connection.dbapi_connection)
    if finished:
        log.info("old hub migrations %s finished before Alembic takes over", ", ".join(finished))
    command.stamp(config, FIRST)
    log.info("database made by the old migrations: stamped at revision %s", FIRST)
