"""The overview's live part: today's charts and the gates' own figures, as data and as the fragment
the page fetches again every LIVE_EVERY_S seconds (static/live.js)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from protocols.clock import utc_text
from server.console.charts import stacked_bars, step_line
from server.reports import day_bounds
from server.store import HubStore

LIVE_EVERY_S = 15  # how often an open overview fetches its figures again
OUTCOMES = ("admit", "deny", "refer")


def day_hours(day: dt.date, tz: ZoneInfo) -> list[dt.datetime]:
    """The UTC hour starts covering a venue's local day (23 to 25 of them across a DST change)."""
    start, end = day_bounds(day, tz)
    at = start.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = []
    while at < end:
        hours.append(at)
        at += dt.timedelta(hours=1)
    return hours


def hour_label(at: dt.datetime, tz: ZoneInfo) -> str:
    """A UTC hour start as the venue's local clock reads it ("08", or "05:30" in a half-hour zone)."""
    local = at.astimezone(tz)
    return local.strftime("%H") if local.minute == 0 else local.strftime("%H:%M")


def today_series(store: HubStore, venue: dict[str, Any], day: dt.date, tz: ZoneInfo,
                 now: dt.datetime) -> dict[str, Any]:
    """Decisions per hour by outcome and occupancy at each hour's end, for the venue's local day up to now."""
    hours = day_hours(day, tz)
    start, end = hours[0], hours[-1] + dt.timedelta(hours=1)
    rows = store.hourly_counts(venue["id"], utc_text(start), utc_text(end))
    keys = {h.strftime("%Y-%m-%dT%H"): i for i, h in enumerate(hours)}
    outcomes = {o: [0] * len(hours) for o in OUTCOMES}
    effect = [0] * len(hours)
    for r in rows:
        i = keys.get(r["hour"])
        if i is None:
            continue
        if r["decision"] in outcomes:
            outcomes[r["decision"]][i] += int(r["n"])
        effect[i] += int(r["effect"])
    inside = max(0, store.effect_before(venue["id"], utc_text(start)))
    levels: list[int | None] = []
    for i, h in enumerate(hours):
        inside = max(0, inside + effect[i])
        levels.append(inside if h <= now else None)  # no line into the hours still to come
    return {"labels": [hour_label(h, tz) for h in hours], "outcomes": outcomes, "occupancy": levels}


def charts(series: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """The two SVG charts of a venue's day."""
    return {
        "decisions": stacked_bars(series["labels"], series["outcomes"], "每小时判定 Decisions per hour"),
        "occupancy": step_line(series["labels"], series["occupancy"], "在场人数 People inside", cap),
    }
