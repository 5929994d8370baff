"""The per-hour counters (and per-minute occupancy) the overview and the daily report read, and the
(event, rule) index the denial filters walk: written in the ingest transaction, read here.

Part of the store (server/store*.py): `count_events` is called by `HubStore.ingest` with the rows it has
just inserted (and by revision 0003's back-fill with the rows already there), so every figure is a sum of
rows that exist once each; a replayed event is never inserted again and so never counted again. The
counters stay when retention deletes the events (server/retention.py), so an old day's report still adds up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from protocols.events import REMEASURE_KIND
from server.schema import event_counts, event_rules, occupancy_minutes, rule_counts
from server.store_engine import insert_ignore, upsert_adding

NO_RULE = "—"  # a denial that names no failed rule (the report's own label for it)


def hour_of(at: str) -> str:
    """The counters' hour key of a stored UTC time: '2026-05-01T08:05:00.000000Z' -> '2026-05-01T08'."""
    return at[:13]


def minute_of(at: str) -> str:
    """The occupancy counters' minute key of a stored UTC time: '2026-05-01T08:05'."""
    return at[:16]


def failed_rules(failed: str) -> list[str]:
    """The rules of a stored `failed` text (',R1,R2,')."""
    return [x for x in failed.split(",") if x]


def count_events(c: Connection, rows: Iterable[Mapping[str, Any]], sign: int = 1, *, index_rules: bool = True) -> None:
    """Add (sign=1) or take back (sign=-1) event rows in the counters; with `index_rules`, their failed rules
    go into `event_rules` too (a row whose effect changed keeps its rules: index_rules=False)."""
    events: Counter[tuple] = Counter()
    rules: Counter[tuple] = Counter()
    minutes: dict[tuple[str, str], list[int]] = {}
    indexed: list[dict[str, Any]] = []
    for r in rows:
        hour = hour_of(r["at"])
        events[(r["venue"], hour, r["gate"], r["kind"], r["decision"] or "", r["person_class"] or "",
                r["effect"])] += sign
        named = failed_rules(r["failed"])
        if r["decision"] == "deny" and r["kind"] != REMEASURE_KIND:
            for rule in named or [NO_RULE]:
                rules[(r["venue"], hour, rule)] += sign
        if r["effect"]:
            pair = minutes.setdefault((r["venue"], minute_of(r["at"])), [0, 0])
            pair[0 if r["effect"] > 0 else 1] += sign
        if index_rules:
            indexed += [{"event_id": r["id"], "rule": rule, "venue": r["venue"], "at": r["at"]}
                        for rule in dict.fromkeys(named)]
    if events:
        c.execute(upsert_adding(c, event_counts, ("venue", "hour", "gate", "kind", "decision", "person_class", "effect"),
                                ("n",)),
                  [{"venue": k[0], "hour": k[1], "gate": k[2], "kind": k[3], "decision": k[4], "person_class": k[5],
                    "effect": k[6], "n": n} for k, n in sorted(events.items())])
    if rules:
        c.execute(upsert_adding(c, rule_counts, ("venue", "hour", "rule"), ("n",)),
                  [{"venue": k[0], "hour": k[1], "rule": k[2], "n": n} for k, n in sorted(rules.items())])
    if minutes:
        om = occupancy_minutes
        c.execute(upsert_adding(c, om, ("venue", "minute"), ("entries", "exits")),
                  [{"venue": v, "minute": m, "entries": e, "exits": x} for (v, m), (e, x) in sorted(minutes.items())])
    if indexed:
        c.execute(insert_ignore(c, event_rules), indexed)


def hour_counts(c: Connection, venue: str, since_hour: str, until_hour: str) -> list[dict[str, Any]]:
    """A venue's event counters for the UTC hours [since_hour, until_hour) per gate, summed over hours."""
    ec = event_counts
    stmt = (select(ec.c.gate, ec.c.kind, ec.c.decision, ec.c.person_class, ec.c.effect, func.sum(ec.c.n).label("n"))
            .where(ec.c.venue == venue, ec.c.hour >= since_hour, ec.c.hour < until_hour)
            .group_by(ec.c.gate, ec.c.kind, ec.c.decision, ec.c.person_class, ec.c.effect))
    return [dict(r) for r in c.execute(stmt).mappings()]


def hourly_decisions(c: Connection, venue: str, since_hour: str, until_hour: str) -> list[dict[str, Any]]:
    """A venue's decided events per UTC hour and decision in [since_hour, until_hour): hour, decision (None for
    none), n and the summed effect, summed over gates; re-measure prompts left out (the second reading decides)."""
    ec = event_counts
    stmt = (select(ec.c.hour, ec.c.decision, func.sum(ec.c.n).label("n"), func.sum(ec.c.effect * ec.c.n).label("effect"))
            .where(ec.c.venue == venue, ec.c.hour >= since_hour, ec.c.hour < until_hour, ec.c.kind != REMEASURE_KIND)
            .group_by(ec.c.hour, ec.c.decision).order_by(ec.c.hour, ec.c.decision))
    return [{"hour": hour, "decision": decision or None, "n": int(n), "effect": int(effect)}
            for hour, decision, n, effect in c.execute(stmt).all()]


def rule_totals(c: Connection, venue: str, since_hour: str, until_hour: str) -> dict[str, int]:
    """Denials per failed rule of a venue in the UTC hours [since_hour, until_hour)."""
    rc = rule_counts
    stmt = (select(rc.c.rule, func.sum(rc.c.n)).where(rc.c.venue == venue, rc.c.hour >= since_hour,
                                                     rc.c.hour < until_hour).group_by(rc.c.rule))
    return {rule: int(n) for rule, n in c.execute(stmt).all() if n}


def minute_changes(c: Connection, venue: str, since_minute: str, until_minute: str) -> Sequence[tuple[str, int, int]]:
    """(minute, entries, exits) of a venue's counted entries and exits in [since_minute, until_minute), in order."""
    om = occupancy_minutes
    return [tuple(r) for r in c.execute(
        select(om.c.minute, om.c.entries, om.c.exits)
        .where(om.c.venue == venue, om.c.minute >= since_minute, om.c.minute < until_minute).order_by(om.c.minute))]


def net_since(c: Connection, venue: str, since_minute: str) -> int:
    """Entries minus exits counted for a venue from a minute on (what came after a past time)."""
    om = occupancy_minutes
    return int(c.execute(select(func.coalesce(func.sum(om.c.entries - om.c.exits), 0))
                         .where(om.c.venue == venue, om.c.minute >= since_minute)).scalar())
