"""Checking a person's password, for the API (HTTP Basic) and the console's login form alike."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import Authorization

from server.db import get_store
from server.http_errors import ApiError


def authenticate(creds: Authorization | None) -> dict[str, Any]:
    """The user (username, role, venue) whose HTTP Basic credentials these are, else a 401."""
    if creds is not None and creds.type == "basic" and creds.username and creds.password:
        store = get_store()
        if store.check_user(creds.username, creds.password):
            user = store.user(creds.username)
            if user is not None:
                return user
    raise ApiError(401, "unauthorized", "需要登录 / login required")
