"""Every console page at 1280 and 390 px in a real browser (Debian's Chromium via Playwright): no
horizontal scrolling (document.scrollingElement.scrollWidth <= innerWidth), the visitors' buttons
on screen. Screenshots of each page at each width are kept in the test's tmp folder (width-*.png)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.test_console_browser import CHROMIUM
from tests.test_console_routes import PASSWORD, TZ, Hub, gate_event, local

pytestmark = pytest.mark.slow  # a served hub and a browser

WIDTHS = (1280, 390)


def _pages(hub: Hub, denial: str) -> dict[str, str]:
    """Every console page a signed-in admin reaches, by a short name."""
    day = (dt.datetime.now(TZ) - dt.timedelta(days=1)).date().isoformat()
    return {
        "overview": "/console/", "denials": "/console/denials", "denial": f"/console/denials/{denial}",
        "visitors": "/console/visitors", "reports": f"/console/reports?venue=school1&day={day}",
        "audit": "/console/audit", "venues": "/console/venues",
        "reclaim": "/console/venues/school1/gates/north/reclaim", "error": "/console/denials/nothing-here",
    }


def test_every_console_page_fits_1280_and_390_px_without_horizontal_scrolling(hub_factory, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    hub = Hub(hub_factory, serve=True)
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    long_reason = gate_event("school1", "north", local(day, 7, 40), decision="deny", celsius=37.9, name="李*强",
                             failed=("GATE-TEMP-01", "GATE-CODE-01", "GATE-COLOUR-01", "GATE-TRAVEL-01"))
    hub.store.ingest([long_reason, gate_event("school1", "south", local(day, 7, 45), decision="refer", name="陈*")])
    start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    hub.store.create_visit("school1", "王*华", "V-PASS-0042", "赵老师", "家长会", start.isoformat(),
                           (start + dt.timedelta(hours=2)).isoformat(), "admin")
    hub.store.add_audit("admin", "denials.list", "venue=school1&rule=GATE-TEMP-01&since=2026-03-02T08:00", "school1")
    wide = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN")
                page.goto(hub.url + "/console/login")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(hub.url + "/console/")
                for name, path in _pages(hub, long_reason.id).items():
                    page.goto(hub.url + path)
                    page.screenshot(path=tmp_path / f"width-{width}-{name}.png", full_page=True)
                    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
                    if scroll > inner:
                        wide.append(f"{name} at {width} px: {scroll} px wide")
                    if name == "visitors":  # the approve / refuse buttons a supervisor must reach
                        for button in ("批准", "拒绝"):
                            box = page.locator(f"main button:has-text('{button}')").first.bounding_box()
                            if box is None or box["x"] < 0 or box["x"] + box["width"] > inner:
                                wide.append(f"visitors at {width} px: the {button} button is off-screen ({box})")
                page.close()
        finally:
            browser.close()
    assert wide == [], "\n".join(wide)
