"""Delivering alerts (issue 12): works through the outbox of (alert, channel) rows, sending each by MQTT,
the venue's webhook or mail, and putting a failed one off by the backoff; also runs the background
checks (gates offline, documents expiring).

Runs in the MQTT bridge process (`checkpoint hub bridge`, one thread beside the writer) or alone
(`checkpoint hub alerts`): the rows, not this process, hold what is still to send, so a restarted hub
sends what it had not.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from protocols import topics
from protocols.topics import AlertMessage
from server import alerts as rules
from server.store import HubStore

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """One try of one channel failed (the outbox row is tried again later)."""


@dataclass(frozen=True)
class MailServer:
    """Where the hub sends mail from: host, port, sender (from $CHECKPOINT_SMTP_HOST/_PORT/_FROM)."""

    host: str
    port: int = 25
    sender: str = "checkpoint-hub@localhost"

    @classmethod
    def from_env(cls) -> "MailServer | None":
        """The server the environment names, or None (mail rows then wait until one is configured)."""
        host = os.environ.get("CHECKPOINT_SMTP_HOST")
        if not host:
            return None
        return cls(host, int(os.environ.get("CHECKPOINT_SMTP_PORT", "25")),
                   os.environ.get("CHECKPOINT_SMTP_FROM", "checkpoint-hub@localhost"))


class Deliverer:
    """Sends due outbox rows; `publish` sends one MQTT message and says whether the broker took it."""

    def __init__(self, store: HubStore, publish: Any = None, mail: MailServer | None = None,
                 backoff_base_s: float = 2.0, timeout_s: float = 5.0):
        self.store = store
        self.publish = publish
        self.mail = mail
        self.backoff_base_s = backoff_base_s
        self.timeout_s = timeout_s
        self.http = requests.Session()

    def run_once(self) -> int:
        """Try every due row once; how many were sent."""
        sent = 0
        for item in self.store.due_deliveries():
            alert, channel = item["alert"], item["channel"]
            try:
                self._send(alert, channel)
            except (DeliveryError, OSError, smtplib.SMTPException, requests.RequestException) as exc:
                log.warning("alert %s by %s failed (try %d): %s", alert["id"], channel, item["attempts"] + 1, exc)
                self.store.delivery_failed(alert["id"], channel, str(exc) or type(exc).__name__, self.backoff_base_s)
                continue
            self.store.delivered(alert["id"], channel)
            sent += 1
        return sent

    def _send(self, alert: dict[str, Any], channel: str) -> None:
        if channel == "mqtt":
            if self.publish is None:
                raise DeliveryError("no broker connection in this process")
            body = AlertMessage.model_validate(rules.message(alert)).model_dump_json()
            if not self.publish(topics.venue_alerts(alert["venue"]), body):
                raise DeliveryError("the broker did not take the message")
        elif channel == "webhook":
            self._webhook(alert)
        elif channel == "mail":
            self._mail(alert)
        else:
            raise DeliveryError(f"unknown channel {channel!r}")

    def _webhook(self, alert: dict[str, Any]) -> None:
        s = self.store.alert_settings(alert["venue"])
        if not s["webhook_url"]:
            raise DeliveryError("the venue has no webhook any more")
        kind = s["webhook_kind"] or "generic"
        url = s["webhook_url"]
        if kind == "dingtalk" and s["webhook_secret"]:
            url = rules.dingtalk_signed_url(url, s["webhook_secret"], int(time.time() * 1000))
        answer = self.http.post(url, json=rules.webhook_body(alert, kind), timeout=self.timeout_s)
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"webhook answered {answer.status_code}")
        if kind in ("wecom", "dingtalk"):
            # Both robots answer 200 with {"errcode": n, "errmsg": ...}; anything but 0 is a refusal.
            try:
                code = answer.json().get("errcode", 0)
            except ValueError:
                code = 0
            if code:
                raise DeliveryError(f"robot refused: errcode {code}")

    def _mail(self, alert: dict[str, Any]) -> None:
        to = rules.recipients(self.store.alert_settings(alert["venue"])["mail_to"])
        if not to:
            raise DeliveryError("the venue has no mail recipients any more")
        if self.mail is None:
            raise DeliveryError("no SMTP server configured ($CHECKPOINT_SMTP_HOST)")
        with smtplib.SMTP(self.mail.host, self.mail.port, timeout=self.timeout_s) as smtp:
            smtp.send_message(rules.mail(alert, self.mail.sender, to))


class AlertWorker:
    """A thread that runs the checks and the outbox every `every` seconds until stopped."""

    def __init__(self, db: Path | str, publish: Any = None, mail: MailServer | None = None, every: float = 0.5,
                 check_every: float = 10.0, backoff_base_s: float = 2.0):
        self.db, self.publish, self.mail = db, publish, mail
        self.every, self.check_every, self.backoff_base_s = every, check_every, backoff_base_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="alert-delivery", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop it (after the round under way)."""
        self._stop.set()
        self.thread.join(timeout=15)

    def _loop(self) -> None:
        store = HubStore(self.db)
        deliverer = Deliverer(store, self.publish, self.mail, self.backoff_base_s)
        checked = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() - checked >= self.check_every:
                        store.check_alerts()
                        checked = time.monotonic()
                    deliverer.run_once()
                except Exception:  # noqa: BLE001 - one bad round (a locked database) must not end delivery
                    log.exception("alert delivery round failed")
                self._stop.wait(self.every)
        finally:
            store.close()
