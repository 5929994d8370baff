"""The console in a real browser (Debian's Chromium via Playwright) against the hub served on a
free port: log in, filter denials by rule, open one, mark it reviewed, approve a visitor, file
the daily report. Screenshots go to the test's own tmp folder (console-*.png)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.test_console_routes import PASSWORD, TZ, Hub, gate_event, local

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def served(hub_factory) -> tuple[Hub, str]:
    hub = Hub(hub_factory, serve=True)
    return hub, hub.url


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = browser.new_page(viewport={"width": 1180, "height": 820}, locale="zh-CN")
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)
        yield page
        browser.close()
        assert external == []  # nothing loads from anywhere else


def test_a_supervisor_reviews_a_denial_approves_a_visitor_and_files_the_report(served, page, tmp_path: Path) -> None:
    hub, base = served
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    hub.store.ingest([
        gate_event("school1", "north", local(day, 7, 40), decision="deny", failed=("GATE-TEMP-01",), celsius=37.9,
                   name="李*强"),
        gate_event("school1", "north", local(day, 7, 45), decision="deny", failed=("GATE-CODE-01",), name="陈*"),
        gate_event("school1", "south", local(day, 7, 50)),
    ])
    page.goto(base + "/console/denials")
    page.fill("input[name=username]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/console/denials")

    page.fill("input[name=rule]", "GATE-TEMP-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**rule=GATE-TEMP-01**")
    rows = page.locator("table tr:has(td a)")
    assert rows.count() == 1 and "李*强" in rows.first.inner_text() and "陈*" not in page.content()
    page.screenshot(path=tmp_path / "console-denials.png", full_page=True)

    rows.first.locator("a").click()
    page.wait_for_url("**/console/denials/*")
    assert "37.9 °C" in page.content()
    page.fill("textarea[name=note]", "复测 36.8，已通知家长")
    page.click("text=标记为已复核")
    page.wait_for_selector("text=已由 li")
    page.screenshot(path=tmp_path / "console-denial.png", full_page=True)

    page.click("header >> text=访客")
    starts = dt.datetime.now(TZ).replace(second=0, microsecond=0) + dt.timedelta(hours=1)
    page.fill("input[name=name]", "王*华")
    page.fill("input[name=subject]", "V-PASS-0042")
    page.fill("input[name=host]", "赵老师")
    page.fill("input[name=purpose]", "家长会")
    page.fill("input[name=starts_at]", starts.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", (starts + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.click("text=登记申请")
    page.wait_for_selector("text=待审批")
    page.click("button:has-text('批准')")
    page.wait_for_selector("text=已批准")
    page.screenshot(path=tmp_path / "console-visitors.png", full_page=True)
    appointments = json.loads(hub.store.document("school1", "appointments")["body"])
    assert [(a["subject"], a["approvedBy"]) for a in appointments] == [("V-PASS-0042", "li")]

    page.click("header >> text=日报告")
    page.wait_for_selector("text=按规则统计的拒绝")
    assert page.locator(".stat:has-text('进入') b").inner_text() == "1"
    page.click("button:has-text('填报日报告')")
    page.wait_for_selector("text=已填报")
    page.screenshot(path=tmp_path / "console-report.png", full_page=True)
    assert hub.store.filed_report("school1", day.isoformat())["filed_by"] == "li"

    page.click("header >> text=总览")
    page.screenshot(path=tmp_path / "console-overview.png", full_page=True)
    page.set_viewport_size({"width": 800, "height": 1280})  # a tablet held upright
    page.goto(base + "/console/denials")
    page.screenshot(path=tmp_path / "console-tablet.png", full_page=True)
    assert {(a["action"]) for a in hub.audit()} >= {"login", "denials.list", "denial.view", "denial.review",
                                                    "visit.create", "visit.approve", "report.file"}


def test_a_supervisor_reclaims_the_places_of_a_silent_gate_after_reading_the_risk(served, page, tmp_path: Path) -> None:
    from tests.conftest import wait_until

    hub, base = served
    hub.store.update_venue("school1", {"lease_reclaim_after_s": 1})
    hub.store.lease("school1", "north", want=5)  # north is lent 5 places, then goes silent
    page.goto(base + "/console/")
    page.fill("input[name=username]", "li")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/console/")
    assert page.locator("td.lent[data-gate=north]").inner_text().startswith("5")
    assert wait_until(lambda: hub.store.lent_places("school1")[0].reclaimable, 10, "north silent for 1 s")
    page.reload()
    page.click("td.lent[data-gate=north] >> text=收回")
    page.wait_for_url("**/gates/north/reclaim")
    risk = page.locator("#overfill-risk").inner_text()
    assert "超出上限 5" in risk and "exceed its cap by up to 5" in risk
    page.screenshot(path=tmp_path / "console-reclaim.png", full_page=True)
    page.click("#confirm-reclaim")
    page.wait_for_url(base + "/console/")
    assert page.locator("td.lent[data-gate=north]").inner_text().strip() == "0"
    assert ("li", "lease.reclaim", "north: 5") in [(a["username"], a["action"], a["target"]) for a in hub.audit()]
