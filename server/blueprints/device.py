"""The device API: enroll once, then sync events, renew the lease and fetch documents, each scoped to its own gate."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, request
from pydantic import ValidationError

from protocols import contract, topics
from protocols.clock import utc_now
from protocols.contract import (DOCUMENT_KINDS, EnrollRequest, EnrollResponse, LeaseRequest, LeaseResponse,
                                SyncRequest)
from server import presence_window
from server.auth import device_required
from server.db import get_store
from server.overload import shed_when_busy
from server.http_errors import ApiError

log = logging.getLogger(__name__)
bp = Blueprint("device", __name__, url_prefix=contract.API_PREFIX)


def _json_body() -> bytes:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "请求须为 JSON / the body must be application/json")
    # Werkzeug hands the body over as sent: a gzip batch (contract.BODY_ENCODINGS) is inflated here, bounded.
    try:
        return contract.inflate_body(request.get_data(cache=False), request.headers.get("Content-Encoding"),
                                     current_app.config.get("MAX_INFLATED_LENGTH", contract.MAX_INFLATED))
    except contract.BodyTooLarge as exc:
        raise ApiError(413, exc.reason, f"请求解压后过大，请分批发送 / {exc}: send smaller batches") from exc
    except contract.MalformedBody as exc:
        raise ApiError(400, exc.reason, f"请求数据无法按其编码解压 / {exc}") from exc
    except contract.BadEncoding as exc:
        raise ApiError(415, exc.reason, f"不支持的请求编码 / {exc}") from exc


@bp.post(contract.ENROLL)
def enroll() -> tuple[EnrollResponse, int]:
    """Spend a one-time token; answer the device's own credential (once)."""
    body = EnrollRequest.model_validate_json(_json_body())
    spent = get_store().redeem_token(body.token)
    if spent is None:
        raise ApiError(403, "bad_token", "注册令牌无效或已使用 / enrollment token invalid, expired or used")
    device, secret = spent
    log.info("device %s enrolled for %s/%s", device.id, device.venue, device.gate)
    answer = EnrollResponse(device_id=device.id, secret=secret, venue=device.venue, gate=device.gate,
                            mqtt_username=device.id, topic_filter=topics.gate_filter(device.venue, device.gate))
    return answer, 201


def _hub_time() -> float:
    """The hub's clock for a sync answer (whole ms): the gate keeps it as its trusted time (agent/trusted_clock.py)."""
    return round(utc_now().timestamp(), 3)


@bp.post(contract.DEVICE_SYNC)
@shed_when_busy  # before the credential's look-up: a shed sync costs the hub as little as it can
@device_required
def sync() -> Response:
    """Store a batch once per event id; answer the ids held, the versions to fetch and other gates' presence changes."""
    try:
        body = SyncRequest.model_validate_json(_json_body())
    except ValidationError as exc:
        if any(e["type"] == "too_long" and e["loc"] == ("events",) for e in exc.errors()):
            # The gate halves a batch answered 413 (agent/sync.py); a 422 would leave it resending the same one.
            raise ApiError(413, "batch_too_large", f"一次最多 {contract.MAX_BATCH} 条记录，请分批发送 / "
                           f"at most {contract.MAX_BATCH} events a sync: send smaller batches") from exc
        raise
    device = g.device
    for event in body.events:
        if event.venue != device.venue or event.gate != device.gate:
            raise ApiError(403, "wrong_gate", "设备只能上报本闸机的记录 / a device may only post its own gate's events")
    store = get_store()
    result = store.ingest(body.events, gate_running=(device.venue, device.gate, body.running))
    if body.figures is not None:  # the gate's own figures, for the console's overview and fleet pages
        store.save_gate_figures(device.venue, device.gate, body.figures.model_dump())
    versions = store.versions(device.venue)
    running = body.running or {}
    fetch = [kind for kind, version in versions.items() if running.get(kind) != version]
    # The answer is a SyncResponse, written here by orjson from plain values: the hub's own rows need no
    # checked model (the gate validates the answer it reads), and the presence changes arrive as JSON
    # already written, shared by the venue's gates (server/presence_window.py).
    answer: dict[str, Any] = {"acked": result.acked, "new": result.new, "versions": versions, "fetch": fetch}
    # Refused events are named, so the gate stops resending them; only a batch with some has the field.
    if result.refused:
        answer["refused"] = [{"id": r.id, "reason": r.reason, "message": r.message} for r in result.refused]
    if result.conflicts:
        answer["conflicts"] = result.conflicts
    if result.alerted:  # the gate's kiosk says "已上报 reported" for these only (issue 12)
        answer["alerted"] = result.alerted
    if body.presence_after is not None:
        # Anti-passback across gates: who entered or left at the venue's other gates lately.
        now = utc_now()
        page = presence_window.changes(store, device.venue, device.gate, body.presence_after,
                                       now - dt.timedelta(seconds=body.presence_window_s), now)
        answer.update(presence=presence_window.presence_json(page), presence_after=page.cursor,
                      presence_more=page.more)
    answer["hub_time"] = _hub_time()
    return Response(orjson.dumps(answer), mimetype="application/json")


@bp.post(contract.DEVICE_LEASE)
@device_required
def lease() -> LeaseResponse:
    """Renew or return this gate's lease of places."""
    body = LeaseRequest.model_validate_json(_json_body())
    return LeaseResponse(**get_store().lease(g.device.venue, g.device.gate, body.want, body.unsynced))


@bp.get(contract.DEVICE_DOCUMENT)
@device_required
def document(kind: str) -> Response:
    """The current version of one of this venue's documents, with an ETag (304 when unchanged)."""
    if kind not in DOCUMENT_KINDS:
        raise ApiError(404, "no_such_document", "没有这种文件 / unknown document kind")
    doc = get_store().document(g.device.venue, kind)
    if doc is None:
        raise ApiError(404, "no_such_document", "尚未发布 / nothing published yet")
    headers = {"ETag": f'"{doc["etag"]}"', "X-Document-Version": str(doc["version"]), "Cache-Control": "no-cache"}
    if doc["etag"] in request.if_none_match:
        return Response(status=304, headers=headers)
    return Response(doc["body"], status=200, headers=headers, content_type=doc["content_type"])
