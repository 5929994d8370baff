"""The fleet's SQL: each gate's own figures from its latest sync, and commands to gates with their answers.

A mixin of `server.store.HubStore` like `server/store_console.py`; it relies on HubStore's `write()`,
`_rows()` and `_one()`. The console's WSGI worker writes a command row, the MQTT bridge (another
process) publishes it and records the gate's answer: the database is where the two meet.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Executable, insert, select, update
from ulid import ULID

from protocols.clock import utc_now, utc_text
from server.schema import bundle_previews, gate_commands, gate_figures
from server.store_engine import upsert

# A command the gate has not answered this long after it was asked is shown as timed out.
COMMAND_TIMEOUT_S = 10.0
# A replay runs a day of decisions through a candidate bundle on a small computer: it may take longer.
REPLAY_TIMEOUT_S = 120.0
# A command the bridge did not publish this long after it was asked is never published (nobody waits any more).
STALE_UNSENT = dt.timedelta(seconds=COMMAND_TIMEOUT_S)


def command_state(row: dict[str, Any], now: dt.datetime) -> str:
    """A command's state as the console shows it: ok, refused, timeout, or waiting."""
    if row["ok"] is not None:
        return "ok" if row["ok"] else "refused"
    asked = dt.datetime.fromisoformat(row["requested_at"].replace("Z", "+00:00"))
    limit = REPLAY_TIMEOUT_S if row.get("command") == "replay" else COMMAND_TIMEOUT_S
    return "timeout" if (now - asked).total_seconds() > limit else "waiting"


class CommandQueries:
    """Gate figures and gate commands (mixed into HubStore)."""

    def write(self, *venues: str) -> AbstractContextManager[Connection]:  # provided by HubStore
        raise TypeError("CommandQueries is a mixin of HubStore")

    def _rows(self, stmt: Executable) -> list[dict[str, Any]]:  # provided by HubStore
        raise TypeError("CommandQueries is a mixin of HubStore")

    def _one(self, stmt: Executable) -> dict[str, Any] | None:  # provided by HubStore
        raise TypeError("CommandQueries is a mixin of HubStore")

    # ---- figures -----------------------------------------------------------------------------

    def save_gate_figures(self, venue: str, gate: str, figures: dict[str, Any]) -> None:
        """Keep a gate's own figures from its latest sync (one row per gate, replaced each time)."""
        with self.write(venue) as c:
            c.execute(upsert(c, gate_figures, ["venue", "gate"], ["figures", "at"]),
                      {"venue": venue, "gate": gate, "figures": json.dumps(figures, sort_keys=True),
                       "at": utc_text(utc_now())})

    def gate_figures(self, venue: str) -> dict[str, dict[str, Any]]:
        """Each gate's latest figures with when they came (`at`), by gate id."""
        f = gate_figures
        rows = self._rows(select(f.c.gate, f.c.figures, f.c.at).where(f.c.venue == venue))
        return {r["gate"]: {**json.loads(r["figures"]), "at": r["at"]} for r in rows}

    # ---- commands ----------------------------------------------------------------------------

    def create_command(self, venue: str, gate: str, command: str, requested_by: str, reason: str | None = None,
                       event_id: str | None = None) -> str:
        """Queue a command for the bridge to publish; its id (a ULID, also its id on the wire)."""
        command_id = str(ULID())
        with self.write() as c:
            c.execute(insert(gate_commands).values(
                id=command_id, venue=venue, gate=gate, command=command, reason=reason, event_id=event_id,
                requested_by=requested_by, requested_at=utc_text(utc_now())))
        return command_id

    def unsent_commands(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Commands not yet published and still awaited, oldest first."""
        k = gate_commands
        since = utc_text((now or utc_now()) - STALE_UNSENT)
        return self._rows(select(k).where(k.c.sent_at.is_(None), k.c.requested_at >= since)
                          .order_by(k.c.requested_at, k.c.id))

    def mark_command_sent(self, command_id: str) -> None:
        """Record that the bridge published a command."""
        with self.write() as c:
            c.execute(update(gate_commands).where(gate_commands.c.id == command_id)
                      .values(sent_at=utc_text(utc_now())))

    def answer_command(self, venue: str, gate: str, command_id: str, ok: bool, detail: str) -> bool:
        """Record a gate's answer; False when no unanswered command of that id was sent to that gate."""
        k = gate_commands
        with self.write() as c:
            # The venue and gate of the topic must be the command's: a gate cannot answer another's command.
            return c.execute(update(k).where(k.c.id == command_id, k.c.venue == venue, k.c.gate == gate,
                                             k.c.ok.is_(None))
                             .values(ok=int(ok), detail=detail, answered_at=utc_text(utc_now()))).rowcount == 1

    # ---- bundle previews --------------------------------------------------------------------------

    def create_preview(self, venue: str, version: str, body: bytes, requested_by: str, gates: list[str]) -> str:
        """Keep a candidate bundle and queue a `replay` command for each of these gates; the preview's id."""
        preview_id, now = str(ULID()), utc_text(utc_now())
        with self.write() as c:
            c.execute(insert(bundle_previews).values(id=preview_id, venue=venue, version=version, body=body,
                                                     requested_by=requested_by, requested_at=now))
            for gate in gates:
                c.execute(insert(gate_commands).values(
                    id=str(ULID()), venue=venue, gate=gate, command="replay", reason=preview_id,
                    requested_by=requested_by, requested_at=now))
        return preview_id

    def preview(self, preview_id: str) -> dict[str, Any] | None:
        """A preview with its candidate's bytes, or None."""
        return self._one(select(bundle_previews).where(bundle_previews.c.id == preview_id))

    def preview_replies(self, preview_id: str) -> list[dict[str, Any]]:
        """The replay commands of a preview, one per gate asked, by gate."""
        k = gate_commands
        return self._rows(select(k).where(k.c.command == "replay", k.c.reason == preview_id).order_by(k.c.gate))

    def mark_preview_published(self, preview_id: str, username: str) -> bool:
        """Record that a preview was confirmed and published; False when it already was."""
        p = bundle_previews
        with self.write() as c:
            return c.execute(update(p).where(p.c.id == preview_id, p.c.published_at.is_(None))
                             .values(published_by=username, published_at=utc_text(utc_now()))).rowcount == 1

    def command(self, command_id: str) -> dict[str, Any] | None:
        """One command with its answer, or None."""
        return self._one(select(gate_commands).where(gate_commands.c.id == command_id))

    def commands(self, *, venue: str | None = None, event_id: str | None = None,
                 limit: int = 20) -> list[dict[str, Any]]:
        """Commands of a venue or of one denial, newest first."""
        k = gate_commands
        stmt = select(k)
        if venue is not None:
            stmt = stmt.where(k.c.venue == venue)
        if event_id is not None:
            stmt = stmt.where(k.c.event_id == event_id)
        return self._rows(stmt.order_by(k.c.requested_at.desc(), k.c.id.desc()).limit(limit))
