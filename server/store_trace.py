"""Contact tracing's SQL: a venue's entries and exits with each one's neighbours, and its other events as points.

A mixin of `server.store.HubStore` (the hub's SQL lives in server/store*.py only). What a stay is, and
which ones overlap, is decided in `server/contact_trace.py`; this module only reads rows, narrowed in
SQL to those that can overlap so a trace over a month of a busy venue returns its contacts, not its events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, and_, case, false, func, literal, or_, select

from server.schema import events

# An event is an entry when it took a place (effect +1, `protocols.events.takes_place`), an exit when it is one by
# `server.store.effect` (kind exit, or an admitted way out) whether or not it freed a place; anything else is a point.
_E = events
MOVE = case((_E.c.effect == 1, literal("in")),
            (or_(_E.c.kind == "exit", and_(_E.c.direction == "out", _E.c.decision == "admit")), literal("out")),
            else_=literal("at"))
ROW_COLUMNS = (_E.c.id, _E.c.subject, _E.c.gate, _E.c.at, _E.c.name, _E.c.person_class, _E.c.kind, _E.c.decision)

Interval = tuple[str, str]  # [from, until] as stored UTC text, both ends included
# An interval with the earliest entry whose stay can still reach it (its start less the longest stay).
Reach = tuple[str, str, str]


class TraceQueries:
    """Rows a contact trace reads (mixed into HubStore)."""

    conn: Connection

    def trace_moves(self, venue: str, since: str, until: str, *, subject: str | None = None,
                    overlapping: Sequence[Reach] = (), exclude: str | None = None) -> list[Row[Any]]:
        """A venue's entries and exits in [since, until), each with the previous and next move of its subject
        (`prev_at`/`prev_move`, `next_at`/`next_move`/`next_gate`), oldest first.

        `subject`: only that person's. `overlapping` (earliest, start, end): only the moves that may start or be a
        stay touching one of the intervals (an entry from `earliest` to its end whose next move is not before its
        start; an exit inside it): a superset the caller makes exact. `exclude`: leave that subject out.
        Neighbours are read over the whole [since, until): give a range a longest stay wider than the intervals.
        """
        e = _E
        move = MOVE.label("move")
        window = {"partition_by": e.c.subject, "order_by": (e.c.at, e.c.id)}
        inner = (select(*ROW_COLUMNS, move,
                        func.lag(e.c.at).over(**window).label("prev_at"),
                        func.lag(MOVE).over(**window).label("prev_move"),
                        func.lead(e.c.at).over(**window).label("next_at"),
                        func.lead(MOVE).over(**window).label("next_move"),
                        func.lead(e.c.gate).over(**window).label("next_gate"))
                 .where(e.c.venue == venue, e.c.at >= since, e.c.at < until, e.c.subject.is_not(None),
                        MOVE != "at"))
        if subject is not None:
            inner = inner.where(e.c.subject == subject)
        if exclude is not None:
            inner = inner.where(e.c.subject != exclude)
        m = inner.subquery("moves")
        stmt = select(m)
        if overlapping:
            stmt = stmt.where(or_(false(), *(
                or_(and_(m.c.move == "in", m.c.at <= b, m.c.at >= earliest,
                         or_(m.c.next_at.is_(None), m.c.next_at >= a)),
                    and_(m.c.move == "out", m.c.at >= a, m.c.at <= b))
                for earliest, a, b in overlapping)))
        return self._trace_rows(stmt.order_by(m.c.at, m.c.id))

    def trace_points(self, venue: str, intervals: Sequence[Interval], *, subject: str | None = None,
                     exclude: str | None = None) -> list[Row[Any]]:
        """A venue's refused or referred presentations (a fever, a red code, a re-measure prompt...) inside the
        intervals: a person seen at a gate at that moment. `subject`: only theirs; `exclude`: not theirs."""
        e = _E
        if not intervals:
            return []
        # By decision, so the (venue, decision, at) index finds them: scanning the intervals' events cost 10x.
        stmt = (select(*ROW_COLUMNS).where(e.c.venue == venue, e.c.decision.in_(("deny", "refer")),
                                           e.c.subject.is_not(None), MOVE == "at",
                                           or_(*(and_(e.c.at >= a, e.c.at <= b) for a, b in intervals))))
        if subject is not None:
            stmt = stmt.where(e.c.subject == subject)
        if exclude is not None:
            stmt = stmt.where(e.c.subject != exclude)
        return self._trace_rows(stmt.order_by(e.c.at, e.c.id))

    def _trace_rows(self, stmt: Any) -> list[Row[Any]]:
        # Rows as they come (read by attribute): a dict per row cost a tenth of a trace of tens of thousands.
        return list(self.conn.execute(stmt).all())
