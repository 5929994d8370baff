"""Form login and logout; the session cookie holds the user name and the CSRF token."""

from __future__ import annotations

import logging

from flask import redirect, render_template, request, session, url_for

from server.console.access import csrf_token
from server.console.blueprint import bp
from server.db import get_store
from server.login_guard import TOO_MANY, locked_for, record_failure

log = logging.getLogger(__name__)


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
        wait = locked_for(username)  # the same lockout as the API's, per user name and source
        if wait:
            return render_template("console/error.html", status=429, message=TOO_MANY), 429, {"Retry-After": str(wait)}
        if username and password and store.check_user(username, password):
            session.clear()  # no session fixation: a new session, a new token
            session["user"] = username
            session["gen"] = store.session_generation(username)  # logout bumps it: this cookie ends then
            session.permanent = True  # an Expires of PERMANENT_SESSION_LIFETIME, checked again when read
            csrf_token()
            store.add_audit(username, "login", request.remote_addr or "", None)
            return redirect(_safe_next(request.form.get("next")))
        record_failure(username)
        error = "用户名或密码错误 / Wrong user name or password"
    return render_template("console/login.html", error=error, next=request.values.get("next", "")), (401 if error else 200)


@bp.post("/logout")
def logout():
    """End the session: this cookie and every copy of it (the user's session generation moves on)."""
    if session.get("user"):
        get_store().bump_session_generation(session["user"])
    session.clear()
    return redirect(url_for("console.login"))
