"""Writers' locks on PostgreSQL (issue 13): a write of one venue does not wait for another venue's, a second
write of the same venue waits for the first, and a write of no venue (the console's, migrations) waits for
every venue's. Checked by what PostgreSQL says is waiting (pg_locks), not by timing."""

from __future__ import annotations

import threading
import time

import pytest

from server.store import HubStore


def _waiting(store: HubStore) -> int:
    """Advisory locks some session is waiting for now."""
    return int(store.conn.exec_driver_sql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").scalar())


def _in_thread(database: str, *venues: str) -> tuple[threading.Thread, threading.Event]:
    """A write of `venues` in its own thread and connection; the event is set once it has its locks."""
    done = threading.Event()

    def run() -> None:
        store = HubStore(database)
        try:
            with store.write(*venues):
                done.set()
        finally:
            store.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def _until(predicate, limit_s: float = 20.0) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.slow
def test_venue_writes_run_beside_other_venues_and_queue_on_their_own(hub_database: str, hub_engine: str) -> None:
    if hub_engine != "postgresql":
        pytest.skip("SQLite has one writer at a time by design")
    watcher = HubStore(hub_database)
    watcher.migrate()
    holder = HubStore(hub_database)
    try:
        with holder.write("school1"):
            # Another venue's write gets its locks while school1's is open.
            other, other_done = _in_thread(hub_database, "factory1")
            assert other_done.wait(20)
            other.join(20)
            # The same venue's write and a write of no venue wait (both seen waiting by PostgreSQL).
            same, same_done = _in_thread(hub_database, "school1")
            assert _until(lambda: _waiting(watcher) == 1)
            hub_wide, hub_wide_done = _in_thread(hub_database)
            assert _until(lambda: _waiting(watcher) == 2)
            assert not same_done.is_set() and not hub_wide_done.is_set()
        # Released: both go through.
        assert same_done.wait(20) and hub_wide_done.wait(20)
        same.join(20)
        hub_wide.join(20)
        # A hub-wide write holds back a venue's write until it ends.
        with holder.write():
            later, later_done = _in_thread(hub_database, "factory1")
            assert _until(lambda: _waiting(watcher) == 1) and not later_done.is_set()
        assert later_done.wait(20)
        later.join(20)
    finally:
        holder.close()
        watcher.close()
