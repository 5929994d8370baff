"""Publishing a venue's documents (signed bundles, trust list, risk areas, roster, appointments)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from protocols.contract import API_PREFIX, DOCUMENT_KINDS, DocumentKind
from protocols.controls import ControlError
from server.auth import audit, role_required
from server.blueprints.schedule import publish as publish_schedule_now
from server.controls import check_document
from server.db import get_store
from server.http_errors import ApiError

bp = Blueprint("documents", __name__, url_prefix=f"{API_PREFIX}/venues/<venue_id>/documents")
MAX_DOCUMENT = 8 * 1024 * 1024


@bp.put("/<kind>")
@role_required("admin")
def publish(venue_id: str, kind: str):
    """Store a new version (the gates learn of it by the retained notice or their next sync)."""
    if kind not in DOCUMENT_KINDS:
        raise ApiError(404, "no_such_document", "没有这种文件 / unknown document kind")
    if get_store().venue(venue_id) is None:
        raise ApiError(404, "no_such_venue", "场所不存在 / no such venue")
    body = request.get_data(cache=False)
    if not body or len(body) > MAX_DOCUMENT:
        raise ApiError(422, "bad_document", "文件为空或过大 / the document is empty or too large")
    content_type = request.mimetype or "application/octet-stream"
    try:
        check_document(kind, body)  # the daily controls travel in the signed schedule: its shape and ranges
    except ControlError as exc:
        raise ApiError(422, ControlError.reason, f"管控参数无效 / {exc}") from exc
    published = get_store().put_document(venue_id, kind, body, content_type)
    audit("document.publish", f"{kind} v{published['version']}", venue_id)  # rosters and appointments name people
    if kind in (DocumentKind.PARAMETERS, DocumentKind.RISK_AREAS) and current_app.extensions.get("schedule_key"):
        publish_schedule_now(get_store().venue(venue_id))  # the schedule carries them to the gates
    return jsonify(published), 201


@bp.get("")
@role_required("supervisor")
def versions(venue_id: str):
    """The current version of each of the venue's documents."""
    if get_store().venue(venue_id) is None:
        raise ApiError(404, "no_such_venue", "场所不存在 / no such venue")
    return jsonify(get_store().versions(venue_id))
