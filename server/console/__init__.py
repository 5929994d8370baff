"""The supervisors' console: server-rendered pages under /console (login, overview, denials,
visitors, daily reports, audit), Simplified Chinese first with English beside it."""

from __future__ import annotations

import logging
import secrets
from zoneinfo import ZoneInfo

from flask import Flask, redirect, url_for

from server.console.blueprint import bp
from server.store import HubStore

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the console; the session key is kept in the database so every worker shares it."""
    # Imported for their routes on bp.
    from server.console import (admin, alerts, controls, denials, fleet, holder_links, leases, login,  # noqa: F401
                                overview, report_views, roster, status_views, trace_views, visitors)

    app.config.setdefault("CONSOLE_TZ", "Asia/Shanghai")
    ZoneInfo(app.config["CONSOLE_TZ"])  # an unknown zone stops the app at start, not at the first page
    if not app.secret_key:
        store = HubStore(app.config["DATABASE"])
        try:
            app.secret_key = store.setting("console_secret_key", secrets.token_hex(32))
        finally:
            store.close()
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", root)


def root():
    """The hub's front page is the console (it was a JSON 404 to a person typing the hub's address)."""
    return redirect(url_for("console.overview"))
