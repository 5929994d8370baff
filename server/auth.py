"""Who is calling: a device by its bearer credential, a person by HTTP Basic (or the console's session
cookie) with a role, and the one venue-scope rule the API and the console both apply."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import g, request, session

from server.db import get_store
from server.http_errors import ApiError

ROLES = {"admin": 3, "supervisor": 2, "guard": 1}
OUT_OF_SCOPE = "无权访问该场所 / This venue is outside your scope"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRF-Token"  # the console's CSRF token, required of a session's unsafe API calls


def session_user() -> dict[str, Any] | None:
    """The console user this request's session cookie signs in; None without one or once signed out since."""
    username = session.get("user")
    if not username:
        return None
    store = get_store()
    user = store.user(username)
    if user is None or session.get("gen") != store.session_generation(username):
        return None  # removed, or signed out since (a copied cookie of an ended session is worth nothing)
    return user


def session_csrf_ok(sent: str | None) -> bool:
    """Whether `sent` is this session's CSRF token (the console's forms and the API's X-CSRF-Token)."""
    expected = session.get("csrf")
    return bool(sent and expected and hmac.compare_digest(sent, expected))


def in_scope(bound: str | None, venue: str | None) -> bool:
    """The one venue-scope rule: a user bound to a venue reaches only it; an unbound user reaches every venue.

    `venue` None means "no venue named" (a hub-wide list): only an unbound user may ask for that
    unfiltered; callers narrow a bound user's list to their venue instead of asking here.
    """
    return bound is None or venue == bound


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def device_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a device credential; the device (and so its gate) is in g.device."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = _bearer()
        device = get_store().device_for_secret(token) if token else None
        if device is None:
            raise ApiError(401, "unauthorized", "设备凭据无效 / missing or invalid device credential")
        g.device = device
        return view(*args, **kwargs)

    return wrapped


def audit(action: str, target: str, venue: str | None = None) -> None:
    """Write who (the API user in g.user) read or changed what, in the console's audit trail."""
    get_store().add_audit(g.user, action, target[:500], venue)


def check_venue(venue: str | None) -> None:
    """Refuse (403, audited) a venue outside the API user's scope."""
    if not in_scope(g.user_venue, venue):
        audit("api.out_of_scope", f"{request.method} {request.path}"[:500], venue)
        raise ApiError(403, "out_of_scope", OUT_OF_SCOPE)


def scoped_venue(venue: str | None) -> str | None:
    """The venue a list is filtered to: the one asked for (checked), else a bound user's own venue."""
    check_venue(venue if venue is not None else g.user_venue)
    return venue if venue is not None else g.user_venue


def role_required(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a person with at least this role (HTTP Basic, else the console's session); g.user and
    g.user_venue are set. A session's unsafe methods also need its CSRF token (header X-CSRF-Token).

    A view with a `venue_id` in its URL is refused (403) for a user bound to another venue,
    before the view runs, by the same rule the console applies (`in_scope`).
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            from server.login_guard import authenticate  # the brute-force guard sits beside the console's lockout

            user = session_user() if request.authorization is None else None
            if user is None:
                user = authenticate(request.authorization)
            elif request.method not in SAFE_METHODS and not session_csrf_ok(request.headers.get(CSRF_HEADER)):
                # A cookie rides along with any site's form post (SameSite=Lax stops most, not all):
                # a change made on the session alone needs the console's token, which no other site can read.
                raise ApiError(403, "csrf", f"缺少或错误的 {CSRF_HEADER} / missing or wrong {CSRF_HEADER} for a session")
            if ROLES.get(user["role"], 0) < ROLES[role]:
                raise ApiError(403, "forbidden", "权限不足 / your role may not do this")
            g.user = user["username"]
            g.user_venue = user["venue"]
            if "venue_id" in kwargs:
                check_venue(kwargs["venue_id"])
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by the route tables of the tests
        return wrapped

    return decorator
