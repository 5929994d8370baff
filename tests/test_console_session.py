"""The console's session cookie: SameSite=Lax and HttpOnly really set, Secure when configured, 12 hours at
most, and worth nothing after logout (a copy of it included)."""

from __future__ import annotations

import re

PASSWORD = "pass-word-1"


def _login(client) -> str:
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/console/login", data={"username": "li", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302
    return answer.headers["Set-Cookie"]


def test_the_cookie_is_lax_httponly_and_bounded_and_secure_when_asked(hub_factory, monkeypatch, tmp_path) -> None:
    hub = hub_factory(testing=True)
    hub.store.create_user("li", PASSWORD, "supervisor")
    cookie = _login(hub.app.test_client())
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    assert "Expires=" in cookie and hub.app.permanent_session_lifetime.total_seconds() == 12 * 3600
    monkeypatch.setenv("CHECKPOINT_HUB_SECURE_COOKIE", "1")
    secure = hub_factory(testing=True, folder=tmp_path / "s")
    secure.store.create_user("li", PASSWORD, "supervisor")
    assert "Secure" in _login(secure.app.test_client())


def test_a_session_cookie_is_worthless_after_logout(hub_factory) -> None:
    hub = hub_factory(testing=True)
    hub.store.create_user("li", PASSWORD, "supervisor")
    client = hub.app.test_client()
    _login(client)
    stolen = client.get_cookie("session").value  # a copy, as an attacker who read it would keep
    assert client.get("/console/").status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/").get_data(as_text=True)).group(1)
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    replay = hub.app.test_client()
    replay.set_cookie("session", stolen)
    answer = replay.get("/console/")
    assert answer.status_code == 302 and "/console/login" in answer.headers["Location"]
