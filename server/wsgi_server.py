"""Gunicorn, embedded: the hub's production WSGI server (2 workers measured 1,250 req/s of 100-event batches).

Each worker also runs the retention thread (server/retention.py: one process of the hub purges at a time,
under a lock row) and writes its Prometheus values into $PROMETHEUS_MULTIPROC_DIR, which is set here,
before the workers fork, to a fresh folder unless the operator gave one (server/metrics.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

RETENTION_INTERVAL_ENV = "CHECKPOINT_RETENTION_INTERVAL_S"  # seconds between purges; 0: no background purge


def _worker_exit(_server: Any, worker: Any) -> None:
    # A dead worker's live gauges must stop counting (prometheus-client's multiprocess rule).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class HubServer(BaseApplication):
    """A gunicorn application that builds the hub in each worker with the app factory."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the app (in the worker, after the fork: no SQLite connection crosses a fork), start retention."""
        from server.app import create_app
        from server.retention import DEFAULT_INTERVAL_S, RetentionWorker

        app = create_app()
        interval = float(os.environ.get(RETENTION_INTERVAL_ENV, DEFAULT_INTERVAL_S))
        if interval > 0:
            RetentionWorker(app.config["DATABASE"], interval_s=interval).start()
        return app


def run_gunicorn(host: str, port: int, workers: int = 2) -> None:
    """Serve until SIGINT/SIGTERM."""
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before any worker imports prometheus-client: the folder decides its mode at import.
        made = tempfile.mkdtemp(prefix="checkpoint-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        HubServer({
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "control_socket_disable": True,  # gunicorn 27 would create ~/.gunicorn/gunicorn.ctl
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 30,
            "backlog": 2048,
            "child_exit": _worker_exit,
        }).run()
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
