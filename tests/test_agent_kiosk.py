"""The kiosk page: served by the agent, pushed by Server-Sent Events, guard mode behind a PIN."""

from __future__ import annotations

import json

import pytest
import requests

from hardware.display import kiosk as kiosk_module
from tests.agent_gate_helpers import start_simulation
from tests.conftest import wait_until


@pytest.fixture
def sim(tmp_path):
    s = start_simulation(tmp_path)
    yield s
    s.close()


def post_guard(url: str, **body):
    return requests.post(url + "guard", data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=5)


@pytest.mark.slow
def test_the_page_and_its_assets_are_served_and_nothing_else(sim):
    url = sim.kiosk_url
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "请出示健康码" in page.text and "Please show your code" in page.text
    assert requests.get(url + "kiosk.js", timeout=5).headers["Content-Type"].startswith("text/javascript")
    assert requests.get(url + "kiosk.css", timeout=5).status_code == 200
    for bad in ("../agent/config.py", "..%2Fconfig.py", "kiosk.py", "nope.html"):
        assert requests.get(url + bad, timeout=5).status_code == 404


@pytest.mark.slow
def test_state_and_the_event_stream_show_the_decision(sim):
    url = sim.kiosk_url
    stream = requests.get(url + "events", stream=True, timeout=10)
    lines = stream.iter_lines(chunk_size=1, decode_unicode=True)
    first = next(line for line in lines if line.startswith("data: "))
    assert json.loads(first[6:])["state"] == "idle"
    event = sim.present(sim.factory.person("red"))
    shown = None
    for line in lines:
        if line.startswith("data: "):
            shown = json.loads(line[6:])
            if shown["event_id"] == event.id:
                break
    stream.close()
    assert shown["state"] == "deny" and shown["title"] == {"zh": "禁止通行", "en": "Entry refused"}
    assert any("红码" in r["zh"] and "Red code" in r["en"] for r in shown["reasons"])
    wait_until(lambda: requests.get(url + "state", timeout=5).json()["state"] == "idle", what="the countdown back to idle")


@pytest.mark.slow
def test_guard_records_a_manual_decision_with_a_pin(sim):
    url = sim.kiosk_url
    answer = post_guard(url, pin="0000", decision="admit", reason="无手机的老人 elderly, no phone", operator="G7")
    assert answer.status_code == 403 and answer.json()["message"]["en"] == "Wrong PIN"
    assert post_guard(url, pin="2468", decision="maybe", reason="x", operator="G7").status_code == 400
    assert post_guard(url, pin="2468", decision="admit", reason="  ", operator="G7").status_code == 400
    answer = post_guard(url, pin="2468", decision="admit", reason="无手机的老人 elderly, no phone", operator="G7")
    assert answer.status_code == 202
    event = sim.events.get(timeout=5)
    assert (event.kind, event.decision, event.operator) == ("manual", "admit", "G7")
    assert event.note == "无手机的老人 elderly, no phone"
    assert sim.gate.store.event(event.id) == event
    wait_until(lambda: "open" in sim.gate.devices.barrier.states(), what="the barrier to open")
    assert requests.post(url + "guard", data=b"[1,2", timeout=5).status_code == 400


@pytest.mark.slow
def test_guard_mode_locks_after_repeated_wrong_pins_and_the_gate_records_an_alarm(sim, monkeypatch):
    url = sim.kiosk_url
    for _ in range(kiosk_module.MAX_PIN_FAILURES - 1):
        assert post_guard(url, pin="1111", decision="deny", reason="x", operator="G1").status_code == 403
    last = post_guard(url, pin="1111", decision="deny", reason="x", operator="G1")
    assert last.status_code == 429 and last.json()["locked_s"] == kiosk_module.LOCKOUT_S
    locked = post_guard(url, pin="2468", decision="deny", reason="x", operator="G1")  # even the right PIN
    assert locked.status_code == 429 and "已锁定" in locked.json()["message"]["zh"]
    alarm = sim.events.get(timeout=5)  # what the agent hands to its sync, so the hub receives it
    assert alarm.kind == "alarm" and [r.rule for r in alarm.reasons] == ["GATE-PIN-01"]
    assert [e.kind for e in sim.gate.store.events()] == ["alarm"]  # no decision was made


class Clock:
    """A monotonic clock the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_lockout_doubles_through_the_kiosk_endpoint_and_a_right_pin_resets_it() -> None:
    from hardware.display.kiosk import LOCKOUT_S, MAX_LOCKOUT_S, MAX_PIN_FAILURES, KioskDisplay

    clock, lockouts, decisions = Clock(), [], []
    kiosk = KioskDisplay(port=0, guard_pin="2468", on_guard=lambda *a: decisions.append(a),
                         on_lockout=lambda n, s: lockouts.append((n, s)), clock=clock)
    kiosk.open()
    try:
        def wrong_run() -> requests.Response:
            for _ in range(MAX_PIN_FAILURES - 1):
                assert post_guard(kiosk.url, pin="0000").status_code == 403
            return post_guard(kiosk.url, pin="0000")

        for n in range(1, 4):
            answer = wrong_run()
            assert answer.status_code == 429 and answer.json()["locked_s"] == LOCKOUT_S * 2 ** (n - 1)
            clock.now += LOCKOUT_S * 2 ** (n - 1) - 30
            still = post_guard(kiosk.url, pin="2468", decision="admit", reason="x", operator="G")
            assert still.status_code == 429 and still.json()["locked_s"] == 30
            assert still.json()["message"] == {"zh": "已锁定，剩余 0m30s", "en": "locked: 0m30s left"}
            clock.now += 30
        assert lockouts == [(1, 60.0), (2, 120.0), (3, 240.0)] and decisions == []
        assert post_guard(kiosk.url, pin="2468", decision="admit", reason="x", operator="G").status_code == 202
        assert wrong_run().json()["locked_s"] == LOCKOUT_S  # a right PIN starts the back-off again
        for _ in range(20):  # the back-off stops at a day
            clock.now += MAX_LOCKOUT_S
            answer = wrong_run()
        assert answer.json()["locked_s"] == MAX_LOCKOUT_S and "24h00m" in answer.json()["message"]["zh"]
    finally:
        kiosk.close()


@pytest.mark.slow
def test_without_a_pin_guard_mode_is_off(tmp_path, monkeypatch):
    from hardware.display.kiosk import KioskDisplay

    kiosk = KioskDisplay(port=0, guard_pin=None, on_guard=lambda *a: None)
    kiosk.open()
    try:
        assert post_guard(kiosk.url, pin="", decision="admit", reason="x", operator="G").status_code == 403
    finally:
        kiosk.close()
