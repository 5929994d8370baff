"""The hub's OpenAPI document and a health check."""

from __future__ import annotations

import json
from importlib import resources

from flask import Blueprint, Response, jsonify

bp = Blueprint("meta", __name__)


def openapi_text() -> str:
    """The OpenAPI document kept in protocols/openapi.json."""
    return resources.files("protocols").joinpath("openapi.json").read_text(encoding="utf-8")


@bp.get("/openapi.json")
def openapi():
    """Serve the OpenAPI document of the whole API."""
    return Response(openapi_text(), content_type="application/json")


@bp.get("/healthz")
def healthz():
    """Alive, and the document is well-formed."""
    return jsonify({"ok": True, "openapi": json.loads(openapi_text())["info"]["version"]})
