"""Every console page at 1280 and 390 px in a real browser (Debian's Chromium via Playwright): no
horizontal scrolling (document.scrollingElement.scrollWidth <= innerWidth), the visitors' buttons
and the fleet's command buttons on screen. Screenshots of each page at each width are kept in the
test's tmp folder (width-*.png). Every page the console routes is listed here (a test says which is missing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.test_console_browser import CHROMIUM
from tests.test_console_routes import PASSWORD, TZ, Hub, gate_event, local

pytestmark = pytest.mark.slow  # a served hub and a browser

WIDTHS = (1280, 390)


# Console GET routes that are no page a person reads (data, fragments, files, the stylesheet).
NOT_PAGES = {"console.static", "console.command_json", "console.overview_live", "console.report_download",
             "console.alert_stream", "console.trace_download", "console.report_pdf_download",
             "console.controls_index"}  # a redirect to the user's venue's controls page


def _pages(hub: Hub, denial: str, command: str) -> dict[str, str]:
    """Every console page a signed-in admin reaches, by a short name."""
    day = (dt.datetime.now(TZ) - dt.timedelta(days=1)).date().isoformat()
    return {
        "overview": "/console/", "denials": "/console/denials", "denial": f"/console/denials/{denial}",
        "visitors": "/console/visitors", "reports": f"/console/reports?venue=school1&day={day}",
        "audit": "/console/audit", "venues": "/console/venues",
        "reclaim": "/console/venues/school1/gates/north/reclaim", "error": "/console/denials/nothing-here",
        "fleet": "/console/fleet", "command": f"/console/commands/{command}", "alerts": "/console/alerts",
        "goods": "/console/goods?batch=B1", "trace": f"/console/trace?event={denial}",
        "status": "/console/status", "person-status": f"/console/status/school1/{_enrolled(hub)}",
        "roster": "/console/roster?venue=school1",
        "controls": "/console/venues/school1/controls",
        "preview": f"/console/venues/school1/previews/{_preview(hub)}",
    }


def _preview(hub: Hub) -> str:
    """A bundle preview two gates answered, with changed decisions naming many rules (the widest row)."""
    from protocols.topics import ReplayChange, ReplayResult

    version = "school-gate-1.2.0-20261203T020000Z-1a2b3c4d"
    preview = hub.store.create_preview("school1", version, b"{}", "admin", ["north", "south"])
    rules = ["GATE-CLASS-01", "GATE-TEST-01", "GATE-TRAVEL-01", "GATE-TEMP-01", "GATE-CLOSED-01"]
    for row, changed in zip(hub.store.preview_replies(preview), (3, 0)):
        result = ReplayResult(bundle=version, since="2026-12-02T02:00:00Z", replayed=412, changed=changed, skipped=1,
                              changes=[ReplayChange(at=f"2026-12-02T0{i}:15:00Z", was="admit", now="deny", rules=rules)
                                       for i in range(changed)])
        hub.store.mark_command_sent(row["id"])
        hub.store.answer_command("school1", row["gate"], row["id"], True, result.model_dump_json())
    return preview


def _enrolled(hub: Hub) -> str:
    """The subject of an enrolled person of school1 with a status from each feed (the person's status page)."""
    from server.store_people import PersonRecord, StatusRecord

    id_hash = hub.store.id_hash("110105199003070017")
    # With the roster page's widest row beside: a long group name, every column filled.
    hub.store.apply_roster("school1", [PersonRecord(id_hash, "张*明", "staff", "一年级二班"), PersonRecord(
        hub.store.id_hash("11010519491231002X"), "欧*娜", "teacher", "高中部二年级（3）班 · 数学教研组", "138****5678")],
        by_user="test")
    hub.store.add_statuses("school1", "authority", [StatusRecord(id_hash, 1, colour="green",
                                                                 colour_since="2026-11-20T00:00:00Z")], by_user="test")
    hub.store.add_statuses("school1", "lab", [StatusRecord(id_hash, 1, test_at="2026-12-02T00:00:00Z",
                                                           test_result="negative")], by_user="test")
    return hub.store.person("school1", id_hash=id_hash)["subject"]


def test_every_console_page_is_in_the_width_test(hub_factory) -> None:
    hub = Hub(hub_factory)
    routed = {rule.endpoint for rule in hub.app.url_map.iter_rules()
              if rule.endpoint.startswith("console.") and "GET" in rule.methods}
    listed = {"console.overview", "console.denials", "console.denial", "console.visitors", "console.reports",
              "console.audit_page", "console.venue_settings", "console.reclaim_page", "console.fleet",
              "console.command_page", "console.login", "console.alerts_page", "console.goods_trace",
              "console.trace_page", "console.status_page", "console.person_status", "console.roster_page",
              "console.controls_page", "console.preview_page"}
    assert routed - NOT_PAGES - listed == set(), "add these pages to _pages() and to `listed`"


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
    # The fleet's widest rows: every figure present, a command with a long reason answered by the gate.
    hub.store.save_gate_figures("school1", "north", {"people_per_min": 118.0, "decision_p95_ms": 1834.2,
                                                      "outbox": 12345, "clock_offset_s": -3725.5,
                                                      "thermometer_median_c": 36.4})
    command = hub.store.create_command("school1", "north", "open", "admin", "家长会结束后接孩子的家长较多，开闸一次以便疏散",
                                       long_reason.id)
    hub.store.answer_command("school1", "north", command, True, "01JDQ5B1X3ABCDEFGHJKMNPQRS")
    fresh = hub_factory(folder=tmp_path / "fresh", serve=True)  # a hub without venues: says how to add one
    fresh.store.create_user("admin", PASSWORD, "admin")
    wide = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800}, locale="zh-CN")
                for name, base in (("login", hub.url), ("fresh-overview", fresh.url)):
                    page.goto(base + "/console/login")
                    if name == "fresh-overview":
                        page.fill("input[name=username]", "admin")
                        page.fill("input[name=password]", PASSWORD)
                        page.click("button[type=submit]")
                        page.wait_for_url(base + "/console/")
                        assert page.locator("#no-venues").count() == 1
                    page.screenshot(path=tmp_path / f"width-{width}-{name}.png", full_page=True)
                    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
                    if scroll > inner:
                        wide.append(f"{name} at {width} px: {scroll} px wide")
                page.goto(hub.url + "/console/login")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(hub.url + "/console/")
                for name, path in _pages(hub, long_reason.id, command).items():
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
                    if name == "fleet":  # the commands a supervisor sends from a phone
                        for button in ("开闸一次", "重新加载文件"):
                            box = page.locator(f"main button:has-text('{button}')").first.bounding_box()
                            if box is None or box["x"] < 0 or box["x"] + box["width"] > inner:
                                wide.append(f"fleet at {width} px: the {button} button is off-screen ({box})")
                    if name == "overview":  # the charts fit their card
                        rights = page.locator("svg.chart").evaluate_all("e => e.map(s => s.getBoundingClientRect().right)")
                        wide += [f"overview at {width} px: a chart ends at {r} px" for r in rights if r > inner]
                page.close()
        finally:
            browser.close()
    assert wide == [], "\n".join(wide)
