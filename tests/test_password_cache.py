"""The hub remembers recently verified passwords by a keyed hash only (server/passwords.py): no plaintext
is kept in memory, and a changed password stops working at once in every gunicorn worker."""

from __future__ import annotations

import gc
import secrets
import sys
import types
from pathlib import Path

import pytest
import requests

from demo.processes import Processes, free_port, wait_for_port
from server import passwords
from server.passwords import hash_password, verify_password
from server.store import HubStore

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def _holders(text: str) -> list[object]:
    """Objects other than frames that hold a reference to this very string."""
    gc.collect()
    return [o for o in gc.get_referrers(text) if not isinstance(o, types.FrameType)]


def test_a_verified_password_is_remembered_without_its_plaintext() -> None:
    password = "pw-" + secrets.token_hex(8)  # made at run time: only this test and the cache could hold it
    stored = hash_password(password)
    assert verify_password(password, stored) and verify_password(password, stored)
    assert not hasattr(verify_password, "cache_info")  # the old lru_cache kept (password, stored) as its key
    assert _holders(password) == []  # nor does any other container of the hub's (a dict keyed by it, say)
    secret = password.encode()
    assert [tag for tag in passwords._verified if secret in tag or len(tag) != 32] == []  # (a loop: no closure)
    assert not verify_password(password + "x", stored)


def test_a_remembered_match_expires_and_a_new_hash_misses(monkeypatch) -> None:
    password = "pw-" + secrets.token_hex(8)
    old, new = hash_password(password), hash_password("other-" + password)
    assert verify_password(password, old)
    assert not verify_password(password, new)  # the same password against a replaced hash: scrypt again, no match
    calls = []
    monkeypatch.setattr(passwords, "_scrypt_matches", lambda p, s: calls.append(1) or True)
    assert verify_password(password, old) and calls == []  # remembered
    monkeypatch.setattr(passwords, "VERIFIED_TTL", 0.0)
    passwords.forget_verified()
    assert verify_password(password, old) and verify_password(password, old) and len(calls) == 2  # TTL 0: never remembered


@pytest.mark.slow  # a real gunicorn
def test_a_changed_password_stops_working_at_once_in_every_worker(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    store = HubStore(db)
    store.migrate()
    store.create_user("li", "old-pass-word-1", "admin")
    procs = Processes()
    port = free_port()
    procs.start("hub", [*CLI, "hub", "serve", "--db", str(db), "--port", str(port), "--workers", "2"], quiet=True)
    try:
        wait_for_port(port, 30)
        url = f"http://127.0.0.1:{port}/api/v1/venues"
        close = {"Connection": "close"}  # a new connection each time, so both workers remember the old password
        assert [requests.get(url, auth=("li", "old-pass-word-1"), headers=close).status_code
                for _ in range(8)] == [200] * 8
        store.create_user("li", "new-pass-word-2", "admin")  # the password changed by another process
        assert [requests.get(url, auth=("li", "old-pass-word-1"), headers=close).status_code
                for _ in range(4)] == [401] * 4  # 4: below the lockout's 5
        assert [requests.get(url, auth=("li", "new-pass-word-2"), headers=close).status_code
                for _ in range(6)] == [200] * 6
    finally:
        procs.stop_all()
