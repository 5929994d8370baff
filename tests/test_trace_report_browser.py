"""The contact trace and the daily report in a real browser (Debian's Chromium via Playwright) at 1280 and 390 px:
started from a denial's page, the window changed, no sideways scrolling, the report's PDF downloaded. Screenshots
of each page at each width are kept in the test's tmp folder (trace-<px>.png, report-<px>.png)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.test_console_browser import CHROMIUM
from tests.test_console_routes import PASSWORD, TZ, Hub, gate_event, local

pytestmark = pytest.mark.slow  # a served hub and a browser

WIDTHS = (1280, 390)


def fits(page) -> bool:
    """No horizontal scrolling."""
    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return scroll <= inner


def test_a_supervisor_traces_a_fever_and_downloads_the_days_report_at_both_widths(hub_factory, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    hub = Hub(hub_factory, serve=True)
    for gate, direction in (("in1", "in"), ("out1", "out")):
        hub.store.create_gate("school1", gate, direction=direction)
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    fever = gate_event("school1", "in1", local(day, 9), subject="f" * 32, name="王*明", decision="deny", kind="fever",
                       failed=("GATE-TEMP-01",), celsius=38.4)

    def stay(letter: str, name: str, start: tuple[int, int], end: tuple[int, int]):
        subject = letter * 32
        return [gate_event("school1", "in1", local(day, *start), subject=subject, name=name, person_class="teacher"),
                gate_event("school1", "out1", local(day, *end), subject=subject, name=name, direction="out",
                           kind="exit", decision=None)]

    hub.store.ingest([fever, *stay("a", "李*强", (8, 0), (8, 40)), *stay("b", "陈*", (8, 50), (17, 30)),
                      *stay("c", "欧阳*华", (10, 0), (10, 20))])  # c only within a 60-minute window
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN", accept_downloads=True)
                page.goto(hub.url + "/console/login")
                page.fill("input[name=username]", "li")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(hub.url + "/console/")
                page.goto(hub.url + f"/console/denials/{fever.id}")
                page.click("a:has-text('追踪接触')")
                page.wait_for_url(f"**/console/trace?event={fever.id}")
                assert page.locator("#contact-count").inner_text() == "2"
                assert page.locator("#contacts").get_by_text("李*强").count() == 1
                page.select_option("select[name=window]", "60")
                page.click("form.filters button[type=submit]")
                page.wait_for_url("**window=60**")
                assert page.locator("#contact-count").inner_text() == "3"
                assert page.locator("#contacts").get_by_text("欧阳*华").is_visible()
                page.screenshot(path=tmp_path / f"trace-{width}.png", full_page=True)
                assert fits(page), f"the trace page scrolls sideways at {width} px"
                with page.expect_download() as csv_download:
                    page.click("a:has-text('下载 CSV')")
                assert "欧阳*华" in Path(csv_download.value.path()).read_text(encoding="utf-8-sig")

                page.goto(hub.url + f"/console/reports?venue=school1&day={day}")
                assert page.locator("#fevers").get_by_text("in1").count() == 1
                assert page.locator("#gates").get_by_text("out1").count() == 1
                page.screenshot(path=tmp_path / f"report-{width}.png", full_page=True)
                assert fits(page), f"the report page scrolls sideways at {width} px"
                with page.expect_download() as pdf_download:
                    page.click("a:has-text('下载 PDF')")
                assert Path(pdf_download.value.path()).read_bytes().startswith(b"%PDF-")
                page.close()
        finally:
            browser.close()
    assert {f.name for f in tmp_path.glob("*.png")} == {f"{p}-{w}.png" for p in ("trace", "report") for w in WIDTHS}
