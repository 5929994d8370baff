"""The status feeds in the console (server/console/status_views.py): a supervisor uploads the authority's or a
lab's file (all rows or none, the bad rows listed), finds a person by ID number, reads their statuses with
each one's age and what issuing says now, and enters a colour or result by hand with a reason; all audited
and venue-scoped. A real browser does it at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store_people import PersonRecord
from tests.conftest import run_sql
from tests.test_console_browser import CHROMIUM
from tests.test_console_routes import PASSWORD, Hub, token

ID_A, ID_B = "110105199003070017", "11010819851120002X"
BAD_CHECK = "110105199003070018"


@pytest.fixture
def hub(hub_factory) -> Hub:
    hub = Hub(hub_factory)
    enrol(hub)
    return hub


def enrol(hub: Hub) -> None:
    hub.store.apply_roster("school1", [PersonRecord(hub.store.id_hash(ID_A), "张*明", "staff", "一班")], by_user="test")
    hub.store.apply_roster("factory1", [PersonRecord(hub.store.id_hash(ID_B), "李*", "staff")], by_user="test")


def subject(hub: Hub, venue: str, id_number: str) -> str:
    return hub.store.person(venue, id_hash=hub.store.id_hash(id_number))["subject"]


def upload(client, venue: str, source: str, name: str, data: bytes):
    import io

    return client.post("/console/status/import", data={"csrf_token": token(client, "/console/status"), "venue": venue,
                                                       "source": source, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_an_uploaded_file_is_imported_whole_or_its_bad_rows_listed(hub: Hub) -> None:
    client = hub.client("li")
    good = f"身份证号,健康码,赋码时间\r\n{ID_A},黄码,2026-12-01 08:00\r\n{ID_B},绿码,2026-12-01 08:00\r\n".encode("gbk")
    answer = upload(client, "school1", "authority", "colours.csv", good)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "已导入 1 行" in page and "未登记的行" in page  # ID_B is factory1's
    person = hub.store.person("school1", id_hash=hub.store.id_hash(ID_A))
    assert hub.store.current_status(person["id"])["authority"]["colour"] == "yellow"
    bad = f"身份证号,健康码,赋码时间\r\n{BAD_CHECK},绿码,2026-12-01\r\n{ID_A},蓝码,2026-12-01\r\n".encode("utf-8-sig")
    answer = upload(client, "school1", "authority", "colours.csv", bad)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "2 处错误" in page and "校验位" in page and "green, yellow or red" in page
    assert len(hub.store.status_history(person["id"])) == 1  # nothing more stored
    assert upload(client, "factory1", "authority", "c.csv", good).status_code == 403  # li is school1's
    assert upload(hub.client("wang"), "school1", "authority", "c.csv", good).status_code == 403  # a guard


def test_a_person_is_found_by_id_number_and_a_manual_entry_needs_a_reason(hub: Hub) -> None:
    client = hub.client("li")
    found = client.post("/console/status/find", data={"csrf_token": token(client, "/console/status"),
                                                      "venue": "school1", "id_number": ID_A})
    assert found.status_code == 302 and ID_A not in found.headers["Location"]
    page_url = found.headers["Location"]
    roster = client.get("/console/roster", query_string={"venue": "school1"}).get_data(as_text=True)
    assert f'href="{page_url}"' in roster  # the roster page links each person to their status page
    page = client.get(page_url).get_data(as_text=True)
    assert "张*明" in page and "暂无健康码状态" in page  # what issuing says now
    assert f'action="/console/holders/school1/{subject(hub, "school1", ID_A)}/link"' in page  # print the slip from here
    assert run_sql(hub.db, "SELECT count(*) FROM audit WHERE action = 'person.status_view'")[0][0] == 1
    csrf = token(client, page_url)
    sub = subject(hub, "school1", ID_A)
    answer = client.post(f"/console/status/school1/{sub}/manual", data={"csrf_token": csrf, "colour": "green",
                                                                       "reason": ""})
    assert answer.status_code == 400
    answer = client.post(f"/console/status/school1/{sub}/manual", data={
        "csrf_token": csrf, "colour": "green", "test_result": "negative", "test_at": "2026-12-02T07:30",
        "reason": "纸质报告 paper report"})
    assert answer.status_code == 302
    page = client.get(page_url).get_data(as_text=True)
    assert "人工录入" in page and "纸质报告 paper report" in page and "阴性" in page
    assert "请先在本页申报" in page  # green now, but never declared: still no pass, and why
    audit = run_sql(hub.db, "SELECT username, target FROM audit WHERE action = 'status.manual'")
    assert audit == [("li", f"person {hub.store.person('school1', subject=sub)['id']}: 纸质报告 paper report")]
    other = subject(hub, "factory1", ID_B)
    assert client.get(f"/console/status/factory1/{other}").status_code == 403
    assert client.post(f"/console/status/factory1/{other}/manual",
                       data={"csrf_token": csrf, "colour": "red", "reason": "x y"}).status_code == 403
    assert client.post("/console/status/find", data={"csrf_token": csrf, "venue": "school1",
                                                     "id_number": BAD_CHECK}).status_code == 400


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_upload_find_and_enter_by_hand_in_a_real_browser(hub_factory, tmp_path: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    hub = Hub(hub_factory, serve=True)
    enrol(hub)
    feed = tmp_path / "lab.xlsx"
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["身份证号", "采样时间", "检测结果"])
    book.active.append([ID_A, "2026-12-02 07:45", "阴性"])
    book.save(feed)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(hub.url) else None)
        page.goto(f"{hub.url}/console/login")
        page.fill("input[name=username]", "li")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{hub.url}/console/status")
        page.select_option("form[enctype] select[name=source]", "lab")
        page.set_input_files("input[name=file]", str(feed))
        page.click("form[enctype] button[type=submit]")
        assert "已导入 1 行" in page.inner_text("#import-result")
        fits = [page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")]
        page.fill("input[name=id_number]", ID_A)
        page.click("form[action$='/status/find'] button[type=submit]")
        page.wait_for_selector("#verdict")
        assert "阴性" in page.inner_text("#current")
        page.select_option("#manual-form select[name=colour]", "yellow")
        page.fill("#manual-form input[name=reason]", "社区通知 community notice")
        page.click("#manual-form button[type=submit]")
        page.wait_for_selector("#history :text('社区通知 community notice')")
        assert "黄码" in page.inner_text("#verdict")
        fits.append(page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"))
        page.screenshot(path=str(tmp_path / f"status-{width}.png"), full_page=True)
        browser.close()
    assert fits == [True, True] and external == []
    assert run_sql(hub.db, "SELECT colour, reason FROM person_status WHERE source = 'manual'") == [("yellow", "社区通知 community notice")]


def test_an_admin_sets_each_sources_maximum_age_on_the_venues_page(hub: Hub) -> None:
    client = hub.client("admin")
    page = client.get("/console/venues").get_data(as_text=True)
    assert 'name="colour_max_age_hours"' in page and 'placeholder="48"' in page  # the defaults in force shown
    data = {"csrf_token": token(client, "/console/venues"), "colour_max_age_hours": "12", "test_window_hours": "72",
            "declaration_max_age_hours": ""}
    assert client.post("/console/venues/school1", data=data).status_code == 302
    venue = hub.store.venue("school1")
    assert (venue["colour_max_age_hours"], venue["test_window_hours"], venue["declaration_max_age_hours"]) == (12, 72, None)
    bad = {**data, "colour_max_age_hours": "0"}
    assert client.post("/console/venues/school1", data=bad).status_code == 400
    assert hub.store.venue("school1")["colour_max_age_hours"] == 12  # a bad value saves nothing
