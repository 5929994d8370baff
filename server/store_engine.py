"""The hub database's engine: which database a URL names, how connections are set up, how a write
transaction is taken, and the few statements whose SQL differs between SQLite and PostgreSQL.

Everything the store does runs on both engines through one code path (server/store*.py, tables in
server/schema.py); the differences live here, each said once:

- the URL: a plain path is the SQLite shorthand; `postgresql://` means psycopg 3.
- set-up on connect: SQLite gets its pragmas (WAL, synchronous, foreign keys, busy timeout);
  PostgreSQL needs none.
- writers queue: SQLite takes BEGIN IMMEDIATE after a file lock (server/store.py says why): one writer
  at a time. PostgreSQL takes transaction-level advisory locks: a write that names its venues (a
  gate's batch, its lease) takes each venue's own lock and the hub-wide one shared, so writes of
  different venues run side by side and those of one venue queue; a write that names none (the
  console's, migrations, the job locks) takes the hub-wide lock alone, so it queues behind every
  other write. Within a venue, then, write transactions are serialised on both engines: the presence
  cursor's ids (read per venue) commit in the order they were given, and the lease arithmetic holds.
- "insert unless there" and "insert or update": ON CONFLICT on both, built by each dialect's own
  `insert()` (the Core construct is dialect-specific).
- a case-sensitive substring test: `position_of` (instr on SQLite, strpos on PostgreSQL).
- NUL in text: PostgreSQL's text cannot hold U+0000 (psycopg refuses the statement), so on PostgreSQL
  every bound string has it replaced by U+FFFD before it is sent: a lookup by such a value finds
  nothing and a stored one keeps its other characters, where the refusal was a server error (a
  console query string) or a lost event. SQLite stores it as it is.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.pool import NullPool

from protocols.errors import CheckpointError

BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock's key for "a hub write transaction" (any fixed number; this one spells HUBW): taken
# alone by a write of no venue, shared by a venue's write.
PG_WRITE_LOCK = 0x48554257
# The first half of a venue's two-part advisory key (HUBV); the second half is a hash of the venue's id.
PG_VENUE_LOCK = 0x48554256

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class DatabaseUrlError(CheckpointError):
    """A database URL the hub cannot use (unknown engine, or not a URL at all)."""

    reason = "bad_database_url"


def database_url(value: str | Path) -> URL:
    """The SQLAlchemy URL for a `--database` URL or a `--db` SQLite path (a plain path is SQLite)."""
    text = str(value)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).resolve()))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"{text!r}: not a database URL ({exc})") from exc
    if url.get_backend_name() in ("postgresql", "postgres"):
        # psycopg 3 whatever driver the URL names (SQLAlchemy's default for postgresql:// is psycopg2).
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return url
    raise DatabaseUrlError(
        f"{url.render_as_string(hide_password=True)}: 不支持的数据库 / unsupported database "
        "(sqlite:///PATH or postgresql://USER@HOST/NAME)")


def shown(url: URL) -> str:
    """The URL as it may be printed and logged: the SQLite file's path, else the URL without its password."""
    return url.database or "" if is_sqlite(url) else url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    """Whether the URL names a SQLite file."""
    return url.get_backend_name() == "sqlite"


def sqlite_path(value: str | Path) -> Path | None:
    """The SQLite file a `--database`/`--db` value names, or None for a server database."""
    url = database_url(value)
    return Path(url.database or "") if is_sqlite(url) else None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are explicit (`begin_write`); the first statements read the header and the
    # schema, so garbage or a truncated file fails here, at open.
    dbapi_connection.isolation_level = None
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _no_nul(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _no_nul_in(parameters: Any) -> Any:
    if isinstance(parameters, Mapping):  # a dict, or the batches of an INSERT ... RETURNING of many rows
        return {k: _no_nul(v) for k, v in parameters.items()}
    return type(parameters)(_no_nul(v) for v in parameters)


def _pg_no_nul(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool):
    # PostgreSQL text holds no U+0000: replaced here, the one place every statement passes.
    if parameters:
        # An INSERT ... RETURNING of many rows arrives as executemany with one mapping per batch of rows.
        many = executemany and not isinstance(parameters, Mapping)
        parameters = [_no_nul_in(p) for p in parameters] if many else _no_nul_in(parameters)
    return statement, parameters


def engine_for(url: URL) -> Engine:
    """The process's engine for a database (one per URL, so listeners and compiled SQL are shared)."""
    key = url.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            # NullPool: each HubStore holds one connection for its life (server/db.py: one per worker
            # thread), so a pool would only keep closed stores' connections open.
            # AUTOCOMMIT: reads need no transaction; writes open theirs in `begin_write`.
            if is_sqlite(url):
                engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                       connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
                event.listen(engine, "connect", _sqlite_on_connect)
            else:
                engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
                event.listen(engine, "before_cursor_execute", _pg_no_nul, retval=True)
            _engines[key] = engine
        return engine


def venue_lock_key(venue: str) -> int:
    """A venue's half of its advisory lock key: a signed 32-bit hash of its id (a collision only makes two
    venues queue on one lock)."""
    key = zlib.crc32(venue.encode("utf-8"))
    return key - (1 << 32) if key >= 1 << 31 else key


def begin_write(conn: Connection, venues: Iterable[str] = ()) -> None:
    """Open a write transaction: one at a time for each venue named, one at a time overall when none is."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    conn.exec_driver_sql("BEGIN")
    keys = sorted({venue_lock_key(v) for v in venues})  # in key order: two writers never wait on each other
    if not keys:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
        return
    # Shared first: a write of no venue (exclusive) waits for these and they for it, in one queue.
    locks = ", ".join([f"pg_advisory_xact_lock_shared({PG_WRITE_LOCK})",
                       *(f"pg_advisory_xact_lock({PG_VENUE_LOCK}, {k})" for k in keys)])
    conn.exec_driver_sql(f"SELECT {locks}")


def end_write(conn: Connection, commit: bool) -> None:
    """Commit (or roll back) the transaction `begin_write` opened."""
    conn.exec_driver_sql("COMMIT" if commit else "ROLLBACK")


def _insert(dialect: str, table: Table):
    # Each dialect's own insert(): ON CONFLICT is not a Core construct.
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)


@functools.cache
def _insert_ignore(dialect: str, table: Table):
    # Built once per engine kind and table: the ingest hot path runs it for every batch.
    return _insert(dialect, table).on_conflict_do_nothing()


def insert_ignore(conn: Connection, table: Table):
    """INSERT ... ON CONFLICT DO NOTHING (a row whose key is there already is skipped)."""
    return _insert_ignore(conn.dialect.name, table)


@functools.cache
def _insert_ignore_returning(dialect: str, table: Table, column: str):
    return _insert(dialect, table).on_conflict_do_nothing().returning(table.c[column])


def insert_ignore_returning(conn: Connection, table: Table, column: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING column: the rows skipped return nothing, so the caller
    learns which it inserted (a row another venue's writer inserts meanwhile is skipped, not counted)."""
    return _insert_ignore_returning(conn.dialect.name, table, column)


def upsert(conn: Connection, table: Table, keys: list[str], update: Any):
    """INSERT ... ON CONFLICT (keys) DO UPDATE: `update` names columns taken from the new row, or maps
    columns to expressions (which may use the statement's `excluded`, passed as a callable's argument)."""
    stmt = _insert(conn.dialect.name, table)
    if callable(update):
        update = update(stmt.excluded)
    elif isinstance(update, list):
        update = {name: stmt.excluded[name] for name in update}
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)


@functools.cache
def _upsert_adding(dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...]):
    stmt = _insert(dialect, table)
    return stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={name: table.c[name] + stmt.excluded[name] for name in columns})


def upsert_adding(conn: Connection, table: Table, keys: tuple[str, ...], columns: tuple[str, ...]):
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET column = column + the new row's, for each of `columns` (counters)."""
    # Built once per engine kind and table: every sync adds to the counters, and building an upsert
    # cost more than running it (a fifth of a sync's CPU).
    return _upsert_adding(conn.dialect.name, table, keys, columns)


class position_of(FunctionElement):  # noqa: N801 (a SQL function, named as one)
    """Where `needle` first occurs in `text`, 1-based, 0 when absent: a case-sensitive substring test
    (LIKE is not: SQLite's ignores ASCII case). SQLite spells it instr(text, needle), PostgreSQL strpos."""

    type = Integer()
    inherit_cache = True
    name = "position_of"


@compiles(position_of, "sqlite")
def _instr(element: position_of, compiler: Any, **kw: Any) -> str:
    return "instr(%s)" % compiler.process(element.clauses, **kw)


@compiles(position_of, "postgresql")
def _strpos(element: position_of, compiler: Any, **kw: Any) -> str:
    return "strpos(%s)" % compiler.process(element.clauses, **kw)
