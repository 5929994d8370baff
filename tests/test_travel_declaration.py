"""The holder's travel declaration (server/holder_page/travel.py): regions picked by name from the vendored
divisions served by the hub, dates within the last 14 days, stored as source "declaration" and carried as
stays in the next pass; a real browser picks them on a 390 px phone and at 1280 px."""

from __future__ import annotations

import datetime as dt

import pytest

from protocols.clock import utc_now
from protocols.healthpass import verify_healthpass
from tests.holder_helpers import ID_NUMBER, VENUE, make_holders
from tests.test_console_browser import CHROMIUM

TZ = dt.timezone(dt.timedelta(hours=8))  # the venue's zone (Asia/Shanghai, the hub's default)


@pytest.fixture
def holders(hub_factory, monkeypatch, tmp_path):
    return make_holders(hub_factory, monkeypatch, tmp_path)


def today() -> dt.date:
    return utc_now().astimezone(TZ).date()


def declare(client, secret, stays):
    return client.post(f"/h/{secret}/declaration", json={"stays": stays})


def test_the_divisions_come_from_the_hub_a_municipality_without_its_placeholder(holders):
    secret = holders.link(holders.enrol(ID_NUMBER))
    client = holders.hub.app.test_client()
    provinces = client.get(f"/h/{secret}/divisions").get_json()
    assert len(provinces) == 31 and {"code": "110000", "name": "北京市", "leaf": False} in provinces
    beijing = client.get(f"/h/{secret}/divisions?parent=110000").get_json()
    assert {"code": "110105", "name": "朝阳区", "leaf": True} in beijing  # no 市辖区 level in between
    guangdong = client.get(f"/h/{secret}/divisions?parent=440000").get_json()
    assert {"code": "440300", "name": "深圳市", "leaf": False} in guangdong
    assert client.get(f"/h/{secret}/divisions?parent=999999").status_code == 422
    assert client.get("/h/" + "x" * 40 + "/divisions").status_code == 404  # the link is the key here too


def test_a_declaration_is_stored_and_carried_in_the_next_pass(holders):
    person = holders.enrol(ID_NUMBER)
    holders.colour(ID_NUMBER, "green")
    secret, client = holders.link(person), holders.hub.app.test_client()
    start, end = (today() - dt.timedelta(days=5)).isoformat(), (today() - dt.timedelta(days=3)).isoformat()
    answer = declare(client, secret, [{"region": "440305", "start": start, "end": end}])
    assert answer.status_code == 200, answer.get_json()
    assert "深圳市南山区" in answer.get_json()["message"]
    row = holders.store.current_status(person["id"])["declaration"]
    assert row["stays"] == [["440305", start, end]] and row["by_user"] == "holder"
    body = client.get(f"/h/{secret}/pass").get_json()
    cred = verify_healthpass(body["code"], holders.trust(), utc_now()).credential
    assert [(s.region, s.start.isoformat(), s.end.isoformat()) for s in cred.stays] == [("440305", start, end)]
    page = client.get(f"/h/{secret}").get_data(as_text=True)
    assert "广东省深圳市南山区" in page and "上次申报" in page
    # Nowhere else: an empty list is a declaration too (and clears the stays).
    assert declare(client, secret, []).status_code == 200
    assert holders.store.current_status(person["id"])["declaration"]["stays"] == []
    assert holders.hub.sql("SELECT count(*) FROM audit WHERE action = 'status.declaration'")[0][0] == 2


@pytest.mark.parametrize("stay, reason", [
    ({"region": "440300", "start": -3, "end": -2}, "bad_division"),  # a city with districts: pick one
    ({"region": "999999", "start": -3, "end": -2}, "bad_division"),
    ({"region": "110105", "start": -3, "end": 1}, "bad_dates"),  # ends tomorrow
    ({"region": "110105", "start": -20, "end": -15}, "bad_dates"),  # ended before the 14 days
    ({"region": "110105", "start": -2, "end": -3}, "bad_dates"),  # starts after it ends
    ({"region": "1101", "start": -3, "end": -2}, "bad_declaration"),
])
def test_a_bad_stay_is_refused_and_nothing_stored(holders, stay, reason):
    person = holders.enrol(ID_NUMBER)
    secret, client = holders.link(person), holders.hub.app.test_client()
    stay = {**stay, "start": (today() + dt.timedelta(days=stay["start"])).isoformat(),
            "end": (today() + dt.timedelta(days=stay["end"])).isoformat()}
    answer = declare(client, secret, [stay])
    assert answer.status_code == 422 and answer.get_json()["reason"] == reason
    assert "declaration" not in holders.store.current_status(person["id"])
    assert client.post(f"/h/{secret}/declaration", data="x", content_type="text/plain").status_code == 415


@pytest.mark.slow
@pytest.mark.parametrize("width", [390, 1280])
def test_a_holder_picks_regions_by_name_in_a_real_browser(hub_factory, monkeypatch, tmp_path, width):
    from playwright.sync_api import sync_playwright

    holders = make_holders(hub_factory, monkeypatch, tmp_path, serve=True)
    person = holders.enrol(ID_NUMBER)
    holders.colour(ID_NUMBER, "green")
    secret = holders.link(person)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(holders.hub.url) else None)
        page.goto(f"{holders.hub.url}/h/{secret}")
        page.wait_for_selector("#notice:has-text('申报')")  # green, never declared: no pass yet
        start, end = (today() - dt.timedelta(days=4)).isoformat(), (today() - dt.timedelta(days=2)).isoformat()
        page.select_option("select[name=province]", label="广东省")
        page.wait_for_selector("select[name=city] option:has-text('深圳市')", state="attached")
        page.select_option("select[name=city]", label="深圳市")
        page.wait_for_selector("select[name=district] option:has-text('南山区')", state="attached")
        page.select_option("select[name=district]", label="南山区")
        page.fill("input[name=start]", start)
        page.fill("input[name=end]", end)
        page.click("#stay-add")
        page.select_option("select[name=province]", label="北京市")
        page.wait_for_selector("select[name=city] option:has-text('朝阳区')", state="attached")
        page.select_option("select[name=city]", label="朝阳区")
        assert page.is_disabled("select[name=district]")  # a municipality's district is the last choice
        page.fill("input[name=start]", end)
        page.fill("input[name=end]", today().isoformat())
        page.click("#stay-add")
        assert page.locator("#stays li").count() == 2
        assert "广东省深圳市南山区" in page.inner_text("#stays")
        page.click("#travel-form button[type=submit]")
        page.wait_for_selector("#travel-result:has-text('已申报')")
        page.wait_for_selector("#qr:not([hidden])")  # the next pass is issued, green
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no horizontal scroll
        page.screenshot(path=str(tmp_path / f"travel-{width}.png"), full_page=True)
        browser.close()
    assert external == []
    row = holders.store.current_status(person["id"])["declaration"]
    assert row["stays"] == [["440305", start, end], ["110105", end, today().isoformat()]]
    body = holders.hub.app.test_client().get(f"/h/{secret}/pass").get_json()
    assert body["ok"] and [s.region for s in verify_healthpass(body["code"], holders.trust(), utc_now()).credential.stays] \
        == ["440305", "110105"]
