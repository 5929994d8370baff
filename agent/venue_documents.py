"""The venue's roster and appointments as the hub distributes them: their shapes, parsed into what the rules see.

`agent.documents` checks a fetched copy with `parse_roster` / `parse_appointments` before it is
installed and reads the installed file with them again (`VenueDocuments.facts`); `pick_appointment`
chooses the one appointment of a holder the rules see.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from protocols.contract import DocumentKind
from protocols.errors import CheckpointError

Roster = dict[str, dict[str, Any]]


class VenueDocumentError(CheckpointError):
    """A roster or appointments document that is not in the documented shape (docs/hub.md)."""

    reason = "bad_venue_document"


def parse_roster(body: bytes) -> Roster:
    """A roster: a list of subject ids, {"subjects": [...]}, or {subject: {attributes}}."""
    data = _json(body, DocumentKind.ROSTER)
    if isinstance(data, Mapping) and isinstance(data.get("subjects"), list):
        data = data["subjects"]
    if isinstance(data, list) and all(isinstance(s, str) and s for s in data):
        return {s: {} for s in data}
    if isinstance(data, Mapping) and all(isinstance(v, Mapping) for v in data.values()):
        return {str(k): dict(v) for k, v in data.items()}
    raise VenueDocumentError("roster: expected a list of subject ids or an object of subject -> attributes")


def parse_appointments(body: bytes) -> list[dict[str, Any]]:
    """Appointments: a list of {"subject", "from", "to", "approvedBy", ...} or {"appointments": [...]}."""
    data = _json(body, DocumentKind.APPOINTMENTS)
    if isinstance(data, Mapping) and isinstance(data.get("appointments"), list):
        data = data["appointments"]
    if not isinstance(data, list):
        raise VenueDocumentError("appointments: expected a list of appointment objects")
    for i, item in enumerate(data):
        if not isinstance(item, Mapping) or not isinstance(item.get("subject"), str):
            raise VenueDocumentError(f"appointments[{i}]: an object with a \"subject\" is required")
        for key in ("from", "to"):
            if not isinstance(item.get(key), str) or _instant(item[key]) is None:
                raise VenueDocumentError(f"appointments[{i}].{key}: an ISO 8601 time with its offset is required")
    return [dict(item) for item in data]


def pick_appointment(appointments: list[dict[str, Any]], subject: str, at: dt.datetime) -> dict[str, Any] | None:
    """The holder's appointment whose window holds `at`; else the holder's next one, else the last one."""
    mine = [a for a in appointments if a["subject"] == subject]
    if not mine:
        return None
    # The rules check the window themselves; this only picks the one most likely to apply.
    for a in mine:
        if _instant(a["from"]) <= at <= _instant(a["to"]):  # type: ignore[operator]
            return a
    upcoming = [a for a in mine if _instant(a["from"]) > at]  # type: ignore[operator]
    return min(upcoming, key=lambda a: _instant(a["from"])) if upcoming else mine[-1]  # type: ignore[arg-type,return-value]


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VenueDocumentError(f"{what} is not JSON: {exc}") from exc


def _instant(text: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None
