"""One JSON error shape for every HTTP error the hub returns: {"error": {"reason", "message"}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from protocols.errors import CheckpointError

log = logging.getLogger(__name__)


class ApiError(CheckpointError):
    """An error answered to an HTTP client with a status, a stable reason and a bilingual message."""

    def __init__(self, status: int, reason: str, message: str, details: list | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message, reason=reason)
        self.status = status
        self.message = message
        self.details = details  # e.g. one entry per bad row of an import
        self.headers = headers or {}  # e.g. Retry-After on a 503


def error_body(reason: str, message: str, details: list | None = None) -> dict:
    """The body of every error response."""
    body: dict = {"error": {"reason": reason, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def register(app: Flask) -> None:
    """Install the handlers that turn errors into the JSON shape."""

    @app.errorhandler(ApiError)
    def _api(exc: ApiError):
        return jsonify(error_body(exc.reason, exc.message, exc.details)), exc.status, exc.headers

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        details = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()[:20]]
        return jsonify(error_body("invalid_body", "请求内容无效 / invalid request body", details)), 422

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        reason = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify(error_body(reason, exc.description or exc.name))
        response.status_code = exc.code or 500
        if exc.code == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="checkpoint hub"'
        return response
