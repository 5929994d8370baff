"""The overview: per venue, occupancy against the cap, gates and their versions, today's counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template

from protocols.clock import utc_now
from server.console.access import allowed_venues, login_required
from server.console.blueprint import bp, venue_tz
from server.db import get_store
from server.reports import build_report, stored_time

SEEN_RECENTLY = dt.timedelta(minutes=5)  # a gate without an MQTT status is online if it synced this recently


def gate_state(gate: dict[str, Any], current: dict[str, str], now: dt.datetime) -> dict[str, Any]:
    """A gate's row: online or not, and which documents it runs behind the current versions."""
    online = gate["status"] == "online"
    seen = stored_time(gate["last_seen"])
    if gate["status"] is None and seen is not None:
        online = now - seen < SEEN_RECENTLY
    stale = {kind: (gate["running"].get(kind), version) for kind, version in current.items()
             if gate["running"].get(kind) != version}
    return {**gate, "online": online, "stale": stale}


@bp.get("/")
@login_required("guard")
def overview():
    """Every venue the user may see, at a glance."""
    store = get_store()
    now = utc_now()
    today = now.astimezone(venue_tz(None)).date()  # the page's heading: the hub's zone
    cards = []
    for venue in allowed_venues():
        venue_today = now.astimezone(venue_tz(venue)).date()  # each venue's counts: its own day
        current = store.versions(venue["id"])
        cards.append({
            "venue": venue,
            "occupancy": store.occupancy(venue["id"], now),
            "current": current,
            "gates": [gate_state(g, current, now) for g in store.gates(venue["id"])],
            "lent": {p.gate: p for p in store.lent_places(venue["id"], now)},
            "today": build_report(store, venue, venue_today, venue_tz(venue)),
            "latest": store.denials(venue=venue["id"], limit=5),
        })
    return render_template("console/overview.html", cards=cards, today=today)
