"""The hub's alert SQL (issue 12), mixed into HubStore: raising once per key with its delivery outbox
rows and its audit row in one transaction, listing, acknowledging, the venue's delivery settings, and
the outbox the delivery worker (server/alert_delivery.py) works through."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from ulid import ULID

from protocols.clock import utc_now, utc_text
from server import alerts as rules
from server.schema import alert_outbox, alert_settings, audit, documents, gates
from server.schema import alerts as alerts_table
from server.store_engine import insert_ignore, upsert

_SETTINGS = select(alert_settings).where(alert_settings.c.venue == bindparam("b_venue"))
_ALERTED = (select(alerts_table.c.event_id)
            .where(alerts_table.c.event_id.in_(bindparam("b_ids", expanding=True))))


class AckRefused(Exception):
    """An acknowledgement the hub will not take (already acknowledged)."""

    reason = "already_acked"


def _parsed(row: dict[str, Any]) -> dict[str, Any]:
    row["detail"] = json.loads(row["detail"]) if row.get("detail") else {}
    return row


class AlertQueries:
    """Alert rows, their outbox and the venues' delivery settings (self.conn and self.write from HubStore)."""

    conn: Connection

    def _raise(self, c: Connection, found: Sequence[rules.Raise], now: dt.datetime) -> list[str]:
        """Insert the alerts not raised before (by venue and key), each with its outbox rows and audit row;
        the ids of the new ones. Runs inside the caller's write transaction."""
        raised = []
        now_text = utc_text(now)
        channels: dict[str, list[str]] = {}
        for r in found:
            alert_id = str(ULID())
            row = {"id": alert_id, "venue": r.venue, "kind": r.kind, "key": r.key, "gate": r.gate,
                   "event_id": r.event_id, "at": r.at, "raised_at": now_text, "deadline": r.deadline,
                   "detail": json.dumps(r.detail, ensure_ascii=False, sort_keys=True)}
            # RETURNING, not rowcount: psycopg answers -1 for an INSERT ... ON CONFLICT DO NOTHING here.
            if c.execute(insert_ignore(c, alerts_table).returning(alerts_table.c.id), row).first() is None:
                continue  # raised before: once per key (an event sent again, a check run again)
            if r.venue not in channels:
                channels[r.venue] = self._channels(c, r.venue)
            if channels[r.venue]:
                c.execute(insert_ignore(c, alert_outbox), [
                    {"alert_id": alert_id, "channel": ch, "attempts": 0, "next_at": now_text} for ch in channels[r.venue]])
            c.execute(audit.insert().values(at=now_text, username="hub", action="alert.raise",
                                            target=f"{r.kind} {alert_id} {r.gate or '-'} {r.event_id or '-'}"[:500],
                                            venue=r.venue))
            raised.append(alert_id)
        return raised

    @staticmethod
    def _channels(c: Connection, venue: str) -> list[str]:
        """Where a venue's alerts go now: MQTT always, its webhook and mail when it has them."""
        s = c.execute(_SETTINGS, {"b_venue": venue}).mappings().first()
        out = ["mqtt"]
        if s and s["webhook_url"]:
            out.append("webhook")
        if s and rules.recipients(s["mail_to"]):
            out.append("mail")
        return out

    def raise_event_alerts(self, c: Connection, rows: Sequence[dict[str, Any]], now: dt.datetime) -> None:
        """Raise the alerts newly stored event rows carry (in ingest's transaction: once per event, with it)."""
        found = [r for r in map(rules.from_event, rows) if r is not None]
        if found:
            self._raise(c, found, now)

    def alerted(self, event_ids: Sequence[str]) -> list[str]:
        """Which of these events raised an alert the hub holds (the sync answer tells the gate: 'reported')."""
        if not event_ids:
            return []
        return sorted({r[0] for r in self.conn.execute(_ALERTED, {"b_ids": sorted(set(event_ids))})})

    def raise_alerts(self, found: Sequence[rules.Raise], now: dt.datetime | None = None) -> list[str]:
        """Raise alerts from a background check (once per key); the ids of the new ones."""
        with self.write() as c:  # type: ignore[attr-defined]
            return self._raise(c, found, now or utc_now())

    # ---- background checks ------------------------------------------------------------------

    def check_alerts(self, now: dt.datetime | None = None) -> list[str]:
        """Raise what a check finds: gates offline (status or missed syncs), documents about to expire."""
        now = now or utc_now()
        found: list[rules.Raise] = []
        g = gates
        for venue, gate, status, status_at, last_seen in self.conn.execute(
                select(g.c.venue, g.c.id, g.c.status, g.c.status_at, g.c.last_seen)):
            silent = last_seen is not None and last_seen < utc_text(now - rules.OFFLINE_AFTER)
            # Its last will, unless it has called in since (a gate may sync over HTTP with MQTT down).
            willed = status == "offline" and (last_seen is None or status_at is None or last_seen <= status_at)
            if willed or (silent and status != "stopped"):
                # One alert per silence, whichever way it was noticed: named by the last contact before it.
                since = last_seen or status_at
                found.append(rules.Raise("gate_offline", f"gate_offline:{gate}:{since}", venue, gate, None,
                                         since or utc_text(now), {"status": status, "last_seen": last_seen}))
        d = documents
        for venue, kind, version, body in self.conn.execute(
                select(d.c.venue, d.c.kind, d.c.version, d.c.body).where(d.c.kind.in_(rules.EXPIRING_KINDS))):
            issued = rules.document_issued(body)
            if issued is None:
                continue
            expires = issued + rules.DOCUMENT_MAX_AGE
            if now >= expires - rules.EXPIRY_WARNING:
                found.append(rules.Raise("document_expiry", f"document_expiry:{kind}:{version}", venue, None, None,
                                         utc_text(now), {"document": f"{kind} v{version}", "expires": utc_text(expires)}))
        return self.raise_alerts(found, now) if found else []

    # ---- listing and acknowledging ----------------------------------------------------------

    def alerts(self, venue: str, *, state: str | None = None, kind: str | None = None, after: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
        """A venue's alerts, newest first; state 'open' (not acknowledged) or 'acked'; `after`: ids raised since."""
        a = alerts_table
        stmt = select(a).where(a.c.venue == venue)
        if state == "open":
            stmt = stmt.where(a.c.acked_at.is_(None))
        elif state == "acked":
            stmt = stmt.where(a.c.acked_at.is_not(None))
        if kind:
            stmt = stmt.where(a.c.kind == kind)
        if after:
            stmt = stmt.where(a.c.id > after)
        return [_parsed(dict(r)) for r in self.conn.execute(stmt.order_by(a.c.id.desc()).limit(limit)).mappings()]

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert, or None."""
        row = self.conn.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).mappings().first()
        return _parsed(dict(row)) if row else None

    def open_alert_count(self, venues: Sequence[str] | None) -> tuple[int, str]:
        """Open alerts of these venues (None: every venue), and the newest alert id among them ('' if none)."""
        a = alerts_table
        stmt = select(func.count(), func.max(a.c.id)).where(a.c.acked_at.is_(None))
        if venues is not None:
            stmt = stmt.where(a.c.venue.in_(list(venues)))
        n, newest = self.conn.execute(stmt).one()
        return int(n), newest or ""

    def ack_alert(self, alert_id: str, username: str, note: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Acknowledge an alert with a note, audited in the same transaction; raises AckRefused if acknowledged."""
        now_text = utc_text(now or utc_now())
        a = alerts_table
        with self.write() as c:  # type: ignore[attr-defined]
            done = c.execute(update(a).where(a.c.id == alert_id, a.c.acked_at.is_(None))
                             .values(acked_by=username, acked_at=now_text, ack_note=note)).rowcount
            if done != 1:
                raise AckRefused("告警已确认 / the alert is already acknowledged")
            venue = c.execute(select(a.c.venue).where(a.c.id == alert_id)).scalar()
            c.execute(audit.insert().values(at=now_text, username=username, action="alert.ack",
                                            target=f"{alert_id}: {note}"[:500], venue=venue))
        return self.alert(alert_id) or {}

    # ---- delivery settings ------------------------------------------------------------------

    def alert_settings(self, venue: str) -> dict[str, Any]:
        """A venue's webhook (url, kind, secret) and mail recipients; empty values when unset."""
        row = self.conn.execute(_SETTINGS, {"b_venue": venue}).mappings().first()
        base = {"venue": venue, "webhook_url": None, "webhook_kind": "generic", "webhook_secret": None, "mail_to": None}
        return {**base, **{k: v for k, v in dict(row or {}).items() if v is not None}}

    def put_alert_settings(self, venue: str, values: dict[str, Any]) -> dict[str, Any]:
        """Set some of a venue's delivery settings (others kept)."""
        merged = {**self.alert_settings(venue), **values, "venue": venue, "updated_at": utc_text(utc_now())}
        cols = ["webhook_url", "webhook_kind", "webhook_secret", "mail_to", "updated_at"]
        with self.write() as c:  # type: ignore[attr-defined]
            c.execute(upsert(c, alert_settings, ["venue"], cols), {k: merged.get(k) for k in ["venue", *cols]})
        return self.alert_settings(venue)

    # ---- the outbox ---------------------------------------------------------------------------

    def due_deliveries(self, now: dt.datetime | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Outbox rows not yet sent whose next try is due, oldest first, with their alert."""
        o, a = alert_outbox, alerts_table
        stmt = (select(o.c.alert_id, o.c.channel, o.c.attempts, a)
                .select_from(o.join(a, a.c.id == o.c.alert_id))
                .where(o.c.sent_at.is_(None), o.c.next_at <= utc_text(now or utc_now()))
                .order_by(o.c.next_at, o.c.alert_id).limit(limit))
        out = []
        for r in self.conn.execute(stmt).mappings():
            row = dict(r)
            out.append({"channel": row.pop("channel"), "attempts": row.pop("attempts"), "alert": _parsed(row)})
            out[-1]["alert"].pop("alert_id", None)
        return out

    def delivered(self, alert_id: str, channel: str, now: dt.datetime | None = None) -> None:
        """Mark one (alert, channel) sent."""
        o = alert_outbox
        with self.write() as c:  # type: ignore[attr-defined]
            c.execute(update(o).where(o.c.alert_id == alert_id, o.c.channel == channel)
                      .values(sent_at=utc_text(now or utc_now()), last_error=None))

    def delivery_failed(self, alert_id: str, channel: str, error: str, base_s: float = 2.0,
                        now: dt.datetime | None = None) -> None:
        """Count a failed try and put the next one off by the backoff."""
        now = now or utc_now()
        o = alert_outbox
        with self.write() as c:  # type: ignore[attr-defined]
            attempts = (c.execute(select(o.c.attempts).where(o.c.alert_id == alert_id, o.c.channel == channel)).scalar() or 0) + 1
            later = now + dt.timedelta(seconds=rules.backoff_s(attempts, base_s))
            c.execute(update(o).where(o.c.alert_id == alert_id, o.c.channel == channel)
                      .values(attempts=attempts, next_at=utc_text(later), last_error=error[:500]))

    def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """The outbox rows of one alert: channel, attempts, when sent, the last error."""
        o = alert_outbox
        return [dict(r) for r in self.conn.execute(
            select(o.c.channel, o.c.attempts, o.c.next_at, o.c.sent_at, o.c.last_error)
            .where(o.c.alert_id == alert_id).order_by(o.c.channel)).mappings()]
