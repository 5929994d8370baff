"""Roster imports (issue 10, Enrolment; server/roster_import.py): CSV and XLSX as Excel writes them in China,
every wrong row named, nothing stored from a file with any error, re-imports by ID, never an ID number kept;
the same through `checkpoint hub roster import` and the API, on both engines."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from checkpoint.cli import main as checkpoint
from server.roster_import import import_roster, parse_roster
from server.store import HubStore
from tests.conftest import run_sql
from tests.test_tabular_files import _xlsx  # one workbook writer for the tests of uploads

ID_A, ID_B, ID_C = "11010519491231002X", "440524188001010014", "110101199003074477"
HEADER = ["身份证号", "姓名", "人员类别", "分组", "手机号"]
GOOD = [HEADER, [ID_A, "张三丰", "员工", "保卫处", "13812345678"], [ID_B, "李四", "student", "高一(3)班", ""],
        [ID_C, "欧阳娜娜", "教师", "", "139 0000 1111"]]


def _csv(rows, encoding="utf-8-sig") -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode(encoding) + b"\r\n"


def _store(url: str) -> HubStore:
    store = HubStore(url)
    store.migrate()
    store.create_venue("acme", {"name": "Acme"})
    return store


@pytest.mark.parametrize("data", [_csv(GOOD), _csv(GOOD, "gbk"), _csv(GOOD, "utf-8"), _xlsx(GOOD)],
                         ids=["utf-8-bom", "gbk", "utf-8", "xlsx"])
def test_a_good_file_is_hashed_and_masked(data):
    _, records, errors = parse_roster(data, "p", hasher=lambda n: "h:" + n)
    assert errors == []
    assert [(r.id_hash, r.masked_name, r.person_class, r.group_name, r.phone_masked) for r in records] == [
        ("h:" + ID_A, "张*丰", "staff", "保卫处", "138****5678"), ("h:" + ID_B, "李*", "student", "高一(3)班", None),
        ("h:" + ID_C, "欧*娜", "teacher", None, "139****1111")]


def test_every_wrong_cell_is_named_by_row_and_column():
    rows = [HEADER,
            [ID_A, "张三丰", "员工", "A", ""],
            ["110105194912310021", "王五", "员工", "A", ""],  # check digit
            [ID_A.lower(), "张三", "员工", "A", ""],  # the same person as row 2
            [ID_B, "", "保安", "A", "12345"],  # no name, unknown class, bad phone
            ["1101051949", "赵\u202e六", "staff", "A", ""]]  # short number, a bidi override in the name
    _, _, errors = parse_roster(_csv(rows), "p.csv", hasher=str)
    assert [(e.row, e.column) for e in errors] == [
        (3, "身份证号"), (4, "身份证号"), (5, "姓名"), (5, "人员类别"), (5, "手机号"), (6, "身份证号"), (6, "姓名")]
    text = [str(e) for e in errors]
    assert "校验位" in text[0] and "check digit" in text[0]
    assert "第2行" in text[1] and "row 2" in text[1]
    assert "staff" in text[3] and "员工" in text[3]


def test_an_id_number_excel_stored_as_a_number_is_refused_with_advice():
    _, _, errors = parse_roster(_xlsx([HEADER, [110101199003074477, "王五", "员工", "A", None]]), "p.xlsx", str)
    assert [(e.row, e.column) for e in errors] == [(2, "身份证号")] and "as text" in errors[0].en


def test_a_header_alone_imports_nobody(hub_database):
    store = _store(hub_database)
    result = import_roster(store, "acme", _csv([HEADER]), "p.csv", by_user="admin")
    assert not result.ok and "nobody" in result.errors[0].en
    store.close()


def test_a_file_with_one_error_stores_nothing_then_a_good_one_imports_and_reimports(hub_database):
    store = _store(hub_database)
    bad = GOOD + [["110105194912310021", "王五", "员工", "A", ""]]
    refused = import_roster(store, "acme", _csv(bad), "p.csv", by_user="admin")
    assert [(e.row, e.column) for e in refused.errors] == [(5, "身份证号")] and refused.changes is None
    assert store.people_count("acme") == 0 and store.document("acme", "roster") is None
    preview = import_roster(store, "acme", _xlsx(GOOD), "p.xlsx", by_user="admin", dry_run=True)
    assert (preview.changes.added, preview.changes.roster_version, store.people_count("acme")) == (3, None, 0)
    first = import_roster(store, "acme", _xlsx(GOOD), "p.xlsx", by_user="admin")
    assert (first.rows, first.changes.added, first.changes.roster_version) == (3, 3, 1)
    # Re-import: A moved group, B gone, C unchanged, D new.
    again = [HEADER, [ID_A, "张三丰", "员工", "后勤处", "13812345678"], GOOD[3], ["110101200001010010", "钱七", "访客", "", ""]]
    second = import_roster(store, "acme", _csv(again, "gbk"), "p.csv", by_user="admin")
    c = second.changes
    assert (c.added, c.changed, c.removed, c.unchanged, c.roster_version) == (1, 1, 1, 1, 2)
    assert sorted(p["masked_name"] for p in store.people("acme")) == sorted(["张*丰", "欧*娜", "钱*"])
    actions = [r[0] for r in run_sql(hub_database, "SELECT action FROM audit ORDER BY id")]
    assert actions == ["roster.refused", "roster.preview", "roster.import", "roster.import"]
    store.close()


def test_the_hub_keeps_no_id_number_and_no_full_name(tmp_path):
    store = _store(str(tmp_path / "hub.db"))
    assert import_roster(store, "acme", _csv(GOOD), "p.csv", by_user="admin").ok
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
    for secret in (ID_A, ID_B, ID_C, ID_A[:17], "张三丰", "欧阳娜娜", "13812345678"):
        assert secret.encode() not in stored and secret.encode("utf-16-le") not in stored


def _cli(*args: str):
    return CliRunner().invoke(checkpoint, ["hub", "roster", "import", *args], catch_exceptions=False)


def test_the_cli_imports_reports_and_refuses(tmp_path):
    db = tmp_path / "hub.db"
    _store(str(db)).close()
    good, bad, big = tmp_path / "staff.xlsx", tmp_path / "bad.csv", tmp_path / "big.csv"
    good.write_bytes(_xlsx(GOOD))
    bad.write_bytes(_csv([HEADER, [ID_A, "张三丰", "员工", "A", ""], [ID_A, "张三", "员工", "B", ""]], "gbk"))
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    dry = _cli(str(good), "--venue", "acme", "--db", str(db), "--dry-run")
    assert dry.exit_code == 0 and "added 3, changed 0, removed 0" in dry.output and "dry run" in dry.output
    done = _cli(str(good), "--venue", "acme", "--db", str(db))
    assert done.exit_code == 0 and "added 3" in done.output and "roster v1" in done.output
    refused = _cli(str(bad), "--venue", "acme", "--db", str(db))
    assert refused.exit_code == 1 and "第3行「身份证号」：与第2行重复" in refused.output and "nothing imported" in refused.output
    too_big = _cli(str(big), "--venue", "acme", "--db", str(db))
    assert too_big.exit_code == 1 and "too large" in too_big.output
    assert _cli(str(good), "--venue", "nowhere", "--db", str(db)).exit_code == 1
    store = HubStore(db)
    assert store.people_count("acme") == 3
    store.close()


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pass-word-1".encode()).decode()}


@pytest.mark.slow  # signed-in people (password hashing)
def test_the_api_imports_for_an_admin_of_the_venue_only(hub_factory):
    hub = hub_factory(venues={"acme": {}, "other": {}})
    for user, role, venue in (("admin", "admin", "acme"), ("guard", "guard", "acme")):
        hub.store.create_user(user, "pass-word-1", role)
        hub.store.set_user_venue(user, venue)
    client = hub.app.test_client()
    url = "/api/v1/venues/acme/roster"
    dry = client.post(url + "?dry_run=1", data=_csv(GOOD, "gbk"), headers=_basic("admin"), content_type="text/csv")
    assert dry.status_code == 200 and dry.get_json()["added"] == 3 and dry.get_json()["roster_version"] is None
    done = client.post(url, data=_xlsx(GOOD), headers=_basic("admin"), content_type="application/octet-stream")
    assert done.status_code == 201 and done.get_json()["encoding"] == "xlsx" and done.get_json()["roster_version"] == 1
    bad = client.post(url, data=_csv(GOOD + [["x", "y", "z", "", ""]]), headers=_basic("admin"))
    body = bad.get_json()["error"]
    assert bad.status_code == 422 and body["reason"] == "bad_roster"
    assert [(d["row"], d["column"]) for d in body["details"]] == [(5, "身份证号"), (5, "人员类别")]
    assert client.post("/api/v1/venues/other/roster", data=_csv(GOOD), headers=_basic("admin")).status_code == 403
    assert client.post(url, data=_csv(GOOD), headers=_basic("guard")).status_code == 403
    assert client.post(url, data=b"\0" * (11 << 20), headers=_basic("admin")).status_code == 413
    assert hub.store.people_count("acme") == 3
