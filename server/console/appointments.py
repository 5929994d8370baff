"""The venue's `appointments` document, regenerated from approved visits and published to its gates.

Shape (what GATE-VISIT-01 reads as `external.appointment`, and what `checkpoint decide
--appointment` accepts): a JSON list of {"subject", "from", "to", "approvedBy", "name", "host",
"visit"}, one per approved visit whose window has not ended; a gate picks the holder's by
`subject` (the pass's pseudonymous subject id). Times are ISO 8601 UTC ("...Z").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from protocols.clock import utc_now, utc_seconds, utc_text
from protocols.contract import DocumentKind
from server.store import HubStore

log = logging.getLogger(__name__)


def _rule_time(stored: str) -> str | None:
    """A stored time as the rules read times (whole seconds, Z)."""
    return utc_seconds(dt.datetime.fromisoformat(stored))


def appointments(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Approved visits as the appointment objects the visitor-window rule reads."""
    return [
        {"subject": v["subject"], "from": _rule_time(v["starts_at"]), "to": _rule_time(v["ends_at"]),
         "approvedBy": v["decided_by"], "name": v["name"], "host": v["host"], "visit": v["id"]}
        for v in visits
    ]


def publish_appointments(store: HubStore, venue: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Regenerate and publish the venue's appointments (the same store call as PUT .../documents/appointments)."""
    body = json.dumps(appointments(store.approved_visits(venue, utc_text(now or utc_now()))), ensure_ascii=False,
                      sort_keys=True).encode("utf-8")
    published = store.put_document(venue, DocumentKind.APPOINTMENTS, body, "application/json")
    log.info("appointments of %s published as version %s", venue, published["version"])
    return published
