"""Who is calling: a device by its bearer credential, a person by HTTP Basic with a role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from server.db import get_store
from server.http_errors import ApiError

ROLES = {"admin": 3, "supervisor": 2, "guard": 1}


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


def role_required(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a person with at least this role (HTTP Basic); the username is in g.user."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            creds = request.authorization
            got = None
            if creds is not None and creds.type == "basic" and creds.username and creds.password:
                got = get_store().check_user(creds.username, creds.password)
            if got is None:
                raise ApiError(401, "unauthorized", "需要登录 / login required")
            if ROLES.get(got, 0) < ROLES[role]:
                raise ApiError(403, "forbidden", "权限不足 / your role may not do this")
            g.user = creds.username
            return view(*args, **kwargs)

        return wrapped

    return decorator
