"""The hub's Flask app factory: config, schema at start-up, one blueprint per resource."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from protocols.contract import wire_json
from server import db, http_errors, login_guard, overload
from server.blueprints import access_log, alerts, device, documents, meta, roster, schedule, status, venues
from server.blueprints import metrics as metrics_bp
from server.console import init_app as init_console
from server import holder_page
from server.schedule import load_schedule_key
from server.store_engine import database_url, shown, sqlite_path

log = logging.getLogger(__name__)


class Hub(Flask):
    """Flask whose views may answer with a contract body (alone or with a status): sent as its JSON."""

    def make_response(self, rv: ResponseReturnValue) -> Any:
        """Answer a body model as the JSON of `protocols.contract.wire_json`, anything else as Flask does."""
        # pydantic-core writes the JSON straight from the model: a sync answer with 1,000 presence
        # changes costs a third of going through a dict and Flask's json.dumps.
        if isinstance(rv, BaseModel):
            rv = self.response_class(wire_json(rv), mimetype="application/json")
        elif isinstance(rv, tuple) and rv and isinstance(rv[0], BaseModel):
            rv = (self.response_class(wire_json(rv[0]), mimetype="application/json"), *rv[1:])  # type: ignore[assignment]
        return super().make_response(rv)


def _private(database: Path) -> None:
    """Make a hub database made before 0600 became the rule (and its WAL files) readable by its owner only."""
    # It holds the console's session signing key: reading it forges an admin session.
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the hub: DATABASE (a database URL or a SQLite path) from test_config, else $CHECKPOINT_DATABASE_URL,
    else $CHECKPOINT_HUB_DB, else ./hub.db."""
    app = Hub(__name__)
    app.config.from_mapping(
        DATABASE=os.environ.get("CHECKPOINT_DATABASE_URL") or os.environ.get("CHECKPOINT_HUB_DB", str(Path.cwd() / "hub.db")),
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_AS_ASCII=False,
        # The console's session cookie: Lax (set here: Flask's own default of None made a setdefault a no-op),
        # Secure when the hub is served over HTTPS ($CHECKPOINT_HUB_SECURE_COOKIE=1), and 12 hours at most.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=os.environ.get("CHECKPOINT_HUB_SECURE_COOKIE", "") in ("1", "true", "yes"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    sqlite_file = sqlite_path(app.config["DATABASE"])
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    if sqlite_file is not None:
        _private(sqlite_file)
    http_errors.register(app)
    overload.init_app(app)  # the device sync's bound of syncs in flight (server/overload.py)
    # The key the venue's schedule is signed with (server/schedule.py); loaded once, a bad file stops the app.
    app.extensions["schedule_key"] = load_schedule_key(app.config.get("SCHEDULE_KEY")
                                                       or os.environ.get("CHECKPOINT_SCHEDULE_KEY"))
    for blueprint in (device.bp, venues.bp, alerts.bp, status.bp, documents.bp, roster.bp, schedule.bp, access_log.bp,
                      meta.bp):
        app.register_blueprint(blueprint)
    init_console(app)
    # Where people's passwords are sent, and so guessed: the people's API and the console's login form.
    login_guard.init_app(app, (venues.bp, alerts.bp, status.bp, documents.bp, roster.bp, schedule.bp, access_log.bp),
                         ("console.login",))
    # Start-up runs migrations only: retention runs in the background, one hub process at a time
    # (server/retention.py, in the process server/wsgi_server.py starts beside the workers), or `checkpoint hub purge`.
    metrics_bp.init_app(app)
    holder_page.init_app(app)  # the holders' pages /h/<secret>, their misses limited on the same limiter
    log.info("hub ready on %s", shown(database_url(app.config["DATABASE"])))
    return app
