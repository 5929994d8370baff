"""The people's store (server/store_people.py) on both engines: roster re-imports by ID hash, the published
roster document, statuses per source and the latest of each, unknown IDs reported."""

from __future__ import annotations

import json

from agent.venue_documents import parse_roster
from server.store import HubStore
from server.store_people import PersonRecord, StatusRecord

ID_A, ID_B, ID_C = "11010519491231002X", "110105194912310029", "440524188001010014"


def _store(url: str) -> HubStore:
    store = HubStore(url)
    store.migrate()
    store.create_venue("acme", {"name": "Acme"})
    return store


def _rec(store: HubStore, id_number: str, name: str = "张*丰", cls: str = "staff", group: str | None = "A") -> PersonRecord:
    return PersonRecord(store.id_hash(id_number), name, cls, group)


def test_roster_reimport_adds_changes_removes_and_publishes(hub_database: str) -> None:
    store = _store(hub_database)
    first = store.apply_roster("acme", [_rec(store, ID_A), _rec(store, ID_B, "李*")], by_user="admin")
    assert (first.added, first.changed, first.removed, first.unchanged) == (2, 0, 0, 0)
    assert first.roster_version == 1
    dry = store.apply_roster("acme", [_rec(store, ID_A, group="B"), _rec(store, ID_C)], by_user="admin", dry_run=True)
    assert (dry.added, dry.changed, dry.removed, dry.roster_version) == (1, 1, 1, None)
    assert store.people_count("acme") == 2  # the dry run wrote nothing
    again = store.apply_roster("acme", [_rec(store, ID_A, group="B"), _rec(store, ID_C)], by_user="admin")
    assert (again.added, again.changed, again.removed, again.unchanged) == (1, 1, 1, 0)
    roster = parse_roster(store.document("acme", "roster")["body"])
    a = store.person("acme", id_hash=store.id_hash(ID_A))
    assert roster[a["subject"]] == {"class": "staff", "group": "B"} and len(roster) == 2
    assert store.person("acme", id_hash=store.id_hash(ID_B)) is None  # removed (soft)
    back = store.apply_roster("acme", [_rec(store, ID_A, group="B"), _rec(store, ID_B, "李*")], by_user="admin")
    assert (back.added, back.removed, back.unchanged) == (1, 1, 1)
    assert [r["masked_name"] for r in store.people("acme", "李")] == ["李*"]
    assert store.people("acme", "%") == []  # LIKE wildcards are literal
    store.close()


def test_statuses_latest_per_source_and_unknown_rows(hub_database: str) -> None:
    store = _store(hub_database)
    store.apply_roster("acme", [_rec(store, ID_A)], by_user="admin")
    a = store.person("acme", id_hash=store.id_hash(ID_A))
    result = store.add_statuses("acme", "authority", [
        StatusRecord(store.id_hash(ID_A), 2, colour="green", colour_since="2026-12-01T00:00:00Z"),
        StatusRecord(store.id_hash(ID_C), 3, colour="red"),
        StatusRecord(store.id_hash(ID_A), 4, colour="yellow", colour_since="2026-12-02T00:00:00Z"),
    ], by_user="feed")
    assert result.stored == 2 and result.unknown_rows == [3]
    assert store.add_person_status("acme", a["id"], "declaration", StatusRecord(
        "", 0, stays=[["110105", "2026-11-20", "2026-11-25"]]), by_user="holder")
    assert not store.add_person_status("acme", 99999, "manual", StatusRecord("", 0, colour="green"), by_user="x")
    current = store.current_status(a["id"])
    assert current["authority"]["colour"] == "yellow"
    assert current["declaration"]["stays"] == [["110105", "2026-11-20", "2026-11-25"]]
    assert set(current) == {"authority", "declaration"}
    actions = [r["action"] for r in store.audit_log()]
    assert "status.authority" in actions and "status.declaration" in actions and "roster.import" in actions
    store.close()


def test_id_hash_is_keyed_and_normalised(tmp_path) -> None:
    one, two = _store(str(tmp_path / "one.db")), _store(str(tmp_path / "two.db"))
    assert one.id_hash(" 11010519491231002x ") == one.id_hash(ID_A)
    assert one.id_hash(ID_A) != two.id_hash(ID_A)  # each hub its own key
    assert json.dumps(one.id_hash(ID_A)).count(ID_A) == 0
    one.close(), two.close()
