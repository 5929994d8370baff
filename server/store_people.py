"""The people's SQL (issue 10): the enrolled roster of a venue and the statuses received for its people.

A mixin of `server.store.HubStore` like `store_console.ConsoleQueries`; it relies on HubStore's
`write()`, `_rows()`, `_one()`, `setting()`, `_put_document()` and `conn`. What it stores of a person is
the least the gates and the issuer need: the keyed hash of the ID number, the masked name, a random
subject, class, group and masked phone. Never the ID number, never the full name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from protocols.clock import utc_now, utc_text
from protocols.contract import DocumentKind
from server.schema import audit, people, person_status, roster_uploads

SOURCES = ("authority", "lab", "manual", "declaration")
# The setting that holds the hub's key for hashing ID numbers: made once, kept like the console's signing key.
ID_KEY_SETTING = "people_id_key"
ROSTER_CONTENT_TYPE = "application/json"
# Columns a re-import compares to tell a changed person from an unchanged one.
PERSON_FIELDS = ("masked_name", "person_class", "group_name", "phone_masked")
ROSTER_UPLOAD_TTL = dt.timedelta(hours=1)  # how long a checked console upload waits for its confirmation
STATUS_FIELDS = ("colour", "colour_since", "test_at", "test_result", "stays", "reason")


@dataclass(frozen=True)
class PersonRecord:
    """One person as a roster import gives them to the store: already hashed and masked."""

    id_hash: str
    masked_name: str
    person_class: str
    group_name: str | None = None
    phone_masked: str | None = None


@dataclass(frozen=True)
class RosterChanges:
    """What a roster import did (or, in a dry run, would do)."""

    added: int
    changed: int
    removed: int
    unchanged: int
    roster_version: int | None = None  # the roster document's version after the import (None: dry run)


@dataclass(frozen=True)
class StatusRecord:
    """One status for one person, as a feed gives it to the store (times as ISO-8601 UTC text)."""

    id_hash: str
    row: int  # the row (or item number) in the feed, for reporting an unknown ID
    colour: str | None = None
    colour_since: str | None = None
    test_at: str | None = None
    test_result: str | None = None
    stays: list[list[str]] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StatusResult:
    """What a status feed did: how many rows were stored, and the rows whose ID is not enrolled at the venue."""

    stored: int
    unknown_rows: list[int] = field(default_factory=list)


def normalise_id_number(id_number: str) -> str:
    """The form of an ID number that is hashed: no surrounding space, upper-case X."""
    return id_number.strip().upper()


class PeopleQueries:
    """The people's queries (mixed into HubStore)."""

    conn: Connection
    _id_key: bytes | None = None

    # ---- keys and hashes ---------------------------------------------------------------------

    def id_hash(self, id_number: str) -> str:
        """The keyed hash (HMAC-SHA256, hex) of a normalised ID number: what the hub keeps instead of the number."""
        if self._id_key is None:
            self._id_key = bytes.fromhex(self.setting(ID_KEY_SETTING, secrets.token_hex(32)))  # type: ignore[attr-defined]
        return hmac.new(self._id_key, normalise_id_number(id_number).encode("ascii", "replace"), hashlib.sha256).hexdigest()

    # ---- the roster --------------------------------------------------------------------------

    def apply_roster(self, venue: str, records: Sequence[PersonRecord], *, by_user: str, dry_run: bool = False) -> RosterChanges:
        """Make the venue's enrolled people those of `records`: add, update by ID hash, soft-remove the rest.

        One write transaction: the people, the audit row and the venue's roster document (so gates see it)
        change together or not at all. A dry run computes the same counts and writes nothing.
        """
        p = people
        now = utc_text(utc_now())
        with self.write() as c:  # type: ignore[attr-defined]
            held = {r["id_hash"]: r for r in c.execute(
                select(p.c.id, p.c.id_hash, p.c.removed_at, *(p.c[f] for f in PERSON_FIELDS))
                .where(p.c.venue_id == venue)).mappings()}
            fresh, changed, back, same = [], [], [], 0
            for rec in records:
                row = held.get(rec.id_hash)
                values = {f: getattr(rec, f) for f in PERSON_FIELDS}
                if row is None:
                    fresh.append({"venue_id": venue, "id_hash": rec.id_hash, "subject": secrets.token_hex(16),
                                  "created_at": now, "updated_at": now, **values})
                elif row["removed_at"] is not None:
                    back.append({"b_id": row["id"], **values})  # removed before, in the file again: added back
                elif any(row[f] != values[f] for f in PERSON_FIELDS):
                    changed.append({"b_id": row["id"], **values})
                else:
                    same += 1
            listed = {rec.id_hash for rec in records}
            gone = [{"b_id": r["id"]} for h, r in held.items() if h not in listed and r["removed_at"] is None]
            result = RosterChanges(added=len(fresh) + len(back), changed=len(changed), removed=len(gone), unchanged=same)
            if dry_run:
                return result
            if fresh:
                c.execute(insert(p), fresh)
            set_values = {f: bindparam(f) for f in PERSON_FIELDS}
            if changed or back:
                c.execute(update(p).where(p.c.id == bindparam("b_id"))
                          .values(updated_at=now, removed_at=None, **set_values), changed + back)
            if gone:
                c.execute(update(p).where(p.c.id == bindparam("b_id")).values(removed_at=now, updated_at=now), gone)
            c.execute(insert(audit).values(at=now, username=by_user, action="roster.import", venue=venue,
                                           target=f"added {result.added}, changed {result.changed}, removed {result.removed}"))
            published = self._put_document(c, venue, DocumentKind.ROSTER, self._roster_body(c, venue),  # type: ignore[attr-defined]
                                           ROSTER_CONTENT_TYPE)
        return RosterChanges(result.added, result.changed, result.removed, result.unchanged, published["version"])

    def hold_roster_upload(self, venue: str, username: str, records: Sequence[PersonRecord]) -> str:
        """Keep a checked roster's records for its confirmation (the user's older ones for the venue go); its token."""
        u = roster_uploads
        now = utc_now()
        token = secrets.token_urlsafe(24)
        body = json.dumps([[r.id_hash, r.masked_name, r.person_class, r.group_name, r.phone_masked] for r in records],
                          ensure_ascii=False, separators=(",", ":"))
        with self.write() as c:  # type: ignore[attr-defined]
            c.execute(delete(u).where(or_(u.c.created_at < utc_text(now - ROSTER_UPLOAD_TTL),
                                          and_(u.c.venue_id == venue, u.c.username == username))))
            c.execute(insert(u).values(token=token, venue_id=venue, username=username, created_at=utc_text(now),
                                       records=body))
        return token

    def held_roster_upload(self, token: str, venue: str, username: str) -> list[PersonRecord] | None:
        """The records a user's checked upload holds (None: no such upload, another's, or over an hour old)."""
        u = roster_uploads
        body = self.conn.execute(select(u.c.records).where(
            u.c.token == token, u.c.venue_id == venue, u.c.username == username,
            u.c.created_at >= utc_text(utc_now() - ROSTER_UPLOAD_TTL))).scalar()
        return None if body is None else [PersonRecord(*r) for r in json.loads(body)]

    def drop_roster_upload(self, token: str) -> None:
        """Forget a held upload (after its confirmation)."""
        with self.write() as c:  # type: ignore[attr-defined]
            c.execute(delete(roster_uploads).where(roster_uploads.c.token == token))

    @staticmethod
    def _roster_body(c: Connection, venue: str) -> bytes:
        """The venue's roster document (agent/venue_documents.py parse_roster): subject -> {class, group}."""
        p = people
        rows = c.execute(select(p.c.subject, p.c.person_class, p.c.group_name)
                         .where(p.c.venue_id == venue, p.c.removed_at.is_(None)).order_by(p.c.subject))
        roster = {s: ({"class": k, "group": g} if g else {"class": k}) for s, k, g in rows}
        return json.dumps(roster, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def people(self, venue: str, search: str | None = None, *, limit: int = 100, offset: int = 0,
               removed: bool = False) -> list[dict[str, Any]]:
        """A venue's enrolled people (masked), by masked name; `search` matches name, class, group or subject."""
        p = people
        stmt = (select(p.c.id, p.c.subject, p.c.masked_name, p.c.person_class, p.c.group_name, p.c.phone_masked,
                       p.c.created_at, p.c.updated_at, p.c.removed_at)
                .where(p.c.venue_id == venue))
        if not removed:
            stmt = stmt.where(p.c.removed_at.is_(None))
        if search:
            # LIKE's wildcards in the query are literal: a search for "50%" means those characters.
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(or_(*(p.c[col].like(like, escape="\\")
                                    for col in ("masked_name", "person_class", "group_name", "subject"))))
        return self._rows(stmt.order_by(p.c.masked_name, p.c.id).limit(limit).offset(offset))  # type: ignore[attr-defined]

    def people_count(self, venue: str) -> int:
        """How many people are enrolled at the venue now."""
        p = people
        return int(self.conn.execute(select(func.count()).select_from(p)
                                     .where(p.c.venue_id == venue, p.c.removed_at.is_(None))).scalar() or 0)

    def person(self, venue: str, *, person_id: int | None = None, id_hash: str | None = None,
               subject: str | None = None) -> dict[str, Any] | None:
        """One enrolled (not removed) person of the venue by row id, ID hash or subject; None when there is none."""
        p = people
        stmt = select(p).where(p.c.venue_id == venue, p.c.removed_at.is_(None))
        for column, value in (("id", person_id), ("id_hash", id_hash), ("subject", subject)):
            if value is not None:
                stmt = stmt.where(p.c[column] == value)
        return self._one(stmt.limit(1))  # type: ignore[attr-defined]

    # ---- statuses ----------------------------------------------------------------------------

    def add_statuses(self, venue: str, source: str, records: Iterable[StatusRecord], *, by_user: str) -> StatusResult:
        """Store a feed's statuses for the venue's enrolled people; rows whose ID is not enrolled are reported, not stored."""
        if source not in SOURCES:
            raise ValueError(f"unknown status source {source!r}")
        records = list(records)
        p = people
        now = utc_text(utc_now())
        with self.write() as c:  # type: ignore[attr-defined]
            hashes = sorted({r.id_hash for r in records})
            known: dict[str, int] = {}
            for i in range(0, len(hashes), 500):  # bounded IN lists (SQLite's variable limit)
                known.update((h, pid) for pid, h in c.execute(
                    select(p.c.id, p.c.id_hash).where(p.c.venue_id == venue, p.c.removed_at.is_(None),
                                                      p.c.id_hash.in_(hashes[i:i + 500]))))
            rows, unknown = [], []
            for r in records:
                if r.id_hash not in known:
                    unknown.append(r.row)
                    continue
                rows.append(_status_row(known[r.id_hash], source, r, by_user, now))
            if rows:
                c.execute(insert(person_status), rows)
            c.execute(insert(audit).values(at=now, username=by_user, action=f"status.{source}", venue=venue,
                                           target=f"stored {len(rows)}, unknown {len(unknown)}"))
        return StatusResult(len(rows), unknown)

    def add_person_status(self, venue: str, person_id: int, source: str, record: StatusRecord, *, by_user: str) -> bool:
        """Store one status for one enrolled person (a manual entry, a holder's declaration), audited; False: no such person."""
        if source not in SOURCES:
            raise ValueError(f"unknown status source {source!r}")
        p = people
        now = utc_text(utc_now())
        with self.write() as c:  # type: ignore[attr-defined]
            found = c.execute(select(p.c.id).where(p.c.id == person_id, p.c.venue_id == venue,
                                                   p.c.removed_at.is_(None))).first()
            if found is None:
                return False
            c.execute(insert(person_status).values(**_status_row(person_id, source, record, by_user, now)))
            c.execute(insert(audit).values(at=now, username=by_user, action=f"status.{source}", venue=venue,
                                           target=f"person {person_id}" + (f": {record.reason}" if record.reason else "")))
        return True

    def current_status(self, person_id: int) -> dict[str, dict[str, Any]]:
        """The latest status received from each source for a person: source -> row (stays parsed); {} when none."""
        s = person_status
        latest = (select(s.c.source, func.max(s.c.id).label("id")).where(s.c.person_id == person_id)
                  .group_by(s.c.source).subquery())
        rows = self._rows(select(s).join(latest, latest.c.id == s.c.id))  # type: ignore[attr-defined]
        out = {}
        for r in rows:
            r["stays"] = json.loads(r["stays"]) if r["stays"] else []
            out[r["source"]] = r
        return out

    def status_history(self, person_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """A person's statuses, newest first (the console's person page)."""
        s = person_status
        rows = self._rows(select(s).where(s.c.person_id == person_id).order_by(s.c.id.desc()).limit(limit))  # type: ignore[attr-defined]
        for r in rows:
            r["stays"] = json.loads(r["stays"]) if r["stays"] else []
        return rows


def _status_row(person_id: int, source: str, r: StatusRecord, by_user: str, now: str) -> dict[str, Any]:
    """The `person_status` row of one received status."""
    return {"person_id": person_id, "source": source, "colour": r.colour, "colour_since": r.colour_since,
            "test_at": r.test_at, "test_result": r.test_result,
            "stays": json.dumps(r.stays, ensure_ascii=False) if r.stays else None,
            "reason": r.reason, "by_user": by_user, "received_at": now}
