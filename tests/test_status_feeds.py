"""Status feeds (server/status_feeds.py, POST /api/v1/venues/{v}/status/{authority|lab|manual}): files in
UTF-8, UTF-8 with BOM, GBK and XLSX and JSON lists are stored for enrolled people, unknown IDs reported,
every malformed feed refused whole with one error per row, the routes scoped to the venue and audited;
on both engines (`hub_engine`)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import openpyxl
import pytest
from click.testing import CliRunner

from checkpoint.cli import main
from protocols.clock import utc_now
from server.store_people import PersonRecord
from server.tabular_files import TableFileError
from server.status_feeds import json_feed, parse_time, read_feed
from zoneinfo import ZoneInfo

PASSWORD = "pass-word-1"
ID_A, ID_B, ID_C = "110105199003070017", "11010819851120002X", "310104197205150033"
NOT_ENROLLED = "510107199912310046"
BAD_CHECK = "110105199003070018"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def hub(hub_factory):
    hub = hub_factory(venues={"acme": {"name": "一号工厂"}, "other": {}}, testing=True)
    for user, role, venue in (("li", "supervisor", "acme"), ("wu", "supervisor", "other"), ("wang", "guard", "acme")):
        hub.store.create_user(user, PASSWORD, role)
        hub.store.set_user_venue(user, venue)
    hub.store.apply_roster("acme", [PersonRecord(hub.store.id_hash(n), name, "staff") for n, name in
                                    ((ID_A, "张*明"), (ID_B, "李*"), (ID_C, "王*华"))], by_user="test")
    hub.client = hub.app.test_client()
    return hub


def post(hub, path: str, data, user: str = "li", content_type: str = "application/json"):
    body = json.dumps(data, ensure_ascii=False).encode() if not isinstance(data, bytes) else data
    return hub.client.post(f"/api/v1/venues/{path}", data=body, content_type=content_type, headers=basic(user))


def statuses(hub) -> int:
    return hub.sql("SELECT count(*) FROM person_status")[0][0]


def latest(hub, id_number: str, source: str) -> dict:
    person = hub.store.person("acme", id_hash=hub.store.id_hash(id_number))
    return hub.store.current_status(person["id"])[source]


def test_an_authority_json_feed_is_stored_unknown_ids_reported_and_audited(hub):
    answer = post(hub, "acme/status/authority", [
        {"id": ID_A, "colour": "green", "since": "2026-11-20 08:00"},
        {"id": ID_B.lower(), "colour": "黄码", "since": "2026-12-01T09:30:00+08:00"},
        {"id": NOT_ENROLLED, "colour": "red", "since": "2026-12-01"}])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"source": "authority", "stored": 2, "unknown_rows": [3]}
    a = latest(hub, ID_A, "authority")
    assert (a["colour"], a["colour_since"], a["by_user"]) == ("green", "2026-11-20T00:00:00.000000Z", "li")
    assert latest(hub, ID_B, "authority")["colour"] == "yellow"
    audit = hub.sql("SELECT username, action, venue, target FROM audit WHERE action = 'status.authority'")
    assert audit == [("li", "status.authority", "acme", "stored 2, unknown 1")]
    # The ID numbers are nowhere in the database.
    dump = repr(hub.sql("SELECT * FROM person_status")) + repr(hub.sql("SELECT * FROM audit"))
    assert ID_A not in dump and NOT_ENROLLED not in dump


def csv_bytes(encoding: str, rows: list[list[str]]) -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_lab_csv_in_each_encoding_excel_writes(hub, encoding):
    data = csv_bytes(encoding, [["身份证号", "采样时间", "检测结果"], [ID_A, "2026-12-02 07:45", "阴性"],
                                [ID_C, "2026/12/02 08:10", "阳性"]])
    answer = post(hub, "acme/status/lab", data, content_type="text/csv")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["stored"] == 2
    a, c = latest(hub, ID_A, "lab"), latest(hub, ID_C, "lab")
    assert (a["test_at"], a["test_result"]) == ("2026-12-01T23:45:00.000000Z", "negative")
    assert c["test_result"] == "positive"


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_authority_xlsx_with_excel_dates(hub):
    data = xlsx([["ID", "Colour", "Since"], [ID_A, "red", dt.datetime(2026, 12, 1, 10, 0)], [ID_B, "Green", "2026-11-30"]])
    answer = post(hub, "acme/status/authority", data, content_type=read_xlsx_type())
    assert answer.status_code == 200, answer.get_json()
    assert latest(hub, ID_A, "authority")["colour_since"] == "2026-12-01T02:00:00.000000Z"
    assert latest(hub, ID_B, "authority")["colour"] == "green"


def read_xlsx_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


FUTURE = (utc_now() + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("rows, errors", [
    ([["身份证号", "颜色", "赋码时间", "地址"], [ID_A, "green", "2026-12-01"]], [(1, "地址")]),
    ([["身份证号", "健康码"], [ID_A, "green"]], [(1, "赋码时间")]),
    ([["id", "colour", "since"], [ID_A, "green", "2026-12-01"], [BAD_CHECK, "green", "2026-12-01"],
      [ID_B, "blue", "2026-12-01"], [ID_C, "red", FUTURE]], [(3, "id"), (4, "colour"), (5, "since")]),
    ([["id", "colour", "since"], [ID_A, "green", "2026-12-01"], [ID_B, "green", "2026-12-01"],
      [ID_A.lower(), "red", "2026-12-01"]], [(4, "id")]),
    ([["id", "colour", "since"], [ID_A, "green", "yesterday"]], [(2, "since")]),
])
def test_a_malformed_feed_is_refused_whole_with_an_error_per_row(hub, rows, errors):
    answer = post(hub, "acme/status/authority", csv_bytes("utf-8", rows), content_type="text/csv")
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["reason"] == "bad_feed" and "未保存" in error["message"]
    assert [(d["row"], d["column"]) for d in error["details"]] == errors
    assert all(d["zh"] and d["en"] for d in error["details"])
    assert statuses(hub) == 0  # no partial import


def test_undecodable_bytes_and_oversized_files_are_refused(hub):
    broken = "id,colour,since\r\n".encode() + ID_A.encode() + ",绿码,2026-12-01\r\n".encode() + b"\xff\xfe\xfa,red,x\r\n"
    answer = post(hub, "acme/status/authority", broken, content_type="text/csv")
    assert answer.status_code == 422 and answer.get_json()["error"]["details"][0]["row"] == 3
    big = b"id,colour,since\r\n" + b"x" * (50 * 1024 * 1024)
    answer = post(hub, "acme/status/authority", big, content_type="text/csv")
    assert answer.status_code == 413  # the hub's body limit, before any of it is read as a table
    with pytest.raises(TableFileError, match="过大"):
        read_feed("authority", big, "feed.csv")
    assert statuses(hub) == 0


@pytest.mark.parametrize("body, where", [
    ({"records": [{"id": ID_A, "colour": "green", "since": "2026-12-01", "extra": 1}]}, (1, "extra")),
    ([{"id": ID_A, "colour": ["green"], "since": "2026-12-01"}], (1, "colour")),
    (["not an object"], (1, None)),
    ({"rows": []}, (None, None)),
])
def test_a_malformed_json_feed_names_its_item(hub, body, where):
    answer = post(hub, "acme/status/authority", body)
    assert answer.status_code == 422
    first = answer.get_json()["error"]["details"][0]
    assert (first["row"], first["column"]) == where
    assert statuses(hub) == 0


def test_the_feeds_are_scoped_to_the_venue_and_a_supervisors(hub):
    body = [{"id": ID_A, "colour": "green", "since": "2026-12-01"}]
    assert post(hub, "acme/status/authority", body, user="wu").status_code == 403  # another venue's supervisor
    assert post(hub, "acme/status/authority", body, user="wang").status_code == 403  # a guard
    assert post(hub, "acme/status/vaccine", body).status_code == 404
    assert post(hub, "nowhere/status/authority", body, user="li").status_code == 403
    assert statuses(hub) == 0
    assert hub.sql("SELECT count(*) FROM audit WHERE action = 'api.out_of_scope'")[0][0] == 2


def test_a_manual_entry_needs_a_reason_and_is_audited_with_it(hub):
    sampled = (utc_now() - dt.timedelta(hours=3)).isoformat()
    answer = post(hub, "acme/status/manual", {"id_number": ID_B, "test_at": sampled, "test_result": "negative",
                                              "colour": "green", "reason": "纸质报告 report on paper"})
    assert answer.status_code == 201, answer.get_json()
    row = latest(hub, ID_B, "manual")
    assert (row["test_result"], row["colour"], row["reason"], row["by_user"]) == ("negative", "green",
                                                                                   "纸质报告 report on paper", "li")
    audit = hub.sql("SELECT target FROM audit WHERE action = 'status.manual'")[0][0]
    assert audit.endswith(": 纸质报告 report on paper")
    for bad in ({"id_number": ID_B, "colour": "green"},  # no reason
                {"id_number": ID_B, "reason": "nothing entered"},
                {"id_number": ID_B, "subject": "x", "colour": "red", "reason": "both named"},
                {"id_number": ID_B, "test_result": "negative", "reason": "no sampling time"},
                {"id_number": ID_B, "colour": "red", "colour_since": FUTURE.replace(" ", "T") + ":00+08:00", "reason": "future"}):
        assert post(hub, "acme/status/manual", bad).status_code == 422, bad
    assert post(hub, "acme/status/manual", {"id_number": BAD_CHECK, "colour": "red", "reason": "typo"}).status_code == 422
    assert post(hub, "acme/status/manual", {"id_number": NOT_ENROLLED, "colour": "red", "reason": "x y"}).status_code == 404
    assert post(hub, "acme/status/manual", {"id_number": ID_B, "colour": "red", "reason": "x y"}, user="wu").status_code == 403


def test_times_without_an_offset_are_the_venues():
    assert parse_time("2026-12-02 08:00", SHANGHAI) == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_time("2026-12-02T08:00:00Z", SHANGHAI) == dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)
    assert len(json_feed("lab", {"records": []}).rows) == 0


def test_the_cli_imports_a_file_and_keeps_hub_status(hub, tmp_path):
    if "://" in hub.db:
        args = ["--database", hub.db]
    else:
        args = ["--db", hub.db]
    path = tmp_path / "lab.csv"
    path.write_bytes(csv_bytes("gbk", [["身份证号", "采样时间", "检测结果"], [ID_A, "2026-12-02 07:45", "阴性"],
                                       [NOT_ENROLLED, "2026-12-02 07:50", "阴性"]]))
    result = CliRunner().invoke(main, ["hub", "status", "import", str(path), "--venue", "acme", "--source", "lab", *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"source": "lab", "stored": 1, "unknown_rows": [3]}
    assert hub.sql("SELECT username FROM audit WHERE action = 'status.lab'") == [("cli",)]
    path.write_bytes(csv_bytes("utf-8", [["身份证号", "采样时间", "检测结果"], [BAD_CHECK, "2026-12-02 07:45", "阴性"]]))
    result = CliRunner().invoke(main, ["hub", "status", "import", str(path), "--venue", "acme", "--source", "lab", *args])
    assert result.exit_code == 1 and "第2行" in result.output and "row 2" in result.output
    assert statuses(hub) == 1
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB (sparse): refused by its size before any of it is read
    result = CliRunner().invoke(main, ["hub", "status", "import", str(big), "--venue", "acme", "--source", "authority", *args])
    assert result.exit_code == 1 and "过大" in result.output and "too large" in result.output
    assert statuses(hub) == 1
    # The old `hub status --venue V` still prints the venue's JSON.
    result = CliRunner().invoke(main, ["hub", "status", "--venue", "acme", *args])
    assert result.exit_code == 0 and json.loads(result.output)["venue"] == "acme"
