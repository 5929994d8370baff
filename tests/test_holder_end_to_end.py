"""A holder's day end to end with real parts (issue 10 item 6): a real hub process, a person enrolled by the roster
import, coloured by the authority's feed, given a link; Debian's Chromium (Playwright) opens the holder page at 390 px,
the travel declaration is made on it, and the page's screenshot is shown to a gate's simulated camera as frames.

The gate admits; the authority turns the person yellow, the page's next refresh shows it and the gate refuses the new
screenshot; the revoked link answers 404; the first screenshot, kept past its pass's expiry (the venue's passes last
one minute here), is refused as expired. Screenshots stay in the test's tmp folder (holder-*.png).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import cv2
import pytest
import requests

from agent.simulation import Simulation
from demo.documents import demo_documents
from demo.processes import Processes, free_port, wait_for_port
from protocols.clock import utc_now
from protocols.trustlist import TrustedKey
from server.store import HubStore
from tests.conftest import wait_until
from tests.test_console_browser import CHROMIUM
from tests.test_integration_passback import CLI, VENUE, gate_config, prepare_hub

pytestmark = pytest.mark.slow  # a hub process, a gate and a browser

ID_NUMBER = "11010519491231002X"  # the GB 11643 example number (valid check digit)
PHONE = {"width": 390, "height": 844}


def checkpoint(*args: str, env: dict[str, str]) -> str:
    """One `checkpoint ...` command as an operator runs it; its output (a failure fails the test with its stderr)."""
    run = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def failed(event) -> set[str]:
    return {r.rule for r in event.reasons if r.outcome == "FAIL"}


def authority_says(tmp_path: Path, db: str, env: dict[str, str], colour: str) -> None:
    """The health authority's feed file for the venue's people, imported as the hub's operator does."""
    feed = tmp_path / f"authority-{colour}.csv"
    since = (utc_now() - dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    feed.write_text(f"身份证号,健康码,赋码时间\n{ID_NUMBER},{colour},{since}\n", encoding="utf-8")
    stored = json.loads(checkpoint("hub", "status", "import", str(feed), "--db", db, "--venue", VENUE,
                                   "--source", "authority", env=env))
    assert stored["stored"] == 1 and stored["unknown_rows"] == []


def shown(page, tmp_path: Path, name: str) -> Any:
    """The holder's screen as the camera sees it: the framed QR with name, colour and clock (a PNG kept)."""
    path = tmp_path / f"holder-{name}.png"
    page.locator("#frame").screenshot(path=str(path))
    return cv2.imread(str(path))


def test_a_holder_page_screenshot_admits_then_follows_the_authority_and_dies_with_its_link(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    db = str(tmp_path / "hub.db")
    env = {**os.environ, "CHECKPOINT_ISSUER_KEYS": str(tmp_path / "issuer-keys")}
    devices = prepare_hub(db)
    store = HubStore(db)
    store.update_venue(VENUE, {"pass_minutes": 1})  # the shortest pass a venue may issue: a screenshot soon stale
    store.close()

    # Enrolment and status, by the operator's commands.
    roster = tmp_path / "roster.csv"
    roster.write_text(f"身份证号,姓名,人员类别,分组\n{ID_NUMBER},张小明,员工,装配一组\n", encoding="utf-8")
    assert "added 1" in checkpoint("hub", "roster", "import", str(roster), "--db", db, "--venue", VENUE, env=env)
    authority_says(tmp_path, db, env, "green")
    entry = TrustedKey.from_json(json.loads(checkpoint("hub", "issuer-key", "--db", db, "--venue", VENUE, env=env)))
    # The venue's root key signs a trust list naming the hub's issuer key, and the venue's bundle.
    keys, documents = demo_documents(tmp_path / "venue-keys", trusted=[entry])
    store = HubStore(db)
    for kind, body in documents.items():
        store.put_document(VENUE, kind, body, "application/json")
    store.close()

    procs = Processes()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sim = None
    try:
        procs.start("hub", [*CLI, "hub", "serve", "--db", db, "--port", str(port)], env=env, quiet=True)
        wait_for_port(port, 30)
        link = checkpoint("hub", "holder-link", "--db", db, "--venue", VENUE, "--id", ID_NUMBER, "--base-url", base,
                          env=env).strip()
        assert link.startswith(base + "/h/")
        sim = Simulation(gate_config(tmp_path, "gate-1", base, devices["gate-1"],
                                     rules={"root_public_key": str(keys.root_public)}), seed=5)
        wait_until(lambda: sim.gate.sync.lease.known and sim.gate.sync.online, 15, "the hub's first answer")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync"])
            page = browser.new_page(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
            passes: list[dict] = []  # every pass the page was given, in order
            page.on("response", lambda r: passes.append(r.json()) if r.url.endswith("/pass") and r.ok else None)

            page.goto(link)
            # Green but never declared: no pass, and the page says why; the holder declares (stayed nowhere else).
            page.wait_for_function("document.getElementById('notice').textContent.includes('申报')")
            page.click("#travel-form button[type=submit]")
            page.wait_for_selector('#frame[data-colour="green"]')
            green = shown(page, tmp_path, "green")
            green_pass = passes[-1]
            assert green_pass["ok"] and green_pass["colour"] == "green"
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll

            admitted = sim.present_image(green)
            assert admitted is not None and admitted.decision == "admit", admitted and admitted.reasons

            authority_says(tmp_path, db, env, "yellow")
            # The page asks for a new pass well before the shown one expires; it shows the yellow one.
            page.wait_for_selector('#frame[data-colour="yellow"]', timeout=60_000)
            yellow = shown(page, tmp_path, "yellow")
            refused = sim.present_image(yellow)
            assert refused is not None and refused.decision == "deny" and refused.colour == "yellow"
            assert "GATE-COLOUR-02" in failed(refused), refused.reasons

            checkpoint("hub", "holder-link", "--db", db, "--venue", VENUE, "--id", ID_NUMBER, "--revoke", env=env)
            assert requests.get(link + "/pass", timeout=10).status_code == 404
            assert page.goto(link).status == 404
            page.screenshot(path=str(tmp_path / "holder-revoked.png"))
            browser.close()
        assert external == []  # the page loads nothing from outside the hub

        # The green screenshot, kept: once its pass expired (by the hub's clock, which the gate keeps) it is refused.
        expires = dt.datetime.fromisoformat(green_pass["expires_at"].replace("Z", "+00:00"))
        wait_until(lambda: utc_now() > expires + dt.timedelta(seconds=2), 90, "the green pass to expire")
        stale = sim.present_image(green)
        assert stale is not None and stale.decision == "deny"
        assert "GATE-CODE-02" in failed(stale), stale.reasons
    finally:
        if sim is not None:
            sim.close()
        procs.stop_all()
