"""The store connection each request uses: one per worker thread, kept open for the worker's life.

Not one per request (as in Flask's tutorial): when the last connection to a WAL database closes,
SQLite checkpoints and removes the WAL, with fsyncs, which cost ~18 ms on every request here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask, current_app

from server.store import HubStore

_local = threading.local()


# A worker serves one database; a process that builds many apps (the tests, a CLI looping over hubs) must
# not keep a connection, and its file descriptors, open for every database it ever served.
STORES_PER_THREAD = 4


def get_store() -> HubStore:
    """This thread's store for the app's database (opened on first use; the least recently used closed past a few)."""
    path = current_app.config["DATABASE"]
    stores: OrderedDict[str, HubStore] = _local.__dict__.setdefault("stores", OrderedDict())
    if path in stores:
        stores.move_to_end(path)
        return stores[path]
    while len(stores) >= STORES_PER_THREAD:
        _, oldest = stores.popitem(last=False)
        oldest.close()
    stores[path] = HubStore(path)
    return stores[path]


def init_app(app: Flask) -> None:
    """Create or upgrade the schema now, at start-up, never lazily under concurrent requests."""
    store = HubStore(app.config["DATABASE"])
    try:
        store.migrate()
    finally:
        store.close()
