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
from protocols.events import subject_hash
from protocols.trustlist import TrustedKey
from server.store import HubStore
from tests.conftest import wait_until
from tests.test_console_browser import CHROMIUM
from tests.test_integration_passback import CLI, VENUE, gate_config, prepare_hub

pytestmark = pytest.mark.slow  # a hub process, a gate and a browser

ID_NUMBER = "11010519491231002X"  # the GB 11643 example number (valid check digit)
PHONE = {"width": 390, "height": 844}
HOLD_S = 3.0  # a holder holds the phone up steadily; on a loaded machine the gate's loop may need the frames


def checkpoint(*args: str, env: dict[str, str]) -> str:
    """One `checkpoint ...` command as an operator runs it; its output (a failure fails the test with its stderr)."""
    run = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def failed(event) -> set[str]:
    return {r.rule for r in event.reasons if r.outcome == "FAIL"}


def authority_says(tmp_path: Path, db: str, env: dict[str, str], colour: str, who: list[str] = [ID_NUMBER]) -> None:
    """The health authority's feed file giving these people a colour, imported as the hub's operator does."""
    feed = tmp_path / f"authority-{colour}.csv"
    since = (utc_now() - dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    feed.write_text("身份证号,健康码,赋码时间\n" + "".join(f"{n},{colour},{since}\n" for n in who), encoding="utf-8")
    stored = json.loads(checkpoint("hub", "status", "import", str(feed), "--db", db, "--venue", VENUE,
                                   "--source", "authority", env=env))
    assert stored["stored"] == len(who) and stored["unknown_rows"] == []


def shown(page, tmp_path: Path, name: str) -> Any:
    """The holder's screen as the camera sees it: the framed QR with name, colour and clock (a PNG kept)."""
    path = tmp_path / f"holder-{name}.png"
    page.locator("#frame").screenshot(path=str(path))
    return cv2.imread(str(path))


def venue_with_people(tmp_path: Path, people: dict[str, str], pass_minutes: int = 5) -> tuple[str, dict[str, str], Any, Any]:
    """The venue of campus-2's gates, `people` (ID number -> colour) enrolled by the roster import and coloured by the
    authority's feed, its trust list naming the hub's issuer key; the database, the commands' environment, the gates'
    devices and the venue's keys."""
    db = str(tmp_path / "hub.db")
    env = {**os.environ, "CHECKPOINT_ISSUER_KEYS": str(tmp_path / "issuer-keys")}
    devices = prepare_hub(db)
    store = HubStore(db)
    store.update_venue(VENUE, {"pass_minutes": pass_minutes})
    store.close()
    roster = tmp_path / "roster.csv"
    roster.write_text("身份证号,姓名,人员类别,分组\n" + "".join(f"{n},张小明,员工,装配一组\n" for n in people), encoding="utf-8")
    assert f"added {len(people)}" in checkpoint("hub", "roster", "import", str(roster), "--db", db, "--venue", VENUE,
                                                env=env)
    for colour in sorted(set(people.values())):
        authority_says(tmp_path, db, env, colour, [n for n, c in people.items() if c == colour])
    entry = TrustedKey.from_json(json.loads(checkpoint("hub", "issuer-key", "--db", db, "--venue", VENUE, env=env)))
    # The venue's root key signs a trust list naming the hub's issuer key, and the venue's bundle.
    keys, documents = demo_documents(tmp_path / "venue-keys", trusted=[entry])
    store = HubStore(db)
    for kind, body in documents.items():
        store.put_document(VENUE, kind, body, "application/json")
    store.close()
    return db, env, devices, keys


def test_a_holder_page_screenshot_admits_then_follows_the_authority_and_dies_with_its_link(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    # The shortest pass a venue may issue (one minute): a kept screenshot is soon stale.
    db, env, devices, keys = venue_with_people(tmp_path, {ID_NUMBER: "green"}, pass_minutes=1)
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
            # A locator, not wait_for_function: the page's CSP (no unsafe-eval) refuses a string predicate.
            page.locator("#notice", has_text="申报").wait_for()
            page.click("#travel-form button[type=submit]")
            page.wait_for_selector('#frame[data-colour="green"]', timeout=60_000)
            green = shown(page, tmp_path, "green")
            green_pass = passes[-1]
            assert green_pass["ok"] and green_pass["colour"] == "green"
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll

            admitted = sim.present_image(green, seconds=HOLD_S)
            assert admitted is not None and admitted.decision == "admit", admitted and admitted.reasons

            authority_says(tmp_path, db, env, "yellow")
            # The page asks for a new pass well before the shown one expires; it shows the yellow one.
            page.wait_for_selector('#frame[data-colour="yellow"]', timeout=60_000)
            yellow = shown(page, tmp_path, "yellow")
            refused = sim.present_image(yellow, seconds=HOLD_S)
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
        stale = sim.present_image(green, seconds=HOLD_S)
        assert stale is not None and stale.decision == "deny"
        assert "GATE-CODE-02" in failed(stale), stale.reasons
    finally:
        if sim is not None:
            sim.close()
        procs.stop_all()


def test_simulated_people_show_the_passes_their_holder_pages_give(tmp_path: Path) -> None:
    other = "110105194912310038"
    db, env, devices, keys = venue_with_people(tmp_path, {ID_NUMBER: "green", other: "yellow"})
    procs = Processes()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sim = None
    events = []
    try:
        procs.start("hub", [*CLI, "hub", "serve", "--db", db, "--port", str(port)], env=env, quiet=True)
        wait_for_port(port, 30)
        links = []
        for number in (ID_NUMBER, other):
            link = checkpoint("hub", "holder-link", "--db", db, "--venue", VENUE, "--id", number, "--base-url", base,
                              env=env).strip()
            # Each holder declares on their page that they stayed nowhere else.
            assert requests.post(link + "/declaration", json={"stays": []}, timeout=10).ok
            links.append(link)
        holders = tmp_path / "holders.txt"
        holders.write_text("# the demo's holders\n" + "\n".join(links) + "\n", encoding="utf-8")
        sim = Simulation(gate_config(tmp_path, "gate-1", base, devices["gate-1"],
                                     rules={"root_public_key": str(keys.root_public)}),
                         seed=2, holders=holders, on_event=events.append)
        wait_until(lambda: sim.gate.sync.lease.known and sim.gate.sync.online, 15, "the hub's first answer")
        sim.run(4, pace=0.1, kinds=("green",))
    finally:
        if sim is not None:
            sim.close()
        procs.stop_all()
    hub = HubStore(db)
    subjects = {hub.person(VENUE, id_hash=hub.id_hash(n))["subject"]: n for n in (ID_NUMBER, other)}
    hub.close()
    by_hash = {subject_hash(sim.cfg.subject_key, s): n for s, n in subjects.items()}
    seen = [(by_hash.get(e.subject), e.decision, e.colour) for e in events]
    # The green holder enters once (then is inside: the gate brings only people who are outside); the yellow one is
    # refused every time; nobody else comes, since a holder can always walk up.
    assert (ID_NUMBER, "admit", "green") in seen and seen.count((ID_NUMBER, "admit", "green")) == 1, seen
    assert (other, "deny", "yellow") in seen and {n for n, _, _ in seen} == {ID_NUMBER, other}, seen
    assert all("GATE-APB-01" not in failed(e) for e in events)
