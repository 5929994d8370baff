"""`checkpoint hub serve` purges in the background, in one process beside its workers (issue 13): the hub
answers before any purge, the purge deletes what is past retention, and it ends with the hub. Both engines."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from demo.processes import Processes, free_port, wait_for_port
from server.store import HubStore
from tests.test_console_routes import gate_event

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def _children(pid: int) -> list[str]:
    """The command lines of a process's descendants."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,args=", "-e"], capture_output=True, text=True, check=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines() if line.strip()]
    found, frontier = [], {str(pid)}
    while frontier:
        step = [r for r in rows if r[1] in frontier]
        found += [r[2] for r in step]
        frontier = {r[0] for r in step}
    return found


@pytest.mark.slow
def test_serve_answers_first_and_one_process_purges_past_retention(hub_database: str) -> None:
    store = HubStore(hub_database)
    store.migrate()
    store.create_venue("school1", {"cap": 10})
    store.create_gate("school1", "north", direction="in")
    store.set_venue_console("school1", None, None, 21)
    now = dt.datetime.now(dt.timezone.utc)
    store.ingest([gate_event("school1", "north", now - dt.timedelta(days=30), subject="a1" * 16),
                  gate_event("school1", "north", now - dt.timedelta(hours=1), subject="a2" * 16)])
    assert store.event_count("school1") == 2
    port = free_port()
    procs = Processes()
    env = {**os.environ, "CHECKPOINT_DATABASE_URL": hub_database, "CHECKPOINT_RETENTION_FIRST_S": "2",
           "CHECKPOINT_RETENTION_INTERVAL_S": "1"}
    procs.start("hub", [*CLI, "hub", "serve", "--port", str(port), "--workers", "2"], quiet=True, env=env)
    try:
        wait_for_port(port, 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
        # The hub answered before its first purge: the old event is still there.
        assert store.event_count("school1") == 2
        deadline = time.monotonic() + 30
        while store.event_count("school1") != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.event_count("school1") == 1  # the 30-day-old one went, the recent one stays
        purgers = [c for c in _children(procs.procs["hub"].pid) if "server.retention_process" in c]
        assert len(purgers) == 1, purgers  # one beside the two workers, not one in each
    finally:
        procs.stop_all()
        store.close()
