"""The overview: per venue, occupancy against the cap, today's counts and charts, the gates and their own figures.

The live part (charts, gate figures) is also served alone as a fragment the page fetches again every
LIVE_EVERY_S seconds (static/live.js), so an open overview stays current without a reload."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template, request

from protocols.clock import utc_now
from server.console.access import allowed_venues, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.overview_live import LIVE_EVERY_S, charts, today_series
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


def venue_gates(venue: dict[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    """A venue's gates as the overview and fleet pages show them: state, lent places and own figures."""
    store = get_store()
    current = store.versions(venue["id"])
    lent = {p.gate: p for p in store.lent_places(venue["id"], now)}
    figures = store.gate_figures(venue["id"])
    return [{**gate_state(row, current, now), "lent": lent.get(row["id"]), "figures": figures.get(row["id"])}
            for row in store.gates(venue["id"])]


def live_card(venue: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What the live fragment shows of a venue: occupancy now, today's charts, the gates' figures."""
    store = get_store()
    tz = venue_tz(venue)
    occupancy = store.occupancy(venue["id"], now)
    series = today_series(store, venue, now.astimezone(tz).date(), tz, now)
    return {"venue": venue, "occupancy": occupancy, "charts": charts(series, occupancy.get("cap")),
            "series": series, "gates": venue_gates(venue, now), "current": store.versions(venue["id"])}


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
        cards.append({
            **live_card(venue, now),
            "today": build_report(store, venue, venue_today, venue_tz(venue)),
            "latest": store.denials(venue=venue["id"], limit=5),
        })
    return render_template("console/overview.html", cards=cards, today=today, live_every_s=LIVE_EVERY_S)


@bp.get("/overview/live")
@login_required("guard")
def overview_live():
    """One venue's live fragment (occupancy, charts, gates' figures): what the overview fetches every few seconds."""
    venue_id = request.args.get("venue", "")
    check_venue(venue_id)
    venue = get_store().venue(venue_id)
    if venue is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    return render_template("console/_overview_live.html", c=live_card(venue, utc_now()))
