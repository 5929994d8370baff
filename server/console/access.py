"""Who is using the console: session login, roles, venue scope, CSRF tokens and the audit trail."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from flask import g, redirect, request, session, url_for

from server.auth import OUT_OF_SCOPE, ROLES, in_scope, session_csrf_ok, session_user
from server.console.blueprint import ConsoleError, bp
from server.db import get_store

ROLE_NAMES = {"admin": "管理员 admin", "supervisor": "主管 supervisor", "guard": "门卫 guard"}


def csrf_token() -> str:
    """This session's CSRF token (made on first use); every POST form carries it."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "console_user": g.get("console_user"), "role_names": ROLE_NAMES,
            "can": can}


@bp.before_request
def _load_user_and_check_csrf() -> None:
    g.console_user = session_user()
    if g.console_user is None and session.get("user"):
        session.clear()  # removed or signed out since: the session ends with it
    if request.method == "POST":
        if not session_csrf_ok(request.form.get("csrf_token")):
            raise ConsoleError(400, "表单已失效，请刷新页面重试 / The form has expired or is forged (CSRF): reload and try again")


def can(role: str) -> bool:
    """Whether the signed-in user has at least this role."""
    user = g.get("console_user")
    return user is not None and ROLES.get(user["role"], 0) >= ROLES[role]


def login_required(role: str = "guard") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a signed-in user with at least this role; otherwise the login page (or 403)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("console_user") is None:
                return redirect(url_for("console.login", next=request.full_path))
            if not can(role):
                raise ConsoleError(403, "权限不足 / Your role may not open this page")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def allowed_venues() -> list[dict[str, Any]]:
    """The venues the user may see: their own, or every venue when they are bound to none."""
    venues = get_store().venues()
    bound = g.console_user["venue"]
    return [v for v in venues if in_scope(bound, v["id"])]


def check_venue(venue: str | None) -> None:
    """Refuse (403, audited) a venue outside the user's scope, by the API's rule (`server.auth.in_scope`).

    None is "no venue named": the callers have already narrowed it to the user's own venue.
    """
    if venue is not None and not in_scope(g.console_user["venue"], venue):
        audit("console.out_of_scope", f"{request.method} {request.path}"[:500], venue)
        raise ConsoleError(403, OUT_OF_SCOPE)


def audit(action: str, target: str, venue: str | None = None) -> None:
    """Write who viewed or changed what, and when."""
    get_store().add_audit(g.console_user["username"], action, target, venue)
