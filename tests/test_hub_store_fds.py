"""A hub store gives back its file descriptors: when closed, and when nobody closed it (a worker thread's
store dies with its thread, server/db.py). A leak of one lock file per such store took a long test run
past fd 1024, where select() in paho-mqtt and pyserial fails."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

from flask import Flask

from server.db import get_store
from server.store import HubStore


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stores_closed_or_dropped_leave_no_descriptor_open(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    HubStore(db).migrate()  # dropped unclosed: collected with its descriptors
    gc.collect()
    before = open_fds()
    for _ in range(20):
        store = HubStore(db)
        store.occupancy("none")
        store.close()
        store.close()  # twice is harmless
        HubStore(db).occupancy("none")  # never closed
    app = Flask(__name__)
    app.config["DATABASE"] = db

    def request_thread() -> None:
        with app.app_context():
            get_store().occupancy("none")  # the thread's store, left for the thread's end

    threads = [threading.Thread(target=request_thread) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.collect()
    assert open_fds() == before
