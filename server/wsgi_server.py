"""Gunicorn, embedded: the hub's production WSGI server (2 workers measured 1,250 req/s of 100-event batches).

The app is built once, in the master, before the workers fork (`preload_app`): the imports and the app
factory cost about a second of CPU, paid once instead of once per worker, so a hub answers sooner after
a start (bench/serve_start.py). The factory closes every connection it opens, so none crosses the fork;
each worker opens its own at its first request (server/db.py).

Retention runs in one process beside the workers (server/retention_process.py), not in each of them.
Every worker writes its Prometheus values into $PROMETHEUS_MULTIPROC_DIR, which is set here, before the
workers fork, to a fresh folder unless the operator gave one (server/metrics.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from server.retention_process import INTERVAL_ENV as RETENTION_INTERVAL_ENV


def _worker_exit(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must stop counting (prometheus-client's multiprocess rule).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class HubServer(BaseApplication):
    """A gunicorn application that builds the hub once with the app factory, for every worker it forks."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the app (in the master, `preload_app`: it leaves no connection open to cross the fork)."""
        from server.app import create_app

        return create_app()


def start_retention() -> subprocess.Popen | None:
    """The retention process beside the workers (server/retention_process.py); None when turned off (interval 0)."""
    if float(os.environ.get(RETENTION_INTERVAL_ENV) or 1) <= 0:
        return None
    return subprocess.Popen([sys.executable, "-m", "server.retention_process"])


def stop_retention(proc: subprocess.Popen | None) -> None:
    """End the retention process (it stops between batches: each is its own transaction)."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


THREADS = 8  # per worker: console streams, slow clients, syncs, and the shed answers of a burst (server/overload.py)


def run_gunicorn(host: str, port: int, workers: int = 2, threads: int = THREADS) -> None:
    """Serve until SIGINT/SIGTERM."""
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before any worker imports prometheus-client: the folder decides its mode at import.
        made = tempfile.mkdtemp(prefix="checkpoint-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    retention = start_retention()
    try:
        HubServer({
            "bind": f"{host}:{port}",
            "workers": workers,
            # Threads, not sync workers: the console's live stream (server/console/alerts.py) holds its request
            # for up to 25 s, and under sync workers two open console tabs held both workers, every gate's sync
            # waiting ~24 s behind them (measured). Each thread has its own store connection (server/db.py).
            # They also let each worker see a burst of syncs (a sync worker left them in the socket's backlog,
            # unseen, until the gates timed out) and answer those past its bound with 503 at once.
            "worker_class": "gthread",
            "threads": threads,
            "control_socket_disable": True,  # gunicorn 27 would create ~/.gunicorn/gunicorn.ctl
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 30,
            # A stop waits this long for requests in flight: a console's stream would hold it 25 s; a sync cut
            # here is rolled back and sent again by its gate (events are stored once by id).
            "graceful_timeout": 5,
            "backlog": 2048,
            "child_exit": _worker_exit,
            "preload_app": True,
        }).run()
    finally:
        stop_retention(retention)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
