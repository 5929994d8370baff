"""GET /metrics: the hub process's Prometheus metrics (server/metrics.py), and the sync latency they time.

Access (docs/hub.md): with a token configured (METRICS_TOKEN, or $CHECKPOINT_METRICS_TOKEN) a scraper sends
`Authorization: Bearer TOKEN` from anywhere; without one, /metrics answers loopback addresses only, so a hub
on a public address shows nothing until it is given a token. The figures are counts and times, no personal
data, but they tell an outsider how busy each hub is.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request

from protocols import contract
from server import metrics
from server.http_errors import ApiError

bp = Blueprint("metrics", __name__)
LOOPBACK = ("127.0.0.1", "::1")


def _token() -> str:
    return current_app.config.get("METRICS_TOKEN") or os.environ.get("CHECKPOINT_METRICS_TOKEN", "")


@bp.get("/metrics")
def scrape():
    """The metrics in the Prometheus text format (token or loopback only)."""
    token = _token()
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise ApiError(401, "unauthorized", "需要指标令牌 / a metrics token is required (Authorization: Bearer)")
    elif request.remote_addr not in LOOPBACK:
        raise ApiError(403, "forbidden", "指标仅限本机访问，或配置令牌 / metrics are served to this machine only "
                                         "unless CHECKPOINT_METRICS_TOKEN is set")
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def _start() -> None:
    if request.path == contract.DEVICE_SYNC:
        g.metrics_sync_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_sync_started", None)
    if started is not None:
        metrics.SYNC_SECONDS.observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Serve /metrics and time every sync (hooks on the app, so the sync view itself stays as it is)."""
    app.register_blueprint(bp)
    app.before_request(_start)
    app.after_request(_finish)
