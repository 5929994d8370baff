"""A corrupt hub database or an unusable gate config is one line naming the file (and the key),
exit status 2, no traceback (issue 9, Low); each through the real command in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from demo.processes import free_port
from server.store import HubStore

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
ENV = {**os.environ, "CHECKPOINT_SUBJECT_KEY": "0123456789abcdef0123456789abcdef",
       "CHECKPOINT_ADMIN_PASSWORD": "Very-strong-pass-9x!"}
pytestmark = pytest.mark.slow  # a subprocess per case


def checkpoint(*args: str | Path) -> subprocess.CompletedProcess:
    """Run `checkpoint ...` as a person would, output captured."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=60, env=ENV)


def assert_one_clear_line(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, no traceback, and every word (the file, the key) in what it printed."""
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out, out
    for word in words:
        assert word in out, out


def a_hub_db(path: Path) -> Path:
    """A real hub database with one venue, its WAL folded in."""
    store = HubStore(path)
    store.migrate()
    store.create_venue("v1", {"cap": 5})
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def garbage(tmp: Path) -> Path:
    path = tmp / "garbage.db"
    path.write_bytes(os.urandom(8192))
    return path


def truncated(tmp: Path) -> Path:
    whole = a_hub_db(tmp / "whole.db").read_bytes()
    path = tmp / "truncated.db"
    path.write_bytes(whole[:20000])
    return path


def damaged_inside(tmp: Path) -> Path:
    """Header and schema intact, the venues table's page overwritten: fails only when a query reaches it."""
    path = a_hub_db(tmp / "damaged.db")
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'venues'").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * page)
    return path


HUB_COMMANDS = [["status", "--venue", "v1"], ["purge"], ["init"], ["serve", "--port", "0"]]
# A file damaged past its schema fails only in commands that read the damaged table (not init, serve).
HUB_CASES = [(make, command) for make in (garbage, truncated) for command in HUB_COMMANDS] + [
    (damaged_inside, command) for command in HUB_COMMANDS[:2]]


@pytest.mark.parametrize(("make", "command"), HUB_CASES)
def test_a_corrupt_hub_database_is_named_without_a_traceback(tmp_path, make, command) -> None:
    db = make(tmp_path)
    if command[0] == "serve":
        command = ["serve", "--port", str(free_port())]
    assert_one_clear_line(checkpoint("hub", *command, "--db", db), str(db), "not a usable hub database")


BAD_CONFIGS = {
    "random bytes": (b"\xc4\x01\x9f" + bytes(range(256)), ["not UTF-8 text"]),
    "invalid UTF-8": ('[gate]\nvenue = "v"\ngate = "'.encode() + b"\xff\xfe\"\n", ["not UTF-8 text"]),
    "a wrong type": (b'[gate]\nvenue = 5\ngate = "g"\n', ["gate.venue", "valid string"]),
    "a section of the wrong type": (b"gate = 5\n", ["gate:"]),
    "a wrong type deeper": (b'[gate]\nvenue = "v"\ngate = "g"\n[measure]\nrest_s = "long"\n', ["measure.rest_s"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", [["run"], ["simulate", "--people", "1"]])
def test_an_unusable_agent_config_names_the_file_and_key(tmp_path, case, command) -> None:
    body, words = BAD_CONFIGS[case]
    path = tmp_path / "agent.toml"
    path.write_bytes(body)
    assert_one_clear_line(checkpoint("agent", *command, "--config", path), str(path), *words)
