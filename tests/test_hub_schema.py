"""The hub's schema under Alembic: a fresh database gets exactly the old migrations' schema, and a database
made by the old named migrations (`checkpoint hub init` before Alembic) is taken over, never recreated.

tests/data/hub-v008.db was made by the hub's code before Alembic (`HubStore.migrate()` when 008 was the last old
migration; 009-012 came later), with an admin, the venue `acme` with a cap of 10, gate g0, one admitted entry of
subject "ab" * 16.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import inspect
from sqlite_utils import Database

from protocols.clock import utc_now
from protocols.events import GateEvent, new_event_id
from server import migrations as legacy
from server.store import HubStore
from server.store_migrate import head
from tests.conftest import run_sql

LEGACY = Path(__file__).parent / "data" / "hub-v008.db"


def _describe(store: HubStore) -> dict:
    """Tables with their columns (name, type, nullable), primary key, foreign keys and indexes."""
    seen = inspect(store.conn)
    out = {}
    for table in seen.get_table_names():
        if table in ("_migrations", "alembic_version"):
            continue
        out[table] = (
            [(c["name"], str(c["type"]), c["nullable"] or bool(c.get("primary_key"))) for c in seen.get_columns(table)],
            seen.get_pk_constraint(table)["constrained_columns"],
            sorted((f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in seen.get_foreign_keys(table)),
            sorted((i["name"], i["column_names"], bool(i["unique"])) for i in seen.get_indexes(table)),
        )
    return out


def _entry(subject: str, gate: str = "g0") -> GateEvent:
    return GateEvent(id=new_event_id(), kind="decision", venue="acme", gate=gate, at=utc_now(), decision="admit",
                     colour="green", subject=subject, direction="in")


def test_old_database_is_taken_over_with_its_data(tmp_path: Path):
    db = tmp_path / "hub.db"
    shutil.copy(LEGACY, db)
    store = HubStore(db)
    # The old steps it lacks (009-012) finished, stamped at 0001 (that schema), only the trigger's removal applied.
    assert store.migrate() == ["0002", "0003_i10_people"]
    assert store.migrate() == []
    assert store.check_user("admin", "Legacy-admin-pass-2026") == "admin"
    assert store.event_count("acme") == 1 and store.occupancy("acme")["inside"] == 1
    # The old SQLite trigger is gone; the store writes the presence change itself, once per new entry.
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 0
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    before = store.presence_changes("acme", "other", 0, utc_now() - dt.timedelta(hours=1))
    assert store.ingest([_entry("cd" * 16)]).new == 1
    after = store.presence_changes("acme", "other", before.cursor, utc_now() - dt.timedelta(hours=1))
    assert [c["subject"] for c in after.changes] == ["cd" * 16]
    store.close()


def test_fresh_schema_is_the_old_migrations_schema(tmp_path: Path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as raw:
        assert legacy.migrate(Database(raw)) == [name for name, _ in legacy.MIGRATIONS]  # every old step, as old hubs did
        raw.execute("DROP TRIGGER events_presence")  # what 0002 removes; the rest must be equal
    fresh = HubStore(tmp_path / "fresh.db")
    assert fresh.migrate()[:2] == ["0001", "0002"]
    # Later revisions add tables of their own (people, person_status): the old tables are unchanged.
    old_schema = _describe(HubStore(old))
    assert {t: d for t, d in _describe(fresh).items() if t in old_schema} == old_schema


def test_partly_migrated_old_database_is_finished_then_taken_over(tmp_path: Path):
    db = tmp_path / "hub.db"
    # A hub from before migration 006: the old steps themselves build it.
    conn = sqlite3.connect(db)
    old = Database(conn)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, step in legacy.MIGRATIONS[:5]:
        with conn:
            step(old)
            old.execute("INSERT INTO _migrations VALUES (?, ?)", [name, "2026-01-01T00:00:00Z"])
    conn.execute("INSERT INTO venues (id, cap) VALUES ('acme', 3)")
    conn.execute("INSERT INTO occupancy (venue, inside, entries, exits) VALUES ('acme', 0, 0, 0)")
    conn.commit()
    conn.close()
    store = HubStore(db)
    assert store.migrate() == ["0002", "0003_i10_people"]
    assert store.venue("acme")["cap"] == 3
    fresh = HubStore(tmp_path / "fresh.db")
    fresh.migrate()
    assert _describe(store) == _describe(fresh)


def test_ids_sort_byte_by_byte_on_either_engine(hub_engine: str, tmp_path: Path, request) -> None:
    # A PostgreSQL database whose own collation is a language's (ICU en-US: "a" < "B"), as a hub's may be:
    # the store's order must still be SQLite's, byte by byte ("B" < "a"), so pages and cursors agree.
    if hub_engine == "sqlite":
        database = str(tmp_path / "hub.db")
    else:
        cluster = request.getfixturevalue("postgres")
        run_sql(cluster.url(), "CREATE DATABASE hub_icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                " LOCALE 'C.UTF-8'", autocommit=True)
        database = cluster.url("hub_icu")
        request.addfinalizer(lambda: run_sql(cluster.url(), "DROP DATABASE hub_icu WITH (FORCE)", autocommit=True))
    store = HubStore(database)
    store.migrate()
    for venue in ("b", "B", "a", "A-2", "a-1"):
        store.create_venue(venue, {})
    assert [v["id"] for v in store.venues()] == sorted(["b", "B", "a", "A-2", "a-1"])  # Python's order is by code point
    store.close()


def test_text_with_nul_is_looked_up_and_stored_on_either_engine(hub_database: str) -> None:
    # PostgreSQL's text holds no U+0000 (it refused the statement: a console server error, a lost event).
    store = HubStore(hub_database)
    store.migrate()
    store.create_venue("acme", {"cap": 10})
    store.create_gate("acme", "g0")
    assert store.venue("\x00") is None and store.venue("acme\x00") is None
    event = _entry("ef" * 16).model_copy(update={"note": "门卫\x00备注"})
    assert store.ingest([event]).new == 1
    assert store.event_count("acme") == 1
    store.close()
