"""Form login and logout; the session cookie holds the user name and the CSRF token."""

from __future__ import annotations

import datetime as dt
import logging

from flask import redirect, render_template, request, session, url_for

from protocols.clock import utc_now, utc_text
from server.console.access import csrf_token
from server.console.blueprint import ConsoleError, bp
from server.db import get_store

log = logging.getLogger(__name__)
MAX_FAILURES = 5  # failed logins per user name within FAILURE_WINDOW before it is locked for the rest of it
FAILURE_WINDOW = dt.timedelta(minutes=10)


def _safe_next(target: str | None) -> str:
    # Only back into the console: never an open redirect to another site.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success a fresh session (new CSRF token) and back to where the user was going."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        store = get_store()
        if store.failed_logins(username[:64], utc_text(utc_now() - FAILURE_WINDOW)) >= MAX_FAILURES:
            raise ConsoleError(429, "登录失败次数过多，请 10 分钟后再试 / Too many failed logins: try again in 10 minutes")
        if username and password and store.check_user(username, password):
            session.clear()  # no session fixation: a new session, a new token
            session["user"] = username
            csrf_token()
            store.add_audit(username, "login", request.remote_addr or "", None)
            return redirect(_safe_next(request.form.get("next")))
        store.add_audit(username[:64] or "-", "login.failed", request.remote_addr or "", None)
        log.warning("console login failed for %r", username[:64])
        error = "用户名或密码错误 / Wrong user name or password"
    return render_template("console/login.html", error=error, next=request.values.get("next", "")), (401 if error else 200)


@bp.post("/logout")
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("console.login"))
