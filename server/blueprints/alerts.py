"""A venue's alerts (issue 12): the list (filters: state, kind), acknowledging one with a note, and the
venue's delivery settings (webhook, mail)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from protocols.clock import utc_now
from protocols.contract import API_PREFIX, wire
from server import alerts as rules
from server.auth import audit, role_required
from server.bodies import Alert, AlertAck, AlertSettings, AlertSettingsShown
from server.blueprints.venues import _body, _venue
from server.db import get_store
from server.http_errors import ApiError
from server.store_alerts import AckRefused

bp = Blueprint("alerts", __name__, url_prefix=f"{API_PREFIX}/venues")
STATES = ("open", "acked")


def alert_json(row: dict[str, Any]) -> dict[str, Any]:
    """An alert row as the API answers it, with its state and countdown now."""
    now = utc_now()
    fields = {k: row.get(k) for k in Alert.model_fields if k not in ("state", "countdown_s")}
    return wire(Alert(**fields, state=rules.state(row, now), countdown_s=rules.countdown_s(row, now)))


def shown_settings(s: dict[str, Any]) -> dict[str, Any]:
    """Settings without the secret itself."""
    return wire(AlertSettingsShown(venue=s["venue"], webhook_url=s["webhook_url"], webhook_kind=s["webhook_kind"],
                                   webhook_secret_set=bool(s["webhook_secret"]), mail_to=s["mail_to"]))


@bp.get("/<venue_id>/alerts")
@role_required("supervisor")
def list_alerts(venue_id: str):
    """A venue's alerts, newest first (state=open|acked, kind=...), at most 200 (limit)."""
    _venue(venue_id)
    state = request.args.get("state") or None
    kind = request.args.get("kind") or None
    if state is not None and state not in STATES:
        raise ApiError(400, "bad_state", "state 须为 open 或 acked / state must be open or acked")
    if kind is not None and kind not in rules.KINDS:
        raise ApiError(400, "bad_kind", f"kind 须为 {', '.join(rules.KINDS)} 之一 / kind must be one of them")
    limit = request.args.get("limit", "200")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ApiError(400, "bad_limit", "limit 须为 1..1000 / limit must be 1..1000")
    rows = get_store().alerts(venue_id, state=state, kind=kind, limit=int(limit))
    audit("alerts.list", request.query_string.decode("utf-8", "replace")[:200] or "-", venue_id)
    return jsonify([alert_json(r) for r in rows])


@bp.post("/<venue_id>/alerts/<alert_id>/ack")
@role_required("supervisor")
def ack_alert(venue_id: str, alert_id: str):
    """Acknowledge an alert with a note (audited); 409 when it is already acknowledged."""
    _venue(venue_id)
    body = AlertAck.model_validate_json(_body())
    store = get_store()
    row = store.alert(alert_id)
    if row is None or row["venue"] != venue_id:
        raise ApiError(404, "no_such_alert", "告警不存在 / no such alert")
    try:
        return jsonify(alert_json(store.ack_alert(alert_id, g.user, body.note.strip() or body.note)))
    except AckRefused as exc:
        raise ApiError(409, exc.reason, str(exc)) from exc


@bp.get("/<venue_id>/alert-settings")
@role_required("supervisor")
def get_settings(venue_id: str):
    """Where the venue's alerts go: webhook (URL, kind, whether a secret is set) and mail recipients."""
    _venue(venue_id)
    return jsonify(shown_settings(get_store().alert_settings(venue_id)))


@bp.put("/<venue_id>/alert-settings")
@role_required("admin")
def put_settings(venue_id: str):
    """Set the venue's webhook and mail recipients (fields left out are kept; null clears one); audited."""
    _venue(venue_id)
    body = AlertSettings.model_validate_json(_body())
    changes = body.model_dump(exclude_unset=True)
    if "webhook_kind" in changes and changes["webhook_kind"] is None:
        changes["webhook_kind"] = "generic"
    audit("alert_settings.update", ",".join(sorted(changes)) or "-", venue_id)
    return jsonify(shown_settings(get_store().put_alert_settings(venue_id, changes)))

