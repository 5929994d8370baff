"""Alert delivery (issue 12): the outbox sends each alert to the venue's webhook (a real local HTTP
receiver) in the robot's shape and to its mail recipients (a real aiosmtpd server), retries a failing
webhook with backoff until it takes it, and survives the hub process being killed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time

import pytest

from server.alert_delivery import Deliverer, MailServer
from tests.alert_helpers import Inbox, Webhook
from tests.conftest import wait_until
from tests.test_hub_alerts import event


@pytest.fixture
def webhook():
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.stop()


def _hub(hub_factory, **settings):
    hub = hub_factory(venues={"school1": {}}, gates={"school1": ["north"]}, testing=True)
    hub.store.put_alert_settings("school1", settings)
    return hub


def test_a_failing_webhook_is_retried_with_backoff_until_it_takes_the_alert_and_mail_goes_out(hub_factory, webhook, inbox):
    webhook.fail = 2
    hub = _hub(hub_factory, webhook_url=webhook.url, webhook_kind="wecom", mail_to="duty@school1.cn")
    hub.store.ingest([event(kind="fever", celsius=38.6)])
    published: list[tuple[str, str]] = []
    d = Deliverer(hub.store, lambda t, p: published.append((t, p)) or True, MailServer("127.0.0.1", inbox.port),
                  backoff_base_s=0.2)
    assert d.run_once() == 2  # MQTT and mail; the webhook answered 500
    alert = hub.store.alerts("school1")[0]
    row = {x["channel"]: x for x in hub.store.deliveries(alert["id"])}
    assert row["webhook"]["sent_at"] is None and row["webhook"]["attempts"] == 1
    assert row["webhook"]["last_error"] == "webhook answered 500"
    assert d.run_once() == 0 and webhook.tries == 1  # not due yet: the backoff holds it back
    wait_until(lambda: d.run_once() == 1, timeout=5, what="the webhook taken after its retries")
    assert webhook.tries == 3 and len(webhook.got) == 1
    body = webhook.got[0]["body"]
    assert body["msgtype"] == "markdown" and "发热" in body["markdown"]["content"]
    assert all(x["sent_at"] for x in hub.store.deliveries(alert["id"]))
    assert d.run_once() == 0  # sent rows are done: nothing twice
    assert inbox.messages[0]["to"] == ["duty@school1.cn"] and "发热" in inbox.messages[0]["subject"]
    assert "38.6" in inbox.messages[0]["text"] and "report by" in inbox.messages[0]["text"]
    assert published[0][0] == "checkpoint/v1/venue/school1/alerts"


def test_dingtalk_gets_its_shape_and_a_signature_it_can_check(hub_factory, webhook):
    hub = _hub(hub_factory, webhook_url=webhook.url, webhook_kind="dingtalk", webhook_secret="SECret")
    hub.store.ingest([event(colour="red")])
    Deliverer(hub.store, lambda t, p: True).run_once()
    got = webhook.got[0]
    assert got["body"]["msgtype"] == "markdown" and "红码" in got["body"]["markdown"]["title"]
    ts = got["query"]["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SECret", f"{ts}\nSECret".encode(), hashlib.sha256).digest()).decode()
    assert got["query"]["sign"] == [expected] and abs(int(ts) / 1000 - time.time()) < 60


def test_a_robot_that_refuses_with_an_errcode_is_tried_again(hub_factory, webhook):
    webhook.answer = {"errcode": 310000, "errmsg": "sign not match"}
    hub = _hub(hub_factory, webhook_url=webhook.url, webhook_kind="dingtalk")
    hub.store.ingest([event(colour="red")])
    Deliverer(hub.store, lambda t, p: True).run_once()
    alert = hub.store.alerts("school1")[0]
    hook = next(x for x in hub.store.deliveries(alert["id"]) if x["channel"] == "webhook")
    assert hook["sent_at"] is None and "errcode 310000" in hook["last_error"]


def test_mail_without_an_smtp_server_waits_in_the_outbox(hub_factory):
    hub = _hub(hub_factory, mail_to="duty@school1.cn")
    hub.store.ingest([event(colour="red")])
    Deliverer(hub.store, lambda t, p: True, mail=None).run_once()
    alert = hub.store.alerts("school1")[0]
    mail = next(x for x in hub.store.deliveries(alert["id"]) if x["channel"] == "mail")
    assert mail["sent_at"] is None and "CHECKPOINT_SMTP_HOST" in mail["last_error"]


@pytest.mark.slow
def test_delivery_survives_the_hub_being_killed(hub_factory, mosquitto, inbox, tmp_path):
    hook = Webhook(fail=10**6).start()  # refuses everything until the hub is killed
    hub = _hub(hub_factory, webhook_url=hook.url, webhook_kind="generic", mail_to="duty@school1.cn")
    hub.store.ingest([red := event(colour="red")])
    alert = hub.store.alerts("school1")[0]
    env = {**os.environ, "CHECKPOINT_SMTP_HOST": "127.0.0.1", "CHECKPOINT_SMTP_PORT": str(inbox.port)}
    where = ["--database", hub.db] if "://" in str(hub.db) else ["--db", str(hub.db)]
    cmd = [sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "bridge", *where,
           "--mqtt-host", "127.0.0.1", "--mqtt-port", str(mosquitto.port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def state(channel: str) -> dict:
            return next(x for x in hub.store.deliveries(alert["id"]) if x["channel"] == channel)
        wait_until(lambda: state("webhook")["attempts"] >= 1 and state("mail")["sent_at"], timeout=20,
                   what="a first webhook try and the mail")
        os.kill(proc.pid, signal.SIGKILL)  # no goodbye: whatever was in memory is gone
        proc.wait(timeout=10)
        assert state("webhook")["sent_at"] is None and hook.got == []
        hook.fail = 0  # the receiver is back
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: state("webhook")["sent_at"], timeout=30, what="the webhook delivered after the restart")
        assert len(hook.got) == 1 and hook.got[0]["body"]["alert"]["event_id"] == red.id
        assert len(inbox.messages) == 1  # mail was sent once, before the kill, and not again
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        hook.stop()
