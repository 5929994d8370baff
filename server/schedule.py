"""The venue's `schedule` document: its bookings and its groups' time windows, signed and published to its gates.

The hub signs it with its schedule key (`$CHECKPOINT_SCHEDULE_KEY`, a private key file; app config
SCHEDULE_KEY), never the root key: a hub taken over can then sign time windows, not rule bundles or
trust lists. Gates check it with `rules.schedule_public_key` (protocols/schedule.py has the shape).
It is rebuilt and published whenever a booking is made or a group's windows change; bookings whose
slot has ended are left out. Bookings name holders by the venue's keyed hash only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from protocols.clock import utc_now, utc_text
from protocols.contract import DocumentKind
from protocols.controls import Controls, parse_controls
from protocols.cose import PrivateKey
from protocols.errors import CheckpointError
from protocols.keys import load_private_key
from protocols.schedule import DEFAULT_TIMEZONE, Schedule, parse_schedule, sign_schedule
from server.store import HubStore

log = logging.getLogger(__name__)


class NoScheduleKey(CheckpointError):
    """The hub has no schedule key: it cannot sign a schedule its gates would accept."""

    reason = "no_schedule_key"


def load_schedule_key(path: str | None) -> PrivateKey | None:
    """The hub's schedule signing key (None: not configured); ConfigError naming the file if unreadable."""
    return load_private_key(Path(path)) if path else None


def stored_controls(store: HubStore, venue_id: str) -> Controls:
    """The venue's daily controls as stored: mode and parameters (`parameters` document), risk areas (`risk_areas`)."""
    data: dict[str, Any] = {}
    for kind in (DocumentKind.PARAMETERS, DocumentKind.RISK_AREAS):
        row = store.document(venue_id, kind)
        if row is not None:
            data.update(json.loads(bytes(row["body"])))
    return parse_controls(data)


def build_schedule(store: HubStore, venue: dict[str, Any], now: dt.datetime, timezone: str = DEFAULT_TIMEZONE) -> Schedule:
    """The venue's schedule now: bookings of slots not yet ended, every group's windows, the zone of each gate,
    the daily controls."""
    minutes = dt.timedelta(minutes=venue.get("slot_minutes") or 0)
    reservations: dict[str, list[dict[str, str]]] = {}
    if minutes:
        for row in store.bookings(venue["id"], utc_text(now - minutes)):
            start = dt.datetime.fromisoformat(row["slot"].replace("Z", "+00:00"))
            reservations.setdefault(row["subject"], []).append(
                {"from": start.isoformat(), "to": (start + minutes).isoformat()})
    groups = {g["name"]: {"kind": g["kind"], "zones": json.loads(g["zones"]), "slots": json.loads(g["slots"])}
              for g in store.schedule_groups(venue["id"])}
    return parse_schedule({"venue": venue["id"], "issued_at": now.isoformat(), "timezone": timezone,
                           "reservations": reservations, "groups": groups,
                           "gate_zones": store.gate_zones(venue["id"]),
                           "controls": stored_controls(store, venue["id"]).model_dump(mode="json", by_alias=True)})


def publish_schedule(store: HubStore, venue: dict[str, Any], key: PrivateKey | None, timezone: str = DEFAULT_TIMEZONE,
                     now: dt.datetime | None = None) -> dict[str, Any]:
    """Sign and publish the venue's schedule (the same store call as PUT .../documents/schedule)."""
    if key is None:
        raise NoScheduleKey("the hub has no schedule key ($CHECKPOINT_SCHEDULE_KEY): schedules cannot be signed")

    def build() -> bytes:
        # Built under the store's write lock: the clock is read there, so issued_at follows the version order.
        doc = sign_schedule(build_schedule(store, venue, now or utc_now(), timezone), key)
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")

    published = store.put_built_document(venue["id"], DocumentKind.SCHEDULE, build, "application/json")
    log.info("schedule of %s published as version %s", venue["id"], published["version"])
    return published
