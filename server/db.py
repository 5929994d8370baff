"""The store connection each request uses: one per worker thread, kept open for the worker's life.

Not one per request (as in Flask's tutorial): when the last connection to a WAL database closes,
SQLite checkpoints and removes the WAL, with fsyncs, which cost ~18 ms on every request here.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from server.store import HubStore

_local = threading.local()


def get_store() -> HubStore:
    """This thread's store for the app's database (opened on first use)."""
    path = current_app.config["DATABASE"]
    stores: dict[str, HubStore] = _local.__dict__.setdefault("stores", {})
    if path not in stores:
        stores[path] = HubStore(path)
    return stores[path]


def init_app(app: Flask) -> None:
    """Create or upgrade the schema now, at start-up, never lazily under concurrent requests."""
    store = HubStore(app.config["DATABASE"])
    try:
        store.migrate()
    finally:
        store.close()
