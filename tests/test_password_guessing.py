"""Guessing people's passwords against the hub under gunicorn (2 workers): the per-source limit
answers 429 with Retry-After after 20 failed logins whichever worker took them, every failure and
breach is audited, and a user name the console locked cannot log in through the API either."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import requests

from demo.processes import Processes, free_port, wait_for_port
from server.login_guard import MAX_FAILURES
from server.store import HubStore

pytestmark = pytest.mark.slow  # a real gunicorn

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
PASSWORD = "pass-word-1"
LIMIT = 20  # server.login_guard.PASSWORD_GUESSES


@pytest.fixture
def served(hub_database: str):
    """The hub under `checkpoint hub serve --workers 2`, with two users; its URL and store."""
    db = hub_database
    store = HubStore(db)
    store.migrate()
    for user in ("admin", "li"):
        store.create_user(user, PASSWORD, "admin")
    procs = Processes()
    port = free_port()
    procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port), "--workers", "2"], quiet=True)
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}", store
    finally:
        procs.stop_all()


def test_guesses_over_many_user_names_get_429_with_retry_after_across_workers_and_are_audited(served) -> None:
    url, store = served
    session = requests.Session()
    statuses = []
    for i in range(LIMIT + 10):
        # A new connection each time (no keep-alive), so the guesses spread over both workers.
        answer = requests.get(f"{url}/api/v1/venues", auth=(f"user{i}", "guess"), headers={"Connection": "close"})
        statuses.append(answer.status_code)
    assert statuses[:LIMIT] == [401] * LIMIT
    assert set(statuses[LIMIT:]) == {429}, statuses  # with per-worker memory counts, 2 x 20 would pass
    last = requests.get(f"{url}/api/v1/venues", auth=("admin", PASSWORD))
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0
    actions = [r["action"] for r in store.audit_log(1000)]
    assert actions.count("login.failed") == LIMIT and "login.rate_limited" in actions
    session.close()


def test_a_user_the_console_locked_cannot_log_in_through_the_api_and_back(served) -> None:
    url, store = served
    console = requests.Session()
    for _ in range(MAX_FAILURES):
        page = console.get(f"{url}/console/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        answer = console.post(f"{url}/console/login", data={"username": "li", "password": "guess", "csrf_token": token},
                              allow_redirects=False)
        assert answer.status_code == 401
    api = requests.get(f"{url}/api/v1/venues", auth=("li", PASSWORD))  # the right password, but locked
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0
    assert requests.get(f"{url}/api/v1/venues", auth=("admin", PASSWORD)).status_code == 200  # other users are not
    # And the other way round: API failures lock the console login of that user name.
    for _ in range(MAX_FAILURES):
        assert requests.get(f"{url}/api/v1/venues", auth=("admin", "guess")).status_code == 401
    page = console.get(f"{url}/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = console.post(f"{url}/console/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False)
    assert answer.status_code == 429 and "Retry-After" in answer.headers
    assert [r["target"] for r in store.audit_log(1000) if r["action"] == "login.failed"] == ["127.0.0.1"] * 10


def test_the_lockout_is_per_source_so_a_stranger_cannot_lock_the_admin_out_everywhere(hub_factory) -> None:
    hub = hub_factory(testing=True)
    hub.store.create_user("admin", PASSWORD, "admin")
    client = hub.app.test_client()
    stranger = {"REMOTE_ADDR": "10.0.0.66"}
    for _ in range(MAX_FAILURES + 1):
        client.get("/api/v1/venues", auth=("admin", "guess"), environ_base=stranger)
    assert client.get("/api/v1/venues", auth=("admin", PASSWORD), environ_base=stranger).status_code == 429
    assert client.get("/api/v1/venues", auth=("admin", PASSWORD),
                      environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 200


def test_the_console_login_form_counts_against_the_same_per_source_limit(hub_factory) -> None:
    client = hub_factory(testing=True).app.test_client()
    statuses = []
    for i in range(LIMIT):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True))
        data = {"username": f"user{i}", "password": "guess", "csrf_token": token.group(1)}
        statuses.append(client.post("/console/login", data=data).status_code)
    assert statuses == [401] * LIMIT
    refused = client.get("/console/login")  # the form itself is refused for the rest of the window
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
