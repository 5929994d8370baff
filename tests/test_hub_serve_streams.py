"""Open console tabs do not hold the hub: `hub serve` answers gates while supervisors follow the live stream.

The console's alert stream holds its request for up to 25 s (server/console/alerts.py). Under gunicorn's
sync workers two open tabs held both workers of a 2-worker hub, and every gate's sync waited behind them;
with threads per worker the hub answers while both streams are still open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from bench.alert_latency import sign_in
from demo.processes import free_port, wait_for_port
from server.store import HubStore

pytestmark = pytest.mark.slow  # a real `hub serve`
PASSWORD = "pass-word-1"


def test_two_console_streams_do_not_hold_a_two_worker_hub(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    store = HubStore(str(db))
    store.migrate()
    store.create_venue("v1", {})
    store.create_user("duty", PASSWORD, "supervisor")
    store.set_user_venue("duty", "v1")
    store.close()
    port = free_port()
    hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve", "--db", str(db),
                            "--port", str(port), "--workers", "2"], start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, 60)
        tabs = [sign_in(url, "duty", PASSWORD) for _ in range(2)]
        opened = threading.Barrier(3)

        def follow(session: requests.Session) -> None:
            with session.get(url + "/console/alerts/stream", stream=True, timeout=60) as answer:
                lines = answer.iter_lines(decode_unicode=True)
                next(lines)  # the stream's first line (its retry:) has come: it holds its request from now on
                opened.wait(30)
                for _ in lines:
                    pass

        streams = [threading.Thread(target=follow, args=(tab,), daemon=True) for tab in tabs]
        for s in streams:
            s.start()
        opened.wait(30)
        answer = requests.get(url + "/healthz", timeout=60)
        assert answer.status_code == 200
        # Answered while both streams still held their requests (they end after 25 s), not after one ended.
        assert all(s.is_alive() for s in streams)
    finally:
        os.killpg(hub.pid, signal.SIGINT)
        hub.wait(timeout=30)  # a stop waits for the streams 5 s at most (graceful_timeout)
