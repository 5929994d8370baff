"""kill -9 of the agent in the middle of a run of decisions: every decision that reached the relay
or the screen is in the store after a restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
ENV = {**os.environ, "CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_LOG": "WARNING"}


def simulate(store: Path, journal: Path, people: int, pace: float) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "agent", "simulate", "--people", str(people), "--pace", str(pace), "--store", str(store),
         "--journal-dir", str(journal), "--seed", "5"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def journal_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut by the kill: nothing was shown or driven for it
    return lines


def shown_and_driven(journal: Path) -> tuple[set[str], set[str]]:
    screens = {s["event_id"] for s in journal_lines(journal / "screens.jsonl") if s.get("event_id")}
    opened = {r["reason"].split()[1] for r in journal_lines(journal / "relay.jsonl")
              if r["state"] == "open" and r["reason"].startswith("admit ")}
    return screens, opened


def stored_ids(store: Path) -> tuple[set[str], set[str]]:
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        events = {r[0] for r in conn.execute("SELECT id FROM events")}
        outbox = {r[0] for r in conn.execute("SELECT event_id FROM outbox")}
    finally:
        conn.close()
    return events, outbox


@pytest.mark.slow
def test_kill_9_mid_run_loses_no_decision_that_was_shown_or_opened_the_barrier(tmp_path):
    store, journal = tmp_path / "agent.sqlite", tmp_path / "journal"
    proc = simulate(store, journal, people=0, pace=0.0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screens, opened = shown_and_driven(journal)
            if len(screens) >= 4 and len(opened) >= 1:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        else:
            raise AssertionError("the simulation made too few decisions to test")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    screens, opened = shown_and_driven(journal)
    events, outbox = stored_ids(store)
    assert opened <= screens | events
    assert screens <= events, f"shown but not stored: {screens - events}"
    assert opened <= events, f"barrier opened but not stored: {opened - events}"
    assert events == outbox  # every event waits in the outbox for the sync client

    # Restart on the same store: it opens, keeps everything, and goes on deciding.
    again = simulate(store, journal, people=1, pace=0.0)
    out, err = again.communicate(timeout=90)
    assert again.returncode == 0, err
    after, outbox_after = stored_ids(store)
    assert events < after and after == outbox_after
    assert "放行 ADMIT" in out or "拒绝 DENY" in out
