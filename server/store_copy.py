"""Moving a hub to another database (`checkpoint hub migrate-db --from URL --to URL`): a venue's SQLite
hub onto PostgreSQL, or back.

Every table of server/schema.py is copied in dependency order (a gate after its venue), in batches,
inside one write transaction on the target, into a target migrated to the same revision and empty:
a copy that fails half way leaves the target as empty as it was, and it is never merged into a hub
that already holds data. Row counts are compared table by table before the commit. Integer ids
copied as they were leave PostgreSQL's sequences behind them, so each is set past the largest id
copied (SQLite's AUTOINCREMENT follows explicit ids by itself); the presence cursor's ids stay what
the gates hold, so their cursors stay valid.

Hand-written, not `pgloader` or a dump: the rows go through the same tables and types on both sides
(SQLAlchemy Core), so no type mapping is written twice, and the target is migrated by our own Alembic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Integer, func, insert, select, text

from protocols.errors import CheckpointError
from server.schema import metadata
from server.store import HubStore
from server.store_migrate import current, head

log = logging.getLogger(__name__)
BATCH = 1000


class CopyRefused(CheckpointError):
    """The copy cannot start (a source not at this code's schema, a target holding data) or did not add up."""

    reason = "copy_refused"


@dataclass(frozen=True)
class Copied:
    """Rows copied per table, in the order they were copied."""

    tables: dict[str, int]

    @property
    def total(self) -> int:
        """Rows copied over all tables."""
        return sum(self.tables.values())


def _counts(store: HubStore) -> dict[str, int]:
    return {t.name: int(store.conn.execute(select(func.count()).select_from(t)).scalar()) for t in metadata.sorted_tables}


def copy_database(source: str, target: str, batch: int = BATCH) -> Copied:
    """Copy every table of the hub at `source` into the empty hub database `target` (migrated here first)."""
    if batch < 1:
        raise CopyRefused(f"批量须为正数 / the batch size must be at least 1, not {batch}", reason="bad_batch")
    src, dst = HubStore(source), HubStore(target)
    try:
        if src.url == dst.url:
            raise CopyRefused("源与目标是同一数据库 / --from and --to name the same database", reason="same_database")
        have = current(src.conn)
        if have != head():
            raise CopyRefused(f"{src.name}: 源数据库版本 {have} 不是 {head()}，请先运行 `checkpoint hub migrate` / the source "
                              f"is at revision {have}, not {head()}: run `checkpoint hub migrate` on it first",
                              reason="source_not_migrated")
        dst.migrate()
        held = {name: n for name, n in _counts(dst).items() if n}
        if held:
            raise CopyRefused(f"{dst.name}: 目标数据库不是空的 / the target already holds rows ("
                              + ", ".join(f"{k} {v}" for k, v in held.items()) + "): copy only into an empty hub",
                              reason="target_not_empty")
        copied: dict[str, int] = {}
        with dst.write() as c:
            for table in metadata.sorted_tables:
                n = 0
                key = list(table.primary_key.columns) or list(table.columns)
                # Streamed in primary-key order: the source never holds more than one batch in memory.
                result = src.conn.execution_options(yield_per=batch).execute(select(table).order_by(*key))
                for rows in result.mappings().partitions(batch):
                    c.execute(insert(table), [dict(r) for r in rows])
                    n += len(rows)
                copied[table.name] = n
                log.info("copied %d rows of %s", n, table.name)
            there = {t.name: int(c.execute(select(func.count()).select_from(t)).scalar()) for t in metadata.sorted_tables}
            if there != copied:
                raise CopyRefused(f"行数不符 / the row counts do not add up: copied {copied}, target holds {there}",
                                  reason="counts_differ")
            if c.dialect.name == "postgresql":
                _reset_sequences(c)
        return Copied(copied)
    finally:
        src.close()
        dst.close()


def _reset_sequences(c) -> None:
    """Set each integer id's sequence past the largest id copied (PostgreSQL only: see the module docstring)."""
    for table in metadata.sorted_tables:
        for col in table.primary_key.columns:
            if isinstance(col.type, Integer) and col.autoincrement in (True, "auto") and len(table.primary_key.columns) == 1:
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                               f"COALESCE((SELECT max({col.name}) FROM {table.name}), 0) + 1, false)"))
