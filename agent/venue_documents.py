"""The venue's roster and appointments as the hub distributes them, read into what the rules see.

The sync client writes each document to `documents_dir/{roster,appointments}` (atomically, after
`parse_roster` / `parse_appointments` accepted it); the loop asks `VenueDocuments.facts(subject, at)`
for one person. A file that changed is read again; one that no longer parses keeps the last good one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from protocols.errors import CheckpointError

log = logging.getLogger(__name__)

Roster = dict[str, dict[str, Any]]


class VenueDocumentError(CheckpointError):
    """A roster or appointments document that is not in the documented shape (docs/hub.md)."""

    reason = "bad_venue_document"


def parse_roster(body: bytes) -> Roster:
    """A roster: a list of subject ids, {"subjects": [...]}, or {subject: {attributes}}."""
    data = _json(body, "roster")
    if isinstance(data, Mapping) and isinstance(data.get("subjects"), list):
        data = data["subjects"]
    if isinstance(data, list) and all(isinstance(s, str) and s for s in data):
        return {s: {} for s in data}
    if isinstance(data, Mapping) and all(isinstance(v, Mapping) for v in data.values()):
        return {str(k): dict(v) for k, v in data.items()}
    raise VenueDocumentError("roster: expected a list of subject ids or an object of subject -> attributes")


def parse_appointments(body: bytes) -> list[dict[str, Any]]:
    """Appointments: a list of {"subject", "from", "to", "approvedBy", ...} or {"appointments": [...]}."""
    data = _json(body, "appointments")
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


class _WatchedDocument:
    """One document file, parsed again when its mtime changes; the last good parse is kept."""

    def __init__(self, path: Path, parse):
        self.path = path
        self.parse = parse
        self.value: Any = None
        self._mtime: float | None = None

    def current(self) -> Any:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return self.value  # never fetched (or not published): the rules see "not loaded"
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.value = self.parse(self.path.read_bytes())
                log.info("loaded %s", self.path)
            except (OSError, VenueDocumentError) as exc:
                log.warning("%s refused, keeping the last good one: %s", self.path, exc)
        return self.value


class VenueDocuments:
    """The roster and appointments the sync client fetched into `folder`, for the loop's decisions."""

    def __init__(self, folder: Path):
        self._lock = threading.Lock()
        self._roster = _WatchedDocument(Path(folder) / "roster", parse_roster)
        self._appointments = _WatchedDocument(Path(folder) / "appointments", parse_appointments)

    def facts(self, subject: str, at: dt.datetime) -> tuple[Roster | None, dict[str, Any] | None]:
        """(roster, this holder's appointment) for GateContext; None where no document is loaded."""
        with self._lock:
            roster = self._roster.current()
            appointments = self._appointments.current()
        return roster, (pick_appointment(appointments, subject, at) if appointments else None)
