"""Retention: events past a venue's retention days are deleted, their counts kept; other personal fields purged.

Contact tracing needs 21-28 days (POLICY.md §5); after that a venue's events are deleted (their figures
were counted into the per-hour counters when each was stored, server/store_counts.py, so daily reports
of old days still add up and storage stays at retention x daily volume), with their reviews. The
subjects of reservations and the visitor, host, purpose and staff names of visits that ended before
then are nulled. Audit rows keep who did what and when; their query strings keep only the parameter
names and login rows lose their source address (rows of no venue: after the default 28 days).
Anti-passback presence rows go after a day. Every table is changed in batches of `PURGE_BATCH` rows,
one short write transaction each.

It runs in the background (`RetentionWorker`, in one process beside each `hub serve`'s workers:
server/retention_process.py), never at start-up: a lock row (`HubStore.try_lock`) lets one process of the
hub purge at a time, however many hub machines share the database; the others skip their turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import Any

from protocols.clock import utc_now, utc_text
from protocols.events import PRESENCE_WINDOW_MAX
from server import metrics
from server.store import HubStore

log = logging.getLogger(__name__)
DEFAULT_RETENTION_DAYS = 28


def retention_days(venue: dict[str, Any]) -> int:
    """The venue's retention in days (its setting, else 28)."""
    days = venue.get("retention_days")
    return int(days) if days else DEFAULT_RETENTION_DAYS


def purge(store: HubStore, now: dt.datetime | None = None) -> dict[str, int]:
    """Null personal fields of every venue's events older than its retention; events purged per venue."""
    now = now or utc_now()
    purged: dict[str, int] = {}
    for venue in store.venues():
        before = now - dt.timedelta(days=retention_days(venue))
        purged[venue["id"]] = store.delete_events(venue["id"], utc_text(before))
        others = store.purge_records(venue["id"], utc_text(before))
        others["audit"] = store.purge_audit(venue["id"], utc_text(before))
        if any(others.values()):
            log.info("retention: venue %s: %s", venue["id"], ", ".join(f"{k} {v}" for k, v in others.items()))
    # Audit rows of no venue (logins, all-venue queries) follow the default retention.
    hub_wide = store.purge_audit(None, utc_text(now - dt.timedelta(days=DEFAULT_RETENTION_DAYS)))
    if hub_wide:
        log.info("retention: %d hub-wide audit rows reduced", hub_wide)
    # Anti-passback presence changes serve a window of at most a day: they go sooner than retention.
    store.purge_presence(utc_text(now - PRESENCE_WINDOW_MAX))
    total = sum(purged.values())
    if total:
        metrics.RETENTION_DELETED.inc(total)
        log.info("retention: %d events past retention deleted (their counts kept)", total)
    return purged


LOCK = "retention"
LOCK_TTL_S = 3600.0  # a holder that died mid-purge lets another process take over after this
DEFAULT_INTERVAL_S = 600.0  # presence rows go continuously: every ten minutes, a day after they were written
FIRST_AFTER_S = 30.0  # the first purge waits so a starting hub answers first


def purge_database(path: str, holder: str | None = None) -> dict[str, int] | None:
    """Open the hub's database, purge under the hub-wide lock, close it; None when another process holds it (CLI)."""
    store = HubStore(path)
    holder = holder or _holder()
    try:
        if not store.try_lock(LOCK, holder, LOCK_TTL_S):
            return None
        try:
            return purge(store)
        finally:
            store.release_lock(LOCK, holder)
    finally:
        store.close()


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RetentionWorker:
    """A daemon thread that purges every `interval_s` seconds, when no other hub process is purging."""

    def __init__(self, database: str, interval_s: float = DEFAULT_INTERVAL_S, first_after_s: float = FIRST_AFTER_S):
        """Purge `database` (a URL or a SQLite path) first after `first_after_s`, then every `interval_s`."""
        self.database = database
        self.interval_s = interval_s
        self.first_after_s = first_after_s
        self.holder = _holder()
        self.runs = 0  # purges this worker ran (not skipped)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int] | None:
        """One turn: purge if this process gets the lock; what was deleted per venue, or None when skipped."""
        purged = purge_database(self.database, self.holder)
        if purged is not None:
            self.runs += 1
        return purged

    def _loop(self) -> None:
        wait = self.first_after_s
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 (a failed turn is logged and tried again next time, never kills the thread)
                log.exception("retention: purge failed; retrying in %.0f s", self.interval_s)
            wait = self.interval_s

    def start(self) -> RetentionWorker:
        """Start the thread (a daemon: it never holds up the process's exit)."""
        self._thread = threading.Thread(target=self._loop, name="hub-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to end after its current turn, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
