"""An alert from a gate's red code to every place it must reach (issue 12): the gate syncs the event
over HTTP; the hub answers that it raised an alert; the console's badge in a real browser (Debian's
Chromium) shows it and beeps; the hub publishes it on the venue's MQTT topic (a real Mosquitto); the
venue's webhook (a real local HTTP receiver) and the duty inbox (a real aiosmtpd server) receive it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from protocols import topics
from protocols.contract import SyncRequest, SyncResponse
from server.alert_delivery import MailServer
from server.mqtt_bridge import MqttBridge
from tests.alert_helpers import Inbox, Webhook
from tests.conftest import wait_until
from tests.test_console_browser import CHROMIUM
from tests.test_hub_alerts import event

pytestmark = pytest.mark.slow
PASSWORD = "pass-word-1"


def test_a_red_code_reaches_the_console_badge_the_mqtt_topic_the_webhook_and_the_inbox(hub_factory, mosquitto, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    hook, inbox = Webhook().start(), Inbox()
    hub = hub_factory(venues={"school1": {"name": "第一小学"}}, gates={"school1": ["north"]}, enroll=[("school1", "north")],
                      serve=True)
    hub.store.create_user("li", PASSWORD, "supervisor")
    hub.store.set_user_venue("li", "school1")
    hub.store.put_alert_settings("school1", {"webhook_url": hook.url, "webhook_kind": "wecom",
                                             "mail_to": "duty@school1.cn"})
    heard: list[dict] = []
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="duty-screen")
    subscribed = threading.Event()
    listener.on_connect = lambda c, *_: c.subscribe(topics.venue_alerts("school1"), qos=1)
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_message = lambda _c, _u, msg: heard.append(json.loads(msg.payload))
    listener.connect("127.0.0.1", mosquitto.port)
    listener.loop_start()
    bridge = MqttBridge(hub.db, "127.0.0.1", mosquitto.port, mail=MailServer("127.0.0.1", inbox.port), alert_every=0.2)
    bridge.start()
    try:
        assert subscribed.wait(10)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                        "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 390, "height": 800}, locale="zh-CN")
            page.goto(hub.url + "/console/login")
            page.fill("input[name=username]", "li")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(hub.url + "/console/")
            page.wait_for_function("window.checkpointAlertBeeps === 0")  # the stream is followed, nothing yet
            assert page.locator("#alert-badge").is_hidden()

            # The gate: a red code refused, synced with its device credential.
            red = event(colour="red", failed=("GATE-CODE-01",))
            device, secret = hub.devices["north"]
            answer = requests.post(hub.url + "/api/v1/device/sync", data=SyncRequest(events=[red]).model_dump_json(),
                                   headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
                                   timeout=10)
            assert answer.status_code == 200
            assert SyncResponse.model_validate_json(answer.content).alerted == [red.id]  # the kiosk may say "reported"

            page.wait_for_function("document.getElementById('alert-badge').textContent === '1'", timeout=10_000)
            assert page.locator("#alert-badge").is_visible()
            assert page.evaluate("window.checkpointAlertBeeps") == 1
            assert "红码" in page.locator("#alert-badge").get_attribute("title")
            page.screenshot(path=tmp_path / "console-alert-badge.png", full_page=True)
            page.click("header >> text=告警")
            page.wait_for_url("**/console/alerts")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no horizontal scroll at 390 px
            page.fill("input[name=note]", "已联系社区 community called")
            page.click("tr.alert-row button[type=submit]")
            page.wait_for_selector("text=已联系社区 community called")
            page.wait_for_function("document.getElementById('alert-badge').hidden === true", timeout=10_000)
            page.screenshot(path=tmp_path / "console-alerts.png", full_page=True)
            browser.close()

        wait_until(lambda: heard and hook.got and inbox.messages, timeout=15, what="MQTT, webhook and mail")
        assert heard[0]["kind"] == "red_code" and heard[0]["event_id"] == red.id and heard[0]["detail"]["name"] == "张*明"
        assert hook.got[0]["body"]["msgtype"] == "markdown" and "红码" in hook.got[0]["body"]["markdown"]["content"]
        assert inbox.messages[0]["to"] == ["duty@school1.cn"] and "红码" in inbox.messages[0]["subject"]
        assert "ab" * 16 not in json.dumps(heard) + json.dumps(hook.got) + inbox.messages[0]["text"]  # no subject hash out
        acks = [r for r in hub.store.audit_log(100) if r["action"] == "alert.ack"]
        assert len(acks) == 1 and acks[0]["username"] == "li"
    finally:
        bridge.stop()
        listener.loop_stop()
        listener.disconnect()
        hook.stop()
        inbox.stop()
