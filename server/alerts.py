"""What an alert is (issue 12): which events raise one, the fever's report deadline, and the messages
each delivery channel sends (MQTT, the venue's webhook in generic / WeCom / DingTalk shape, mail).

Pure code: no SQL (server/store_alerts.py), no sending (server/alert_delivery.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, get_args

from protocols.display import label
from protocols.events import person_alert

AlertKind = Literal["red_code", "fever", "positive_test", "cap_reached", "gate_offline", "thermometer_drift", "document_expiry"]
KINDS: tuple[str, ...] = get_args(AlertKind)
CHANNELS = ("mqtt", "webhook", "mail")
WEBHOOK_KINDS = ("generic", "wecom", "dingtalk")
# POLICY.md "fever report": a fever patient is reported within 2 hours.
FEVER_REPORT_WITHIN = dt.timedelta(hours=2)
CAP_RULE, DRIFT_RULE = "GATE-CAP-01", "GATE-THERM-01"
# A gate is offline when its retained status says so (MQTT last will) or it has missed syncs this long.
OFFLINE_AFTER = dt.timedelta(minutes=5)
# Gates refuse a bundle or trust list older than 24 h (protocols/bundle.py DEFAULT_MAX_AGE): warn this long before.
DOCUMENT_MAX_AGE = dt.timedelta(hours=24)
EXPIRY_WARNING = dt.timedelta(hours=4)
EXPIRING_KINDS = ("bundle", "trustlist")


@dataclass(frozen=True)
class Raise:
    """An alert to raise: its kind, the key that makes it once, and what it says."""

    kind: str
    key: str
    venue: str
    gate: str | None
    event_id: str | None
    at: str
    detail: dict[str, Any]
    deadline: str | None = None


def _failed(row: dict[str, Any]) -> set[str]:
    return {x for x in (row.get("failed") or "").split(",") if x}


def from_event(row: dict[str, Any]) -> Raise | None:
    """The alert a stored event raises (an `events` row as the store writes it), or None.

    Decided from what the event carries: its kind, its colour and its failed rules (the rules'
    `alert` flag stays on the gate; these are the events it marks). One alert per event at most.
    """
    failed = _failed(row)
    key = row["id"]
    # A person's alerts are decided where the gate's kiosk reads them too (it says "reported" for these only).
    kind = person_alert(row["kind"], row.get("direction"), row.get("colour"), failed)
    if kind is None and row["kind"] == "alarm" and DRIFT_RULE in failed:
        kind = "thermometer_drift"
    elif kind is None and CAP_RULE in failed:
        # Everyone refused while the venue is full would be an alert each: once per venue and hour instead.
        kind, key = "cap_reached", f"cap_reached:{row['at'][:13]}"
    if kind is None:
        return None
    detail = {k: row.get(k) for k in ("name", "colour", "celsius", "decision", "direction") if row.get(k) is not None}
    detail["rules"] = sorted(failed)
    deadline = None
    if kind == "fever":
        deadline = _text(_time(row["at"]) + FEVER_REPORT_WITHIN)
    return Raise(kind, key, row["venue"], row["gate"], row["id"], row["at"], detail, deadline)


def _time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _text(t: dt.datetime) -> str:
    from protocols.clock import utc_text

    return utc_text(t)


def state(alert: dict[str, Any], now: dt.datetime) -> str:
    """open, overdue (a deadline passed before anyone acknowledged it) or acked."""
    if alert.get("acked_at"):
        return "acked"
    if alert.get("deadline") and _time(alert["deadline"]) <= now:
        return "overdue"
    return "open"


def countdown_s(alert: dict[str, Any], now: dt.datetime) -> int | None:
    """Seconds left to the report deadline (negative once overdue); None without one or once acknowledged."""
    if not alert.get("deadline") or alert.get("acked_at"):
        return None
    return int((_time(alert["deadline"]) - now).total_seconds())


def document_issued(body: bytes) -> dt.datetime | None:
    """When a stored bundle or trust list was issued (signed or plain JSON), or None when it says nothing readable."""
    try:
        doc = json.loads(body)
        inner = doc.get("body", doc) if isinstance(doc, dict) else {}
        return _time(str(inner["issued_at"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def title(alert: dict[str, Any]) -> tuple[str, str]:
    """The alert's one-line title, (zh, en): kind, venue, gate."""
    zh, en = label("alert_kind", alert["kind"])
    where = alert["venue"] + (f" / {alert['gate']}" if alert.get("gate") else "")
    return f"【告警】{zh} · {where}", f"[alert] {en} · {where}"


def lines(alert: dict[str, Any]) -> list[str]:
    """The alert's facts as bilingual lines (masked name, reading, deadline; never a raw id)."""
    d = alert.get("detail") or {}
    out = [f"时间 time: {alert['at']}"]
    if d.get("name"):
        out.append(f"姓名 name: {d['name']}")
    if d.get("colour"):
        out.append("健康码 code: " + " ".join(label("colour", d["colour"])))
    if d.get("celsius") is not None:
        out.append(f"体温 temperature: {d['celsius']} ℃")
    if d.get("rules"):
        out.append("规则 rules: " + ", ".join(d["rules"]))
    if d.get("document"):
        out.append(f"文件 document: {d['document']} (到期 expires {d.get('expires')})")
    if alert.get("deadline"):
        out.append(f"须于此前上报 report by: {alert['deadline']}")
    return out


def message(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert as JSON for MQTT and the generic webhook: its row (detail parsed) and its title."""
    zh, en = title(alert)
    keep = ("id", "venue", "kind", "gate", "event_id", "at", "raised_at", "deadline", "detail")
    return {**{k: alert.get(k) for k in keep}, "title_zh": zh, "title_en": en}


def webhook_body(alert: dict[str, Any], kind: str) -> dict[str, Any]:
    """The body posted to a venue's webhook: generic JSON, or the WeCom / DingTalk group robot's markdown shape."""
    if kind == "generic":
        return {"alert": message(alert)}
    zh, en = title(alert)
    text = f"### {zh}\n{en}\n\n" + "\n".join(f"- {line}" for line in lines(alert))
    if kind == "wecom":  # https://developer.work.weixin.qq.com/document/path/91770
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if kind == "dingtalk":  # https://open.dingtalk.com/document/robots/custom-robot-access
        return {"msgtype": "markdown", "markdown": {"title": zh, "text": text}}
    raise ValueError(f"unknown webhook kind {kind!r}")


def dingtalk_signed_url(url: str, secret: str, now_ms: int) -> str:
    """A DingTalk robot URL with its signature: timestamp, and base64(HMAC-SHA256(secret, "{ts}\\n{secret}"))."""
    digest = hmac.new(secret.encode("utf-8"), f"{now_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode("ascii"))
    return f"{url}{'&' if '?' in url else '?'}timestamp={now_ms}&sign={sign}"


def mail(alert: dict[str, Any], sender: str, recipients: list[str]) -> EmailMessage:
    """The alert as an e-mail (plain text, UTF-8)."""
    zh, en = title(alert)
    msg = EmailMessage()
    msg["Subject"] = f"{zh} / {en}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content("\n".join(lines(alert)) + "\n")
    return msg


def backoff_s(attempts: int, base: float = 2.0, top: float = 600.0) -> float:
    """Seconds before the next try after `attempts` failures: doubling from `base`, at most `top`."""
    # Hand-written: the retry state lives in the outbox rows (it must survive a restart), which an
    # in-process retry library (tenacity, backoff) does not keep; this is the one formula they would apply.
    return min(top, base * 2 ** max(0, attempts - 1))


def recipients(text: str | None) -> list[str]:
    """The addresses of a venue's comma-separated mail setting."""
    return [a.strip() for a in (text or "").split(",") if a.strip()]
