"""Daily reports, zero reports, late filing, CSV, the overview's counts, venue settings and the
retention purge (route, CLI, app start), on real SQLite through the console."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner

from server.app import create_app
from server.cli import hub as hub_cli
from server.reports import build_report, deadline, deadline_hour
from server.retention import purge
from tests.test_console_routes import TZ, Hub, gate_event, local, token


@pytest.fixture
def hub(hub_factory) -> Hub:
    return Hub(hub_factory)


def yesterday() -> dt.date:
    return dt.datetime.now(TZ).date() - dt.timedelta(days=1)


def a_day_of_events(hub: Hub, day: dt.date) -> None:
    """School1's day: 3 entries (one a visitor), 1 exit, 2 denials, 1 referral, 1 fever; and noise."""
    hub.store.ingest([
        gate_event("school1", "north", local(day, 7, 50)),
        gate_event("school1", "north", local(day, 7, 55), person_class="visitor"),
        gate_event("school1", "south", local(day, 8, 5)),
        gate_event("school1", "exit", local(day, 9), direction="out", kind="exit", decision=None),
        gate_event("school1", "north", local(day, 8), decision="deny", failed=("GATE-CODE-01",)),
        gate_event("school1", "north", local(day, 8, 1), decision="deny", failed=("GATE-CODE-01", "GATE-TRIP-01")),
        gate_event("school1", "north", local(day, 8, 2), decision="refer", failed=("GATE-MASK-01",)),
        gate_event("school1", "north", local(day, 8, 30), decision="deny", kind="fever", failed=("GATE-TEMP-01",),
                   celsius=38.2),
        gate_event("school1", "north", local(day - dt.timedelta(days=1), 23, 59)),  # the day before
        gate_event("school1", "north", local(day + dt.timedelta(days=1), 0, 0)),  # the day after
        gate_event("factory1", "north", local(day, 8)),  # another venue
    ])


def test_the_report_counts_exactly_the_days_events(hub: Hub) -> None:
    day = yesterday()
    a_day_of_events(hub, day)
    report = build_report(hub.store, hub.store.venue("school1"), day, TZ)
    assert (report.entries, report.exits, report.admitted, report.denied, report.referred) == (3, 1, 3, 3, 1)
    assert report.denials_by_rule == {"GATE-CODE-01": 2, "GATE-TEMP-01": 1, "GATE-TRIP-01": 1}
    assert report.fevers == [{"at": "08:30:00", "gate": "north", "celsius": 38.2}]
    assert report.visitors_admitted == 1
    # One was inside from the day before; then 3 came in before anyone left.
    assert report.peak_occupancy == 4
    assert not report.is_zero
    page = hub.client("li").get(f"/console/reports?venue=school1&day={day}").get_data(as_text=True)
    assert "GATE-TRIP-01" in page and "08:30:00" in page and "38.2" in page and "零报告 <span" not in page


def test_peak_occupancy_without_exit_gates_counts_entries_within_the_dwell_time(hub: Hub) -> None:
    hub.store.create_venue("canteen1", {"name": "食堂", "dwell_minutes": 30})
    day = yesterday()
    hub.store.ingest([gate_event("canteen1", "door", local(day, 11, m)) for m in (0, 10, 20, 35, 45)]
                     + [gate_event("canteen1", "door", local(day, 12, 40))])
    # 11:00, 11:10, 11:20 overlap (3); by 11:35 the 11:00 one has gone: at most 3 at once.
    assert build_report(hub.store, hub.store.venue("canteen1"), day, TZ).peak_occupancy == 3


def test_a_day_without_events_is_a_zero_report_and_can_be_filed(hub: Hub) -> None:
    day = yesterday()
    client = hub.client("li")
    page = client.get(f"/console/reports?venue=school1&day={day}").get_data(as_text=True)
    assert "零报告" in page and "填报零报告" in page
    answer = client.post(f"/console/reports/school1/{day}/file", data={"csrf_token": token(client, "/console/reports")})
    assert answer.status_code == 302
    filed = hub.store.filed_report("school1", day.isoformat())
    assert filed["filed_by"] == "li" and json.loads(filed["body"])["zero"] is True
    assert ("li", "report.file", day.isoformat()) in [(a["username"], a["action"], a["target"]) for a in hub.audit()]


def test_a_filed_report_never_changes(hub: Hub) -> None:
    day = yesterday()
    client = hub.client("li")
    csrf = token(client, "/console/reports")
    assert client.post(f"/console/reports/school1/{day}/file", data={"csrf_token": csrf}).status_code == 302
    a_day_of_events(hub, day)  # events that arrive after filing (a gate that was offline)
    assert client.post(f"/console/reports/school1/{day}/file", data={"csrf_token": csrf}).status_code == 409
    rows = list(csv.reader(io.StringIO(client.get(f"/console/reports/school1/{day}.csv").get_data(as_text=True))))
    assert rows[0][0].startswith("\ufeff项目")
    values = {r[0]: r[1] for r in rows[1:]}
    assert values["零报告 zero report"] == "是 yes" and values["进入人次 entries"] == "0"
    assert values["填报人 filed by"] == "li"
    # A day not filed is computed live.
    other = yesterday() - dt.timedelta(days=3)  # clear of the first day's neighbours
    a_day_of_events(hub, other)
    values = {r[0]: r[1] for r in csv.reader(io.StringIO(
        client.get(f"/console/reports/school1/{other}.csv").get_data(as_text=True)))}
    assert values["进入人次 entries"] == "3" and values["拒绝规则 denied by rule GATE-CODE-01"] == "2"
    assert values["发热 fever"] == "08:30:00 north 38.2"


def test_late_filing_is_recorded_against_the_venues_deadline(hub: Hub) -> None:
    client = hub.client("admin")
    csrf = token(client, "/console/reports")
    long_ago = yesterday() - dt.timedelta(days=5)
    assert client.post(f"/console/reports/school1/{long_ago}/file", data={"csrf_token": csrf}).status_code == 302
    assert hub.store.filed_report("school1", long_ago.isoformat())["late"] == 1
    # Yesterday's report is due today at the deadline hour (set to 23 here).
    hub.store.set_venue_console("factory1", "factory", 23, None)
    due = deadline(hub.store.venue("factory1"), yesterday(), TZ)
    assert due == local(yesterday() + dt.timedelta(days=1), 23)
    assert client.post(f"/console/reports/factory1/{yesterday()}/file", data={"csrf_token": csrf}).status_code == 302
    assert hub.store.filed_report("factory1", yesterday().isoformat())["late"] == int(dt.datetime.now(TZ) > due)
    page = client.get("/console/reports?venue=school1").get_data(as_text=True)
    assert long_ago.isoformat() in page and "late" in page
    # Today is not over: it cannot be filed yet.
    today = dt.datetime.now(TZ).date()
    assert client.post(f"/console/reports/school1/{today}/file", data={"csrf_token": csrf}).status_code == 400
    assert client.post("/console/reports/school1/not-a-day/file", data={"csrf_token": csrf}).status_code == 400


def test_deadline_defaults_depend_on_the_venue_kind() -> None:
    assert deadline_hour({"kind": "school"}) == 10
    assert deadline_hour({"kind": "kindergarten"}) == 10
    assert deadline_hour({"kind": "factory"}) == 14
    assert deadline_hour({"kind": None}) == 14
    assert deadline_hour({"kind": "school", "report_deadline_hour": 9}) == 9


@pytest.mark.slow
def test_admin_sets_a_venues_kind_deadline_and_retention(hub: Hub) -> None:
    client = hub.client("admin")
    csrf = token(client, "/console/venues")
    answer = client.post("/console/venues/factory1", data={"kind": "kindergarten", "report_deadline_hour": "",
                                                           "retention_days": "21", "lease_reclaim_after_s": "900",
                                                           "csrf_token": csrf})
    assert answer.status_code == 302
    venue = hub.store.venue("factory1")
    assert (venue["kind"], venue["report_deadline_hour"], venue["retention_days"]) == ("kindergarten", None, 21)
    assert venue["lease_reclaim_after_s"] == 900 and hub.store.lent_places("factory1")[0].reclaim_after_s == 900
    assert deadline_hour(venue) == 10
    for bad in ({"kind": "castle"}, {"report_deadline_hour": "24"}, {"retention_days": "-1"},
                {"lease_reclaim_after_s": "0"}):
        assert client.post("/console/venues/factory1", data={**bad, "csrf_token": csrf}).status_code == 400
    supervisor = hub.client("li")
    assert supervisor.post("/console/venues/factory1", data={"csrf_token": token(supervisor, "/console/")}).status_code == 403


def test_the_overview_shows_occupancy_gates_versions_and_todays_counts(hub: Hub) -> None:
    now = dt.datetime.now(TZ)
    start = max(now - dt.timedelta(minutes=30), dt.datetime.combine(now.date(), dt.time(0), tzinfo=TZ))
    hub.store.ingest([gate_event("school1", "north", start + dt.timedelta(seconds=i)) for i in range(2)]
                     + [gate_event("school1", "north", start + dt.timedelta(seconds=5), decision="deny",
                                   failed=("GATE-TEMP-01",))])
    hub.store.put_document("school1", "bundle", b"{}", "application/json")
    hub.store.put_document("school1", "bundle", b"{\"v\": 2}", "application/json")
    hub.store.touch_gate("school1", "north", {"bundle": "1"})
    hub.store.set_gate_status("school1", "south", "offline")
    page = hub.client("wang").get("/console/").get_data(as_text=True)
    assert '<b class="inside">2 / 100</b>' in page  # inside / cap
    assert "● 在线" in page and "● 离线" in page
    assert '<span class="deny">1 / 2</span>' in page  # north runs bundle 1 of 2
    assert "GATE-TEMP-01" in page


def old_and_new_events(hub: Hub) -> tuple[str, str]:
    now = dt.datetime.now(TZ)
    old = gate_event("school1", "north", now - dt.timedelta(days=40), decision="deny", failed=("GATE-TEMP-01",))
    new = gate_event("school1", "north", now - dt.timedelta(days=5))
    hub.store.ingest([old, new])
    return old.id, new.id


def test_purge_deletes_events_past_retention_and_the_old_days_report_keeps_its_counts(hub: Hub) -> None:
    old, new = old_and_new_events(hub)
    old_day = (dt.datetime.now(TZ) - dt.timedelta(days=40)).date()
    before = build_report(hub.store, hub.store.venue("school1"), old_day, TZ)
    assert (before.events, before.denied, before.denials_by_rule) == (1, 1, {"GATE-TEMP-01": 1})
    assert purge(hub.store) == {"factory1": 0, "school1": 1}
    assert hub.store.event_detail(old) is None and hub.store.event_count("school1") == 1
    assert hub.store.event_detail(new)["name"] == "张*明"
    assert build_report(hub.store, hub.store.venue("school1"), old_day, TZ) == before
    # The detail page is gone with the event.
    assert hub.client("admin").get(f"/console/denials/{old}").status_code == 404
    # A venue keeping 3 days deletes the 5-day-old one too; nothing twice.
    hub.store.set_venue_console("school1", "school", None, 3)
    assert purge(hub.store) == {"factory1": 0, "school1": 1}
    assert purge(hub.store) == {"factory1": 0, "school1": 0}


def test_purge_runs_from_the_cli_and_not_at_app_start(hub: Hub, tmp_path) -> None:
    old, new = old_and_new_events(hub)
    result = CliRunner().invoke(hub_cli, ["purge", "--database", hub.db])
    assert result.exit_code == 0, result.output
    assert "deleted 1 events past retention" in result.output
    assert hub.store.event_detail(old) is None
    # The deleted time is closed: the old event sent again is refused, not stored and counted a second time.
    replay = gate_event("school1", "north", dt.datetime.now(TZ) - dt.timedelta(days=40)).model_copy(update={"id": old})
    assert [r.reason for r in hub.store.ingest([replay]).refused] == ["event_too_old"]
    # A venue not purged yet: its old event stays through an app start, which runs migrations only.
    hub.store.create_venue("market1", {"name": "市场"})
    other = gate_event("market1", "north", dt.datetime.now(TZ) - dt.timedelta(days=40))
    hub.store.ingest([other])
    create_app({"DATABASE": hub.db, "TESTING": True})
    assert hub.store.event_detail(other.id) is not None and hub.store.event_detail(new)["subject"] is not None
    result = CliRunner().invoke(hub_cli, ["purge", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_add_user_binds_a_user_to_a_venue(hub: Hub) -> None:
    result = CliRunner().invoke(hub_cli, ["add-user", "--database", hub.db, "--username", "zhao", "--role", "guard",
                                          "--venue", "factory1", "--password", "quiet-harbour-lantern"])
    assert result.exit_code == 0, result.output
    assert hub.store.user("zhao") == {"username": "zhao", "role": "guard", "venue": "factory1"}
    result = CliRunner().invoke(hub_cli, ["add-user", "--database", hub.db, "--username", "x", "--role", "guard",
                                          "--venue", "nowhere"])
    assert result.exit_code != 0 and "no venue" in result.output


# ---- issue 12 item 7: colours, couriers, goods, per gate; PDF; future days; withdrawing a filing ----------------

def test_the_report_counts_red_and_yellow_codes_couriers_goods_and_each_gate(hub: Hub) -> None:
    day = yesterday()
    a_day_of_events(hub, day)
    hub.store.ingest([
        gate_event("school1", "south", local(day, 10), decision="deny", failed=("GATE-COLOUR-01",)).model_copy(
            update={"colour": "red"}),
        gate_event("school1", "south", local(day, 10, 5), decision="refer").model_copy(update={"colour": "yellow"}),
        gate_event("school1", "south", local(day, 10, 6), kind="remeasure", decision="deny").model_copy(
            update={"colour": "yellow"}),  # a prompt is no presentation of its own
        gate_event("school1", "north", local(day, 11), person_class="courier"),
        gate_event("factory1", "north", local(day, 10)).model_copy(update={"colour": "red"}),  # another venue
    ])
    report = build_report(hub.store, hub.store.venue("school1"), day, TZ)
    assert (report.red_codes, report.yellow_codes, report.couriers_admitted) == (1, 1, 1)
    assert report.gates == {
        "exit": {"entries": 0, "exits": 1, "admitted": 0, "denied": 0, "referred": 0},
        "north": {"entries": 3, "exits": 0, "admitted": 3, "denied": 3, "referred": 1},
        "south": {"entries": 1, "exits": 0, "admitted": 1, "denied": 1, "referred": 1}}
    assert report.fevers == [{"at": "08:30:00", "gate": "north", "celsius": 38.2}]
    values = {r[0]: r[1] for r in csv.reader(io.StringIO(
        hub.client("li").get(f"/console/reports/school1/{day}.csv").get_data(as_text=True)))}
    assert values["红码 red_codes"] == "1" and values["黄码 yellow_codes"] == "1"
    assert values["快递/配送员入场 couriers_admitted"] == "1" and values["闸机 gate south 拒绝 denied"] == "1"
    # Goods couriers declared today are in today's report, without who declared them.
    hub.store.declare_goods("school1", "cc" * 16, "赵*", [{
        "product": "冷冻鸡翅", "supplier": "=HYPERLINK(1)", "origin": "山东", "quantity": "20箱", "batch": "B-7",
        "maker": "某厂", "cold_chain": True}])
    today = build_report(hub.store, hub.store.venue("school1"), dt.datetime.now(TZ).date(), TZ)
    assert [(g["product"], g["batch"], g["cold_chain"]) for g in today.goods] == [("冷冻鸡翅", "B-7", 1)]
    assert "赵*" not in json.dumps(today.goods, ensure_ascii=False)
    page = hub.client("li").get(f"/console/reports?venue=school1&day={dt.datetime.now(TZ).date()}").get_data(as_text=True)
    assert "冷冻鸡翅" in page and "B-7" in page
    text = hub.client("li").get(f"/console/reports/school1/{dt.datetime.now(TZ).date()}.csv").get_data(as_text=True)
    assert "冷冻鸡翅" in text


def test_the_pdf_holds_the_chinese_text_in_an_embedded_font(hub: Hub) -> None:
    import pypdf

    day = yesterday()
    a_day_of_events(hub, day)
    answer = hub.client("li").get(f"/console/reports/school1/{day}.pdf")
    assert answer.status_code == 200 and answer.content_type == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(answer.data))
    assert len(reader.pages) >= 1
    text = "".join(page.extract_text() for page in reader.pages)
    for expected in ("日报告", "第一小学", day.isoformat(), "发热 fever", "08:30:00 north 38.2", "拒绝规则 denied by rule GATE-TRIP-01"):
        assert expected in text, expected
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    descriptors = [f["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for f in fonts]
    assert descriptors and all("/FontFile2" in d for d in descriptors)  # embedded, not named only
    assert hub.client("wang").get(f"/console/reports/school1/{day}.pdf").status_code == 403
    hub.app.config["REPORT_FONT"] = "/nonexistent/font.ttc"  # a font that is not there: said, not a crash
    answer = hub.client("li").get(f"/console/reports/school1/{day}.pdf")
    assert answer.status_code == 503 and "REPORT_FONT" in answer.get_data(as_text=True)


def test_a_future_day_cannot_be_filed(hub: Hub) -> None:
    client = hub.client("admin")
    csrf = token(client, "/console/reports")
    tomorrow = dt.datetime.now(TZ).date() + dt.timedelta(days=1)
    answer = client.post(f"/console/reports/school1/{tomorrow}/file", data={"csrf_token": csrf})
    assert answer.status_code == 400 and "未来" in answer.get_data(as_text=True)
    assert hub.store.filed_report("school1", tomorrow.isoformat()) is None


def test_an_admin_withdraws_a_filing_on_the_day_it_was_made_and_it_is_audited(hub: Hub) -> None:
    day = yesterday()
    li, admin = hub.client("li"), hub.client("admin")
    assert li.post(f"/console/reports/school1/{day}/file", data={"csrf_token": token(li, "/console/reports")}).status_code == 302
    csrf = token(admin, "/console/reports")
    assert "撤回填报" in admin.get(f"/console/reports?venue=school1&day={day}").get_data(as_text=True)
    assert "撤回填报" not in li.get(f"/console/reports?venue=school1&day={day}").get_data(as_text=True)
    assert li.post(f"/console/reports/school1/{day}/withdraw", data={"csrf_token": token(li, "/console/reports")}).status_code == 403
    filed = hub.store.filed_report("school1", day.isoformat())
    assert admin.post(f"/console/reports/school1/{day}/withdraw", data={"csrf_token": csrf}).status_code == 302
    assert hub.store.filed_report("school1", day.isoformat()) is None
    assert ("admin", "report.withdraw", f"{day} filed by li at {filed['filed_at']}") in [
        (a["username"], a["action"], a["target"]) for a in hub.audit()]
    assert admin.post(f"/console/reports/school1/{day}/withdraw", data={"csrf_token": csrf}).status_code == 404
    # Filed again, then the filing is a day old: it stays.
    assert admin.post(f"/console/reports/school1/{day}/file", data={"csrf_token": csrf}).status_code == 302
    from tests.conftest import run_sql
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    run_sql(hub.db, "UPDATE daily_reports SET filed_at = :at", {"at": old})
    assert admin.post(f"/console/reports/school1/{day}/withdraw", data={"csrf_token": csrf}).status_code == 409
    assert hub.store.filed_report("school1", day.isoformat()) is not None
