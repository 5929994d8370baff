"""Console sessions and rate limits hold across hub processes: two hub apps on one database (each its own
app, store and limiter, as two `hub serve` processes behind a load balancer are) on both engines.

Flask's session is a cookie signed with the console key, which the hub keeps in its database
(`settings.console_secret_key`), so any hub process reads a cookie another signed; logout and the
per-source login limits are rows in that database too, so they count on every process.
"""

from __future__ import annotations

import re

from server.app import create_app

PASSWORD = "pass-word-1"
LIMIT = 20  # server.login_guard.PASSWORD_GUESSES


def _token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True)).group(1)


def test_a_session_made_by_one_hub_process_is_good_on_another_until_logout(hub_factory) -> None:
    one = hub_factory(testing=True)
    one.store.create_user("li", PASSWORD, "supervisor")
    other = create_app({"DATABASE": one.db, "TESTING": True})
    a, b = one.app.test_client(), other.test_client()
    assert a.post("/console/login", data={"username": "li", "password": PASSWORD, "csrf_token": _token(a)}).status_code == 302
    b.set_cookie("session", a.get_cookie("session").value)
    assert b.get("/console/").status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', b.get("/console/").get_data(as_text=True)).group(1)
    assert b.post("/console/logout", data={"csrf_token": token}).status_code == 302
    # Logged out on the second process: the first one's copy of the cookie is worth nothing either.
    answer = a.get("/console/")
    assert answer.status_code == 302 and "/console/login" in answer.headers["Location"]


def test_failed_logins_count_once_over_two_hub_processes(hub_factory) -> None:
    one = hub_factory(testing=True)
    apps = [one.app, create_app({"DATABASE": one.db, "TESTING": True})]
    clients = [app.test_client() for app in apps]
    statuses = []
    for i in range(LIMIT):
        client = clients[i % 2]
        data = {"username": f"user{i}", "password": "guess", "csrf_token": _token(client)}
        statuses.append(client.post("/console/login", data=data).status_code)
    assert statuses == [401] * LIMIT  # with a per-process count each would allow 20: 40 guesses
    for client in clients:
        refused = client.get("/console/login")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
