"""Retention: personal fields of events past a venue's retention days are purged, counts kept.

Contact tracing needs 21-28 days (POLICY.md §5); after that the subject hash, the masked name,
the operator and the free-text note of each event are nulled, and so are the reviewer and note of
denial reviews, the subjects of reservations, the visitor, host, purpose and staff names of visits
that ended before then. Audit rows keep who did what and when; their query strings keep only the
parameter names and login rows lose their source address (rows of no venue: after the default 28
days). Decisions, rules, readings, times and counts stay, so daily reports still add up. Every
table is rewritten in batches of `PURGE_BATCH` rows, one short write transaction each.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from protocols.clock import utc_now, utc_text
from protocols.events import PRESENCE_WINDOW_MAX
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
        purged[venue["id"]] = store.purge_personal(venue["id"], utc_text(before))
        others = store.purge_records(venue["id"], utc_text(before))
        others["audit"] = store.purge_audit(venue["id"], utc_text(before))
        if any(others.values()):
            log.info("retention: venue %s: %s", venue["id"], ", ".join(f"{k} {v}" for k, v in others.items()))
    # Audit rows of no venue (logins, all-venue queries) follow the default retention.
    hub_wide = store.purge_audit(None, utc_text(now - dt.timedelta(days=DEFAULT_RETENTION_DAYS)))
    if hub_wide:
        log.info("retention: %d hub-wide audit rows reduced", hub_wide)
    # Anti-passback presence changes serve a window of at most a day: they go sooner than retention.
    store.purge_presence(now - PRESENCE_WINDOW_MAX)
    total = sum(purged.values())
    if total:
        log.info("retention: personal fields of %d events purged", total)
    return purged


def purge_database(path: str) -> dict[str, int]:
    """Open the hub's database, purge past-retention personal fields, close it (app start, CLI)."""
    store = HubStore(path)
    try:
        return purge(store)
    finally:
        store.close()
