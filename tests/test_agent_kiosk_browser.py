"""The kiosk page in a real browser (Debian's Chromium through Playwright): it renders what the gate decides,
counts back to the prompt, and a guard can record a manual decision."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import sync_playwright

from tests.agent_gate_helpers import start_simulation

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1024, "height": 600})
        yield page
        browser.close()


def test_the_page_shows_the_decision_in_both_languages_and_returns_to_the_prompt(tmp_path, page):
    sim = start_simulation(tmp_path, kiosk={"countdown_s": 1.5})
    try:
        page.goto(sim.kiosk_url)
        page.wait_for_function("document.getElementById('title-zh').textContent === '请出示健康码'")
        assert page.locator("#title-en").text_content() == "Please show your code"
        event = sim.present(sim.factory.person("red"))
        page.wait_for_function("document.body.className === 'deny'", timeout=5000)
        assert page.locator("#title-zh").text_content() == "禁止通行"
        reasons = page.locator("#reasons li").all_text_contents()
        assert any("红码" in r and "Red code" in r for r in reasons)
        assert event.name in page.locator("#who").text_content()
        page.wait_for_function("document.body.className === 'idle'", timeout=5000)

        page.click("#guard-open")
        page.fill("#guard-operator", "G9")
        page.fill("#guard-pin", "2468")
        page.fill("#guard-reason", "送货司机已登记 courier registered by hand")
        page.click("#guard-admit")
        manual = sim.events.get(timeout=5)
        assert (manual.kind, manual.decision, manual.operator) == ("manual", "admit", "G9")
        page.wait_for_function("document.getElementById('guard-status').textContent.includes('Recorded')", timeout=5000)
        page.wait_for_function("document.body.className === 'admit'", timeout=5000)
        assert page.locator("#title-zh").text_content() == "人工放行"
    finally:
        sim.close()


def test_a_first_high_reading_shows_the_amber_rest_screen_with_the_reading_and_a_countdown(tmp_path, page):
    sim = start_simulation(tmp_path, measure={"rest_s": 8.0})
    try:
        page.goto(sim.kiosk_url)
        page.wait_for_function("document.getElementById('title-zh').textContent === '请出示健康码'")
        event = sim.present(sim.factory.person("fever"))
        assert event.decision == "deny" and event.celsius == 38.2
        page.wait_for_function("document.body.className === 'remeasure'", timeout=5000)
        assert page.locator("#title-zh").text_content() == "请稍候复测"
        assert page.locator("#title-en").text_content() == "Please rest, then measure again"
        assert "38.2 °C" in page.locator("#who").text_content()
        assert "秒" in page.locator("#countdown").text_content()
        # Amber, not the refusal's red (after the page's short colour transition).
        page.wait_for_function("getComputedStyle(document.body).backgroundColor === 'rgb(240, 162, 2)'", timeout=3000)
    finally:
        sim.close()


def test_a_full_venue_shows_amber_please_wait_not_the_red_refusal(tmp_path, page):
    from demo.processes import free_port

    # A syncing gate that has never heard from its hub holds no places: the venue may be full.
    sim = start_simulation(tmp_path, sync={"hub_url": f"http://127.0.0.1:{free_port()}", "device_id": "d1",
                                           "interval_s": 0.2}, kiosk={"countdown_s": 3.0})
    try:
        page.goto(sim.kiosk_url)
        page.wait_for_function("document.getElementById('title-zh').textContent === '请出示健康码'")
        event = sim.present(sim.factory.person("green"))
        assert event.decision == "deny" and [r.rule for r in event.reasons] == ["GATE-CAP-01"]
        page.wait_for_function("document.body.className === 'wait'", timeout=5000)
        assert (page.locator("#title-zh").text_content(), page.locator("#title-en").text_content()) == (
            "请稍候", "Please wait")
        assert any("场所已满" in r and "please wait" in r for r in page.locator("#reasons li").all_text_contents())
        page.wait_for_function("getComputedStyle(document.body).backgroundColor === 'rgb(240, 162, 2)'", timeout=3000)
    finally:
        sim.close()
