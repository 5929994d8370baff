"""Guessing passwords: the API (HTTP Basic) and the console's login form share one lockout per user
name AND source address, and one Flask-Limiter limit per source, its counts in the hub database.

Two defences because they stop different attacks: the lockout stops guessing one account's
password (5 failures in 10 minutes from one source lock that user name from that source, for
the console and the API alike, audited); the limit stops a source spraying many user names
(20 failed logins a minute, then 429 with Retry-After, audited). Per source, so nobody can keep
the admin locked out from everywhere by failing on purpose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.datastructures import Authorization

from protocols.clock import utc_now, utc_text
from server.db import get_store
from server.http_errors import ApiError, error_body
from server.limits_store import SCHEME

MAX_FAILURES = 5  # failed logins of one user name from one source within FAILURE_WINDOW lock it there
FAILURE_WINDOW = dt.timedelta(minutes=10)
PASSWORD_GUESSES = "20 per minute"  # failed logins (401) from one source address, any user names
TOO_MANY = "登录失败次数过多，请稍后再试 / Too many failed logins: try again later"


def _breached(limit: RequestLimit) -> None:
    get_store().add_audit("-", "login.rate_limited", get_remote_address(), None)


def init_app(app: Flask, blueprints: Iterable[Blueprint], views: Iterable[str]) -> Limiter:
    """Limit failed logins on these blueprints and views; the counters in the hub database (every worker and
    process sees the same counts). Call after the blueprints are registered.

    One Limiter per app, not a module-level one: Flask-Limiter keeps its storage on the instance, so a
    shared instance would count every app of a process (the tests build many) in the last one's database.
    """
    app.config.setdefault("RATELIMIT_STORAGE_URI", f"{SCHEME}://{app.config['DATABASE']}")
    limiter = Limiter(get_remote_address, app=app, headers_enabled=True, strategy="fixed-window",
                      on_breach=_breached)
    guesses = limiter.limit(PASSWORD_GUESSES, deduct_when=lambda response: response.status_code == 401,
                            error_message=TOO_MANY)
    for blueprint in blueprints:
        guesses(blueprint)
    for endpoint in views:
        app.view_functions[endpoint] = guesses(app.view_functions[endpoint])
    app.extensions["checkpoint_limiter"] = limiter
    return limiter


def _source() -> str:
    return request.remote_addr or ""


def locked_for(username: str) -> int:
    """Seconds to wait when this user name is locked from this source, else 0."""
    since = utc_text(utc_now() - FAILURE_WINDOW)
    if get_store().failed_logins_from(username[:64], _source(), since) >= MAX_FAILURES:
        return int(FAILURE_WINDOW.total_seconds())
    return 0


def record_failure(username: str) -> None:
    """Audit a failed login (the lockout counts these rows)."""
    get_store().add_audit(username[:64] or "-", "login.failed", _source(), None)
    current_app.logger.warning("login failed for %r from %s", username[:64], _source())


def authenticate(creds: Authorization | None) -> dict[str, Any]:
    """The user (username, role, venue) whose HTTP Basic credentials these are, else a 401 (audited) or 429."""
    if creds is None or creds.type != "basic" or not creds.username or not creds.password:
        raise ApiError(401, "unauthorized", "需要登录 / login required")
    wait = locked_for(creds.username)
    if wait:
        # abort(response): the answer as built here, Retry-After included (the JSON error shape kept).
        answer: Response = jsonify(error_body("too_many_failures", TOO_MANY))
        answer.status_code = 429
        answer.headers["Retry-After"] = str(wait)
        abort(answer)
    store = get_store()
    user = store.user(creds.username) if store.check_user(creds.username, creds.password) else None
    if user is None:
        record_failure(creds.username)
        raise ApiError(401, "unauthorized", "用户名或密码错误 / wrong user name or password")
    return user
