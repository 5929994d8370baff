"""每日管控 · Daily controls in a real browser (Debian's Chromium via Playwright) at 1280 and 390 px: a supervisor
turns closed management on and moves the fever threshold (and sees the value in force), is refused a value
out of range naming the field, imports a risk-area list, uploads a candidate bundle and confirms it on the
preview page. Every page fits its width (no sideways scrolling) with its buttons on screen. Screenshots go
to the test's tmp folder (controls-<px>-*.png)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols.bundle import build_bundle, sign_bundle
from protocols.keys import generate_private_key, save_private_key
from protocols.rules import load_pack
from tests.test_console_browser import CHROMIUM
from tests.test_console_routes import PASSWORD, Hub

pytestmark = pytest.mark.slow  # a served hub and a browser

AREAS = ("省份,城市,区县,风险等级,起始时间,截止时间\n北京市,北京市,朝阳区,高风险,2026-12-01,\n"
         "广东省,深圳市,南山区,中风险,2026-12-02 08:00,2026-12-20\n")


def _fits(page, width: int, *buttons: str) -> None:
    """No sideways scrolling, and each button inside the viewport's width."""
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    for selector in buttons:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


@pytest.mark.parametrize("width", (1280, 390))
def test_a_supervisor_sets_the_days_controls_imports_areas_and_publishes_a_previewed_bundle(
        hub_factory, tmp_path: Path, monkeypatch, width: int) -> None:
    from playwright.sync_api import sync_playwright

    key = generate_private_key()
    save_private_key(key, tmp_path / "schedule-key.pem")
    monkeypatch.setenv("CHECKPOINT_SCHEDULE_KEY", str(tmp_path / "schedule-key.pem"))
    hub = Hub(hub_factory, serve=True)
    root = generate_private_key()
    hub.store.put_document("school1", "bundle", json.dumps(sign_bundle(build_bundle(load_pack("school-gate")), root)).encode(),
                           "application/json")
    (tmp_path / "areas.csv").write_text(AREAS, encoding="utf-8")
    candidate = build_bundle(load_pack("school-gate"), {"testMaxHours": 72})
    (tmp_path / "candidate.json").write_text(json.dumps(sign_bundle(candidate, root)))
    shot = lambda page, name: page.screenshot(path=tmp_path / f"controls-{width}-{name}.png", full_page=True)  # noqa: E731

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
        try:
            page.goto(hub.url + "/console/controls")
            page.fill("input[name=username]", "li")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/venues/school1/controls")
            assert page.inner_text("#feverDeci-in-force") == "37.3"
            _fits(page, width, "#save-controls", "#import-areas", "#preview-bundle")
            shot(page, "page")

            page.select_option("#mode", "closed")
            page.fill("#feverDeci", "37.5")
            page.click("#save-controls")
            page.wait_for_selector("#saved")
            assert page.inner_text("#feverDeci-in-force") == "37.5"
            assert page.get_attribute("#mode-in-force", "data-mode") == "closed"
            assert "开启" in page.inner_text("#mode-in-force")
            assert page.input_value("#feverDeci") == "37.5"
            _fits(page, width, "#save-controls")
            assert hub.audit()[0]["target"] == "feverDeci -→375; mode None→closed"

            page.fill("#feverDeci", "38.5")
            page.click("#save-controls")
            page.wait_for_load_state()
            text = page.inner_text("main")
            assert "发热阈值" in text and "feverDeci" in text and "37.0-38.0" in text
            _fits(page, width)
            shot(page, "refused")
            page.go_back()

            page.set_input_files("#areas-file", str(tmp_path / "areas.csv"))
            page.click("#import-areas")
            page.wait_for_selector("#imported")
            rows = page.locator("#areas tr:has(td)")
            assert rows.count() == 2 and "朝阳区" in rows.first.inner_text()
            _fits(page, width, "#import-areas")
            shot(page, "areas")

            page.set_input_files("#bundle-file", str(tmp_path / "candidate.json"))
            page.click("#preview-bundle")
            page.wait_for_url("**/previews/*")
            assert candidate.version in page.inner_text("main")
            assert page.locator('#replies tr[data-state="offline"]').count() == 2  # no gate online: none replayed
            _fits(page, width, "#confirm-publish")
            shot(page, "preview")
            page.click("#confirm-publish")
            page.wait_for_selector("#published")
            _fits(page, width)
            shot(page, "published")
            assert hub.audit()[0]["action"] == "bundle.publish"
        finally:
            browser.close()
