"""The console's roster page (server/console/roster.py): upload -> preview (nothing stored) -> confirm (stored,
audited); a file with errors shows them by row and column and cannot be confirmed; the list shows masked
names only, with search; the venue scope and roles hold."""

from __future__ import annotations

import io
import re

import pytest

from tests.test_console_routes import Hub, token
from tests.test_roster_import import GOOD, HEADER, ID_A, _csv, _xlsx

pytestmark = pytest.mark.slow  # signed-in users (password hashing)


def _preview(client, data: bytes, name: str = "staff.csv", venue: str = "school1"):
    return client.post("/console/roster/preview", content_type="multipart/form-data", data={
        "csrf_token": token(client, f"/console/roster?venue={venue}"), "venue": venue,
        "file": (io.BytesIO(data), name)})


def _held_token(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def test_upload_preview_confirm_and_the_list(hub_factory) -> None:
    hub = Hub(hub_factory)
    admin = hub.client("admin")
    preview = _preview(admin, _xlsx(GOOD), "staff.xlsx")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "新增 3" in page and "确认导入" in page
    assert hub.store.people_count("school1") == 0  # a preview stores nobody
    held = _held_token(page)
    done = admin.post("/console/roster/confirm", data={"csrf_token": token(admin, "/console/roster"), "venue": "school1",
                                                      "token": held})
    assert done.status_code == 302
    listed = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "已导入" in listed and "新增 3" in listed and hub.store.people_count("school1") == 3
    assert "张*丰" in listed and "张三丰" not in listed and ID_A not in listed and "138****5678" in listed
    assert "员工" in listed  # the class as a person reads it
    again = admin.post("/console/roster/confirm", data={"csrf_token": token(admin, "/console/roster"),
                                                       "venue": "school1", "token": held})
    assert again.status_code == 409  # a preview is confirmed once
    found = admin.get("/console/roster?venue=school1&q=高一").get_data(as_text=True)
    assert "李*" in found and "张*丰" not in found
    actions = [r["action"] for r in hub.audit()]
    assert {"roster.preview", "roster.import", "roster.list"} <= set(actions)


def test_a_file_with_errors_lists_them_and_offers_no_confirmation(hub_factory) -> None:
    hub = Hub(hub_factory)
    admin = hub.client("admin")
    bad = GOOD + [["110105194912310021", "王五", "保安", "A", ""]]
    page = _preview(admin, _csv(bad, "gbk")).get_data(as_text=True)
    assert "2 处错误" in page and "确认导入" not in page and 'name="token"' not in page
    rows = re.findall(r'<td data-label="行 Row">(\d+)</td><td data-label="列 Column">([^<]+)</td>', page)
    assert rows == [("5", "身份证号"), ("5", "人员类别")]
    assert hub.store.people_count("school1") == 0


def test_a_50_mb_upload_and_no_file_are_refused_with_a_page(hub_factory) -> None:
    hub = Hub(hub_factory)
    admin = hub.client("admin")
    big = _preview(admin, b"0" * (50 << 20), "big.csv")
    assert big.status_code == 413 and "过大" in big.get_data(as_text=True)
    over = _preview(admin, _csv([HEADER]) + b"1" * (11 << 20), "big.csv")
    assert over.status_code == 200 and "too large" in over.get_data(as_text=True)
    none = admin.post("/console/roster/preview", data={"csrf_token": token(admin, "/console/roster"), "venue": "school1"})
    assert none.status_code == 400


def test_roles_and_the_venue_scope(hub_factory) -> None:
    hub = Hub(hub_factory)
    li, wang = hub.client("li"), hub.client("wang")  # supervisor and guard of school1
    assert li.get("/console/roster").status_code == 200 and "导入名单" not in li.get("/console/roster").get_data(as_text=True)
    assert li.get("/console/roster?venue=factory1").status_code == 403
    assert wang.get("/console/roster").status_code == 403
    assert _preview(li, _csv(GOOD)).status_code == 403  # importing is an admin's
    admin = hub.client("admin")
    held = _held_token(_preview(admin, _csv(GOOD)).get_data(as_text=True))
    # Another admin's or another venue's confirmation of the held upload is refused.
    hub.store.create_user("zhao", "pass-word-1", "admin")
    zhao = hub.client("zhao")
    assert zhao.post("/console/roster/confirm", data={"csrf_token": token(zhao, "/console/roster"), "venue": "school1",
                                                     "token": held}).status_code == 409
    assert admin.post("/console/roster/confirm", data={"csrf_token": token(admin, "/console/roster"), "venue": "factory1",
                                                      "token": held}).status_code == 409
    assert hub.store.people_count("school1") == 0


def test_the_import_in_a_browser_at_1280_and_390_px(hub_factory, tmp_path) -> None:
    """Upload a file with an error, then a good one, preview and confirm, in Chromium; no page scrolls sideways."""
    from playwright.sync_api import sync_playwright

    from tests.test_console_browser import CHROMIUM
    from tests.test_console_routes import PASSWORD

    hub = Hub(hub_factory, serve=True)
    bad, good = tmp_path / "bad.csv", tmp_path / "good.xlsx"
    bad.write_bytes(_csv(GOOD + [["110105194912310021", "王五" * 20, "员工", "高中部二年级（3）班 · 数学教研组", ""]], "gbk"))
    good.write_bytes(_xlsx(GOOD))
    wide = []

    def check(page, name, width):
        page.screenshot(path=tmp_path / f"roster-{width}-{name}.png", full_page=True)
        scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            wide.append(f"{name} at {width} px: {scroll} px wide")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in (1280, 390):
                page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN")
                page.goto(hub.url + "/console/login")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(hub.url + "/console/")
                page.click("nav a:has-text('名单')")
                page.select_option("select[name=venue]", "school1")  # an admin of every venue: the first is factory1
                page.click("button:has-text('查找')")
                page.set_input_files("input[type=file]", str(bad))
                page.click("button:has-text('检查并预览')")
                assert "1 处错误" in page.inner_text("#roster-preview")
                assert page.locator("button:has-text('确认导入')").count() == 0
                check(page, "errors", width)
                page.set_input_files("input[type=file]", str(good))
                page.click("button:has-text('检查并预览')")
                counts = page.inner_text("#roster-counts")
                assert ("新增 3" in counts) == (width == 1280)  # the second run finds them enrolled: unchanged 3
                check(page, "preview", width)
                box = page.locator("button:has-text('确认导入')").bounding_box()
                if box is None or box["x"] + box["width"] > width:
                    wide.append(f"the confirm button is off-screen at {width} px: {box}")
                page.click("button:has-text('确认导入')")
                assert "已导入" in page.inner_text("#roster-done")
                assert page.locator("#roster-people td:has-text('张*丰')").count() == 1
                check(page, "list", width)
                page.close()
        finally:
            browser.close()
    assert wide == [], "\n".join(wide)
    assert hub.store.people_count("school1") == 3
