"""`checkpoint hub migrate-db --from URL --to URL`: a hub's whole database copied into an empty one
(SQLite onto PostgreSQL, the move docs/scale.md describes), counts checked, ids going on past the copied ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from protocols.clock import utc_now
from protocols.events import GateEvent, new_event_id
from server.cli import hub as hub_cli
from server.schema import metadata
from server.store import HubStore
from tests.conftest import run_sql


def populated(db: str) -> None:
    """A hub with a row in as many tables as its ordinary calls fill: venue, gates, device, events, lease,
    presence, audit, a rate-limit counter, a booking, a document, a user."""
    store = HubStore(db)
    store.migrate()
    store.create_user("admin", "quiet-harbour-lantern-7", "admin")
    store.create_venue("hall", {"cap": 50})
    for gate in ("g0", "g1"):
        store.create_gate("hall", gate)
    store.redeem_token(store.create_enroll_token("hall", "g0"))
    store.lease("hall", "g0", 10)
    now = utc_now()
    store.ingest([GateEvent(id=new_event_id(), kind="decision", venue="hall", gate=gate, decision="admit",
                            direction="in", subject=f"s{i}", at=now - dt.timedelta(seconds=i))
                  for i in range(25) for gate in ("g0",)])
    store.add_audit("admin", "person.view", "s1", "hall")
    store.limit_incr("login:admin", 60, 1, now.timestamp())
    store.reserve("hall", "2026-12-02T10:00:00Z", "s1", 5)
    store.put_document("hall", "bundle", b"\x00\x01bundle", "application/octet-stream")
    store.close()


def rows(db: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    store = HubStore(db)
    try:
        return {t.name: [tuple(r) for r in store.conn.execute(
                    select(t).order_by(*(list(t.primary_key.columns) or list(t.columns))))]
                for t in metadata.sorted_tables}
    finally:
        store.close()


def migrate_db(*args: str):
    return CliRunner().invoke(hub_cli, ["migrate-db", *args])


def test_a_sqlite_hub_copied_into_an_empty_sqlite_one_holds_the_same_rows(tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    populated(source)
    out = migrate_db("--from", f"sqlite:///{source}", "--to", target, "--batch", "7")
    assert out.exit_code == 0, out.output
    assert rows(target) == rows(source)
    assert "events: 25" in out.output and "presence: 25" in out.output


@pytest.mark.slow
def test_a_sqlite_hub_moves_to_postgresql_and_goes_on_there(tmp_path: Path, postgres) -> None:
    source = str(tmp_path / "hub.db")
    populated(source)
    run_sql(postgres.url(), "CREATE DATABASE moved", autocommit=True)
    target = postgres.url("moved")
    try:
        out = migrate_db("--from", f"sqlite:///{source}", "--to", target, "--batch", "10")
        assert out.exit_code == 0, out.output
        before = rows(source)
        assert rows(target) == before
        assert sum(len(v) for v in before.values()) > 60
        # The sequences were set past the copied ids: new presence changes and audit rows get ids after them,
        # and a gate's presence cursor from the SQLite hub still points into the same history.
        store = HubStore(target)
        top = max(r[0] for r in before["presence"])
        store.ingest([GateEvent(id=new_event_id(), kind="decision", venue="hall", gate="g1", decision="admit",
                                direction="in", subject="late", at=utc_now())])
        store.add_audit("admin", "person.view", "late", "hall")
        page = store.presence_changes("hall", "g0", top, utc_now() - dt.timedelta(hours=1))
        assert [c["subject"] for c in page.changes] == ["late"] and page.cursor == top + 1
        assert max(r[0] for r in rows(target)["audit"]) > max(r[0] for r in before["audit"])
        assert store.check_user("admin", "quiet-harbour-lantern-7") == "admin"
        store.close()
    finally:
        run_sql(postgres.url(), "DROP DATABASE moved WITH (FORCE)", autocommit=True)


def test_a_target_holding_data_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    populated(source)
    HubStore(target).migrate()
    HubStore(target).create_venue("other", {"cap": 3})
    before = rows(target)
    out = migrate_db("--from", source, "--to", target)
    assert out.exit_code == 1 and "already holds rows" in out.output and "venues 1" in out.output, out.output
    assert rows(target) == before


def test_bad_sources_and_targets_get_a_clear_answer(tmp_path: Path) -> None:
    source = str(tmp_path / "a.db")
    populated(source)
    same = migrate_db("--from", source, "--to", f"sqlite:///{source}")
    assert same.exit_code == 1 and "same database" in same.output, same.output
    missing = migrate_db("--from", str(tmp_path / "nowhere.db"), "--to", str(tmp_path / "b.db"))
    assert missing.exit_code == 2 and "does not exist" in missing.output and "--from" in missing.output
    assert not (tmp_path / "b.db").exists()
    bad = migrate_db("--from", source, "--to", "mysql://x@y/z")
    assert bad.exit_code == 2 and "unsupported database" in bad.output and "--to" in bad.output
    run_sql(source, "UPDATE alembic_version SET version_num = '0001'")
    old = migrate_db("--from", source, "--to", str(tmp_path / "c.db"))
    assert old.exit_code == 1 and "hub migrate" in old.output, old.output
    zero = migrate_db("--from", source, "--to", str(tmp_path / "d.db"), "--batch", "0")
    assert zero.exit_code == 1 and "batch" in zero.output
