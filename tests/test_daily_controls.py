"""每日管控 · Daily controls: closed management and rule parameters within their ranges, and the risk-area list
imported in the national list's form, set on the console by a venue's admin or supervisor, audited with before
and after, signed into the venue's schedule, fetched by a gate's own sync client and decided by at the gate."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from agent.config import RulesSection, SyncSection
from agent.decider import Decider
from agent.documents import GateDocuments
from agent.store import AgentStore
from agent.sync import SyncClient
from protocols.bundle import DatedRiskArea, build_bundle, sign_bundle
from protocols.controls import ControlError, Controls, apply_controls, check_param, parse_controls
from protocols.credential import Credential
from protocols.decision import GateContext, evaluate, replay
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.rules import load_pack
from protocols.schedule import parse_schedule
from server.controls import COLUMNS, parse_areas
from server.tabular_files import TableFileError, read_table
from tests.test_console_routes import Hub, token

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)
HEADER = "省份,城市,区县,风险等级,起始时间,截止时间\n"


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch) -> Path:
    """The hub's schedule key ($CHECKPOINT_SCHEDULE_KEY) and its public half for the gates."""
    key = generate_private_key()
    save_private_key(key, tmp_path / "schedule-key.pem")
    save_public_key(key, tmp_path / "schedule-pub.pem")
    monkeypatch.setenv("CHECKPOINT_SCHEDULE_KEY", str(tmp_path / "schedule-key.pem"))
    return tmp_path / "schedule-pub.pem"


def staff(subject: str = "S-1", stays: list | None = None, valid_h: int = 1) -> Credential:
    return Credential.model_validate({
        "format": "HP1", "issuer": "i", "kid": "k", "subject": subject, "name": "张*明", "person_class": "staff",
        "colour": "green", "issued_at": (NOW - dt.timedelta(minutes=1)).isoformat(),
        "expires_at": (NOW + dt.timedelta(hours=valid_h)).isoformat(), "stays": stays or []})


def post(client, path: str, data: dict, page: str = "/console/venues/school1/controls"):
    return client.post(path, data={**data, "csrf_token": token(client, page)})


# ---- the engine: controls laid over a bundle -----------------------------------------------------------

def test_ranges_refuse_a_value_outside_naming_the_field() -> None:
    assert check_param("feverDeci", 375) == 375
    for name, value in (("feverDeci", 369), ("feverDeci", 381), ("testMaxHours", 23), ("testMaxHours", 169),
                        ("feverDeci", True), ("feverDeci", 37.5), ("codeMaxAgeMinutes", 10)):
        with pytest.raises(ControlError) as caught:
            check_param(name, value)
        assert caught.value.field == name
    with pytest.raises(ControlError, match="params"):
        parse_controls({"params": {"feverDeci": 400}})  # what a gate refuses in a schedule, too


def test_controls_move_the_threshold_and_the_mode_and_a_dated_area_counts_only_while_in_force() -> None:
    bundle = build_bundle(load_pack("school-gate"), issued_at=NOW - dt.timedelta(hours=1))
    person = staff()
    ctx = GateContext(at=NOW, celsius=37.4, mask=True, inside=False)
    assert evaluate(bundle, person, ctx).decision == "deny"  # 37.4 C against 37.3
    laid = apply_controls(bundle, Controls(params={"feverDeci": 375}))
    assert evaluate(laid, person, ctx).decision == "admit"
    assert laid.version == bundle.version and bundle.ruleset.params["feverDeci"] == 373  # the bundle is untouched
    closed = apply_controls(bundle, Controls(mode="closed"))
    result = evaluate(closed, person, GateContext(at=NOW, celsius=36.5, mask=True, inside=False, roster={"S-2": {}}))
    assert result.decision == "deny" and "GATE-CLOSED-01" in [r.rule for r in result.reasons]

    stay = [{"region": "110105", "start": (NOW - dt.timedelta(days=3)).date().isoformat(), "end": (NOW - dt.timedelta(days=2)).date().isoformat()}]
    traveller = staff(stays=stay, valid_h=24)
    well = GateContext(at=NOW, celsius=36.5, mask=True, inside=False)

    def decided(start: dt.datetime, until: dt.datetime | None, level: str = "high") -> str:
        area = DatedRiskArea(region="110105", level=level, start=start, until=until, name="北京市朝阳区")
        return evaluate(apply_controls(bundle, Controls(risk_areas=[area])), traveller, well).decision

    assert decided(NOW - dt.timedelta(days=1), None) == "deny"
    assert decided(NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1)) == "deny"
    assert decided(NOW + dt.timedelta(hours=1), None) == "admit"  # before its from
    assert decided(NOW - dt.timedelta(days=5), NOW - dt.timedelta(seconds=1)) == "admit"  # after its until
    assert decided(NOW - dt.timedelta(days=1), None, "low") == "admit"  # low risk: listed, not counted
    # One laid bundle asked at several moments (its views are kept per interval between froms and untils).
    later = DatedRiskArea(region="110105", level="mid", start=NOW + dt.timedelta(hours=1), until=NOW + dt.timedelta(hours=3))
    laid_later = apply_controls(bundle, Controls(risk_areas=[later]))
    at = lambda hours: GateContext(at=NOW + dt.timedelta(hours=hours), celsius=36.5, mask=True, inside=False)  # noqa: E731
    # (A pass shown hours later is a screenshot, GATE-CODE-03: the travel rule's own outcome is what counts here.)
    outcomes = [evaluate(laid_later, traveller, at(h)).outcomes["GATE-TRAVEL-01"] for h in (0, 2, 0, 3, 1)]
    assert outcomes == ["PASS", "FAIL", "PASS", "PASS", "FAIL"]
    # A replay lays the same controls over a candidate bundle.
    inputs = {"payload": None, "external": {}}
    assert replay(bundle, inputs, NOW, Controls(params={"feverDeci": 375})).bundle_version == bundle.version


# ---- the risk-area file ----------------------------------------------------------------------------------

def test_the_national_lists_form_resolves_names_and_local_times() -> None:
    text = (HEADER + "北京市,北京市,朝阳区,高风险,2026-12-01,2026-12-08 10:00\n\n"
            "广东省,深圳市,南山区,中,2026/12/02,\n上海,,浦东新区,低,2026-12-01 08:00,\n")
    areas = parse_areas(read_table(text.encode("utf-8"), "list.csv", COLUMNS), TZ)  # type: ignore[arg-type]
    assert [(a.region, a.level) for a in areas] == [("110105", "high"), ("440305", "mid"), ("310115", "low")]
    assert areas[0].start == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.timezone.utc)  # midnight in the venue
    assert areas[0].until == dt.datetime(2026, 12, 8, 2, 0, tzinfo=dt.timezone.utc)
    assert areas[1].until is None and areas[0].name.endswith("朝阳区")
    gbk = parse_areas(read_table(text.encode("gb18030"), "list.csv", COLUMNS), TZ)  # type: ignore[arg-type]
    assert gbk == areas


@pytest.mark.parametrize(("rows", "row", "column"), [
    ("北京市,北京市,朝阳区,高,2026-12-01,\n火星省,,,高,2026-12-01,\n", 3, "省份"),
    ("北京市,北京市,不存在区,高,2026-12-01,\n", 2, "区县"),
    ("北京市,北京市,朝阳区,很高,2026-12-01,\n", 2, "风险等级"),
    ("北京市,北京市,朝阳区,高,明天,\n", 2, "起始时间"),
    ("北京市,北京市,朝阳区,高,,\n", 2, "起始时间"),
    ("北京市,北京市,朝阳区,高,2026-12-05,2026-12-01\n", 2, "截止时间"),
])
def test_a_bad_row_is_named(rows: str, row: int, column: str) -> None:
    with pytest.raises(TableFileError) as caught:
        parse_areas(read_table((HEADER + rows).encode(), "list.csv", COLUMNS), TZ)  # type: ignore[arg-type]
    assert [(e.row, e.column) for e in caught.value.errors] == [(row, column)]
    assert f"第{row}行" in str(caught.value)


def test_every_bad_row_is_named_and_a_header_without_the_columns_or_a_false_xlsx_is_refused() -> None:
    rows = HEADER + "火星省,,,高,2026-12-01,\n北京市,北京市,朝阳区,高,2026-12-01,\n北京市,,朝阳区,极高,x,\n"
    with pytest.raises(TableFileError) as caught:
        parse_areas(read_table(rows.encode(), "list.csv", COLUMNS), TZ)  # type: ignore[arg-type]
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "省份"), (4, "风险等级"), (4, "起始时间")]
    with pytest.raises(TableFileError, match="省份"):
        read_table("地区,代码\nx,1\n".encode(), "list.csv", COLUMNS)
    with pytest.raises(TableFileError, match="xlsx"):
        read_table(b"not really a workbook", "list.xlsx", COLUMNS)


def xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---- the console ------------------------------------------------------------------------------------------

def test_a_supervisor_sets_controls_audited_before_and_after_and_others_are_refused(hub_factory, keyed) -> None:
    hub = Hub(hub_factory)
    li = hub.client("li")
    page = li.get("/console/venues/school1/controls")
    assert page.status_code == 200 and "每日管控" in page.get_data(as_text=True)
    answer = post(li, "/console/venues/school1/controls", {"mode": "closed", "feverDeci": "37.5", "testMaxHours": "72"})
    assert answer.status_code == 302
    stored = json.loads(bytes(hub.store.document("school1", "parameters")["body"]))
    assert stored == {"mode": "closed", "params": {"feverDeci": 375, "testMaxHours": 72}}
    schedule = json.loads(bytes(hub.store.document("school1", "schedule")["body"]))["body"]
    assert parse_schedule(schedule).controls == Controls(mode="closed", params={"feverDeci": 375, "testMaxHours": 72})
    row = hub.audit()[0]
    assert (row["action"], row["venue"]) == ("controls.set", "school1")
    assert row["target"] == "feverDeci -→375; mode None→closed; testMaxHours -→72"
    post(li, "/console/venues/school1/controls", {"mode": "closed", "feverDeci": "37.4", "testMaxHours": "72"})
    assert hub.audit()[0]["target"] == "feverDeci 375→374"

    # Out of range: refused naming the field, nothing stored, nothing audited.
    version = hub.store.document("school1", "parameters")["version"]
    for field, value in (("feverDeci", "38.5"), ("testMaxHours", "12"), ("feverDeci", "37.25"), ("feverDeci", "hot")):
        refused = post(li, "/console/venues/school1/controls", {field: value})
        text = refused.get_data(as_text=True)
        assert refused.status_code == 400 and field in text, text
    assert "发热阈值" in post(li, "/console/venues/school1/controls", {"feverDeci": "38.5"}).get_data(as_text=True)
    assert hub.store.document("school1", "parameters")["version"] == version
    assert hub.audit()[0]["target"] == "feverDeci 375→374"  # a refusal audits no change

    # Another venue's supervisor, a guard, and a user signed out: refused.
    assert li.get("/console/venues/factory1/controls").status_code == 403
    assert post(li, "/console/venues/factory1/controls", {"feverDeci": "37.5"}).status_code == 403
    assert hub.client("wang").get("/console/venues/school1/controls").status_code == 403
    assert hub.client().get("/console/venues/school1/controls").status_code == 302
    assert hub.client("admin").get("/console/venues/factory1/controls").status_code == 200


def test_a_risk_area_import_is_all_or_nothing_and_audited(hub_factory, keyed) -> None:
    hub = Hub(hub_factory)
    li = hub.client("li")

    def upload(name: str, data: bytes):
        return li.post("/console/venues/school1/controls/risk-areas", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name),
                             "csrf_token": token(li, "/console/venues/school1/controls")})

    good = xlsx([["省份", "城市", "区县", "风险等级", "起始时间", "截止时间"],
                 ["北京市", "北京市", "朝阳区", "高风险", dt.datetime(2026, 12, 1), None],
                 ["广东省", "深圳市", "南山区", "中风险", "2026-12-02", "2026-12-20"]])
    assert upload("list.xlsx", good).status_code == 302
    areas = parse_controls(json.loads(bytes(hub.store.document("school1", "risk_areas")["body"]))).risk_areas
    assert [a.region for a in areas] == ["110105", "440305"]
    assert (hub.audit()[0]["action"], hub.audit()[0]["target"]) == ("controls.risk_areas", "list.xlsx: 0→2 areas")
    schedule = parse_schedule(json.loads(bytes(hub.store.document("school1", "schedule")["body"]))["body"])
    assert [a.region for a in schedule.controls.risk_areas] == ["110105", "440305"]
    page = li.get("/console/venues/school1/controls").get_data(as_text=True)
    assert "北京市朝阳区" in page and "广东省深圳市南山区" in page

    # One unknown name: the row is named and the list stays as it was.
    bad = (HEADER + "北京市,北京市,朝阳区,高,2026-12-01,\n湖北省,武汉市,无此区,中,2026-12-01,\n").encode()
    refused = upload("new.csv", bad)
    assert refused.status_code == 400 and "第3行" in refused.get_data(as_text=True)
    kept = parse_controls(json.loads(bytes(hub.store.document("school1", "risk_areas")["body"]))).risk_areas
    assert [a.region for a in kept] == ["110105", "440305"]
    assert hub.audit()[0]["target"] == "list.xlsx: 0→2 areas"
    assert li.post("/console/venues/factory1/controls/risk-areas", content_type="multipart/form-data",
                   data={"file": (io.BytesIO(good), "x.xlsx"),
                         "csrf_token": token(li, "/console/venues/school1/controls")}).status_code == 403


def test_the_api_refuses_parameters_out_of_range_and_publishes_good_ones(hub_factory, keyed) -> None:
    import base64

    from tests.test_console_routes import PASSWORD

    hub = Hub(hub_factory)
    admin = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
    client = hub.app.test_client()
    put = lambda body: client.put("/api/v1/venues/school1/documents/parameters", headers=admin, json=body)  # noqa: E731
    for body in ({"params": {"feverDeci": 300}}, {"mode": "shut"}, {"params": {"codeMaxAgeMinutes": 5}}, {"x": 1}):
        bad = put(body)
        assert bad.status_code == 422 and bad.get_json()["error"]["reason"] == "bad_controls", bad.data
    assert hub.store.document("school1", "parameters") is None
    assert put({"params": {"feverDeci": 376}}).status_code == 201
    schedule = parse_schedule(json.loads(bytes(hub.store.document("school1", "schedule")["body"]))["body"])
    assert schedule.controls.params == {"feverDeci": 376}


# ---- end to end: the console -> the signed schedule -> a gate's own sync -> its decision --------------------

def test_a_change_on_the_console_changes_the_gates_decision(hub_factory, keyed, tmp_path: Path) -> None:
    hub = Hub(hub_factory, serve=True)
    root = generate_private_key()
    save_public_key(root, tmp_path / "root-pub.pem")
    bundle_doc = sign_bundle(build_bundle(load_pack("school-gate")), root)
    (tmp_path / "bundle.json").write_text(json.dumps(bundle_doc))
    hub.store.put_document("school1", "bundle", json.dumps(bundle_doc).encode(), "application/json")
    device, secret = hub.store.redeem_token(hub.store.create_enroll_token("school1", "north"))
    docs = GateDocuments(RulesSection(root_public_key=tmp_path / "root-pub.pem", bundle=tmp_path / "bundle.json",
                                      schedule_public_key=keyed), tmp_path / "docs", venue="school1")
    sync = SyncClient(AgentStore(tmp_path / "gate.db", b"k" * 32),
                      SyncSection(hub_url=hub.url, device_id=device.id, documents_dir=tmp_path / "docs"),
                      venue="school1", gate="north", secret=secret, documents=docs.cache)
    decider = Decider(docs.bundle())
    venue_docs = docs.venue()
    now = dt.datetime.now(dt.timezone.utc)
    person = Credential.model_validate({
        "format": "HP1", "issuer": "i", "kid": "k", "subject": "S-1", "name": "张*明", "person_class": "staff",
        "colour": "green", "issued_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "expires_at": (now + dt.timedelta(hours=1)).isoformat()})

    def decide(celsius: float = 37.4, roster=None) -> str:
        sync.sync_http()
        decider.refresh()
        ctx = GateContext(at=dt.datetime.now(dt.timezone.utc), celsius=celsius, mask=True, inside=False,
                          roster=roster, schedule=venue_docs.schedule())
        return decider.decide(person, ctx).decision

    assert decide() == "deny"  # 37.4 C against the bundle's 37.3
    li = hub.client("li")
    assert post(li, "/console/venues/school1/controls", {"feverDeci": "37.5"}).status_code == 302
    assert decide() == "admit"
    assert decide(37.5) == "deny"
    assert post(li, "/console/venues/school1/controls", {"feverDeci": "37.5", "mode": "closed"}).status_code == 302
    assert decide(36.5, roster={"S-2": {}}) == "deny"  # closed management: not on the roster
    assert decide(36.5, roster={"S-1": {}}) == "admit"
