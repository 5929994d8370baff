"""The holder side's SQL: personal links (secret hashes only) and the goods couriers declare.

A mixin of `server.store.HubStore` like `store_console.py`: it relies on HubStore's `write()`, `_rows()`
and `_one()`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Executable, insert, select, update

from protocols.clock import utc_now, utc_text
from server.schema import goods, holder_links

GOODS_FIELDS = ("product", "supplier", "origin", "quantity", "batch", "maker", "cold_chain", "report")


def secret_hash(secret: str) -> str:
    """Hex SHA-256 of a link secret (256 random bits: a slow KDF buys nothing)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class HolderQueries:
    """Holder links and goods over the hub database (mixed into HubStore)."""

    conn: Connection

    def write(self) -> AbstractContextManager[Connection]:  # provided by HubStore
        raise TypeError("HolderQueries is a mixin of HubStore")

    def _rows(self, stmt: Executable) -> list[dict[str, Any]]:  # provided by HubStore
        raise TypeError("HolderQueries is a mixin of HubStore")

    def _one(self, stmt: Executable) -> dict[str, Any] | None:  # provided by HubStore
        raise TypeError("HolderQueries is a mixin of HubStore")

    def issue_holder_link(self, venue: str, subject: str, by: str, *, valid_from: str | None = None,
                          valid_until: str | None = None, visit: int | None = None) -> str:
        """A new link secret for this person (any live link of theirs is revoked): returned once, stored as a hash."""
        secret = secrets.token_urlsafe(32)
        now = utc_text(utc_now())
        with self.write() as c:
            c.execute(update(holder_links).where(holder_links.c.venue == venue, holder_links.c.subject == subject,
                                                 holder_links.c.revoked_at.is_(None)).values(revoked_at=now))
            c.execute(insert(holder_links).values(venue=venue, subject=subject, secret_hash=secret_hash(secret),
                                                  created_at=now, created_by=by, valid_from=valid_from,
                                                  valid_until=valid_until, visit=visit))
        return secret

    def holder_link(self, secret: str) -> dict[str, Any] | None:
        """The live link this secret opens, else None."""
        wanted = secret_hash(secret)
        row = self._one(select(holder_links).where(holder_links.c.secret_hash == wanted,
                                                   holder_links.c.revoked_at.is_(None)))
        # The index finds the row by the hash; the compare is constant-time anyway, so nothing about a near
        # miss leaks through timing whatever the engine's comparison does.
        if row is None or not hmac.compare_digest(row["secret_hash"], wanted):
            return None
        return row

    def holder_links_of(self, venue: str, subject: str) -> list[dict[str, Any]]:
        """Every link ever issued to this person, newest first (secret hashes left out)."""
        cols = [c for c in holder_links.c if c.name != "secret_hash"]
        return self._rows(select(*cols).where(holder_links.c.venue == venue, holder_links.c.subject == subject)
                          .order_by(holder_links.c.id.desc()))

    def revoke_holder_links(self, venue: str, subject: str) -> int:
        """Revoke this person's live links; how many."""
        with self.write() as c:
            return c.execute(update(holder_links).where(
                holder_links.c.venue == venue, holder_links.c.subject == subject, holder_links.c.revoked_at.is_(None))
                .values(revoked_at=utc_text(utc_now()))).rowcount

    def declare_goods(self, venue: str, subject: str, name: str, lines: Sequence[dict[str, Any]]) -> None:
        """Replace the goods this courier's passes carry (the earlier declarations stay in the trace)."""
        now = utc_text(utc_now())
        with self.write() as c:
            c.execute(update(goods).where(goods.c.venue == venue, goods.c.subject == subject, goods.c.active == 1)
                      .values(active=0))
            if lines:
                c.execute(insert(goods), [{"venue": venue, "subject": subject, "name": name, "declared_at": now,
                                           "active": 1, **{k: line.get(k) for k in GOODS_FIELDS},
                                           "cold_chain": int(bool(line.get("cold_chain")))} for line in lines])

    def active_goods(self, venue: str, subject: str) -> list[dict[str, Any]]:
        """The goods this courier's passes carry now."""
        return self._rows(select(*[goods.c[k] for k in GOODS_FIELDS]).where(
            goods.c.venue == venue, goods.c.subject == subject, goods.c.active == 1).order_by(goods.c.id))

    def goods_trace(self, venue: str, batch: str, limit: int = 200) -> list[dict[str, Any]]:
        """Every declaration of this batch at the venue, newest first (the supervisor's trace)."""
        return self._rows(select(goods).where(goods.c.venue == venue, goods.c.batch == batch)
                          .order_by(goods.c.id.desc()).limit(limit))
