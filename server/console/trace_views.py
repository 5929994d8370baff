"""Contact tracing (追踪接触) in the console: from an event, everyone whose presence came within a window of
that person's, on a page and as CSV; supervisors and admins only, every trace audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, render_template, request

from protocols.clock import utc_now
from server.console.access import audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import parse_day, text
from server.contact_trace import MAX_DAYS, MAX_WINDOW_MINUTES, Trace, trace
from server.csv_export import csv_text
from server.db import get_store
from server.reports import day_bounds, local_text, stored_time

WINDOWS = (0, 15, 30, 60, 120)  # the page's choices, in minutes; any 0..MAX_WINDOW_MINUTES is taken
DEFAULT_WINDOW = 30
# The event's own day: the page answers in a second on a busy venue (docs/benchmarks.md); a confirmed case's
# infectious period is chosen with "From day" (up to MAX_DAYS), at a cost that grows with the venue's moves.
DEFAULT_DAYS = 1
PAGE_CONTACTS = 300  # the page lists the first ones (HTML of thousands of rows took seconds); the CSV has all
KIND_LABELS = {"stay": ("停留", "stay"), "open": ("停留（无离开记录）", "stay, no exit recorded"),
               "point": ("在闸机处", "at the gate")}


def _window() -> int:
    value = (request.args.get("window") or str(DEFAULT_WINDOW)).strip()
    if not value.isdigit() or int(value) > MAX_WINDOW_MINUTES:
        raise ConsoleError(400, f"window 须为 0..{MAX_WINDOW_MINUTES} 分钟 / window must be 0..{MAX_WINDOW_MINUTES} minutes")
    return int(value)


def _question() -> tuple[dict[str, Any], dict[str, Any], dt.date, dt.date, int] | None:
    """The event, its venue, the days and the window asked for; None when no event is named yet."""
    event_id = text("event", 26)
    if event_id is None:
        return None
    event = get_store().event_detail(event_id)
    if event is None:
        raise ConsoleError(404, "没有这条记录 / No such event")
    check_venue(event["venue"])
    if not event["subject"]:
        raise ConsoleError(409, "该记录的身份已按保留期清除，无法追踪 / This event's person was purged by retention: nothing to trace")
    venue = get_store().venue(event["venue"]) or {"id": event["venue"]}
    tz = venue_tz(venue)
    at = stored_time(event["at"])
    if at is None:
        raise ConsoleError(409, "该记录的时间无效 / This event's time is not valid")
    day = at.astimezone(tz).date()
    since = parse_day(request.args["since"], "since") if request.args.get("since") else day - dt.timedelta(days=DEFAULT_DAYS - 1)
    until = parse_day(request.args["until"], "until") if request.args.get("until") else day
    if since > until:
        raise ConsoleError(400, "开始日期晚于结束日期 / since is after until")
    if (until - since).days + 1 > MAX_DAYS:
        raise ConsoleError(400, f"最多追踪 {MAX_DAYS} 天 / at most {MAX_DAYS} days can be traced at once")
    return event, venue, since, until, _window()


def _run() -> tuple[dict[str, Any], dict[str, Any], Trace, dt.date, dt.date, int] | None:
    question = _question()
    if question is None:
        return None
    event, venue, since, until, window = question
    tz = venue_tz(venue)
    result = trace(get_store(), venue, event["subject"], day_bounds(since, tz)[0], day_bounds(until, tz)[1],
                   dt.timedelta(minutes=window), utc_now())
    return event, venue, result, since, until, window


def _target(event: dict[str, Any], since: dt.date, until: dt.date, window: int, result: Trace) -> str:
    return f"{event['id']} {since}..{until} ±{window}min: {len(result.contacts)} contacts"


@bp.get("/trace")
@login_required("supervisor")
def trace_page():
    """The trace of the person of an event (`?event=`), or the form to start one; audited when it runs."""
    ran = _run()
    if ran is None:
        return render_template("console/trace.html", event=None, windows=WINDOWS, window=DEFAULT_WINDOW)
    event, venue, result, since, until, window = ran
    audit("trace.contacts", _target(event, since, until, window, result), venue["id"])
    return render_template("console/trace.html", event=event, venue=venue, result=result, since=since, until=until,
                           window=window, windows=WINDOWS, kinds=KIND_LABELS, tz=venue_tz(venue),
                           local_text=local_text, shown=result.contacts[:PAGE_CONTACTS],
                           more=max(0, len(result.contacts) - PAGE_CONTACTS))


CSV_HEADER = ["姓名（脱敏）masked name", "标识摘要 subject hash", "人员类别 person class", "类型 kind",
              "进入闸机 gate in", "进入时间 from", "离开闸机 gate out", "离开时间 until", "最近间隔（分钟）closest gap (min)"]


def trace_csv(result: Trace, tz: Any) -> str:
    """The contacts as CSV: one row per presence that touched the window, times in the venue's zone."""
    fmt = "%Y-%m-%d %H:%M:%S %z"
    rows: list[list[Any]] = [CSV_HEADER]
    for c in result.contacts:
        for p in c.presences:
            zh, en = KIND_LABELS[p.kind]
            rows.append([c.name or "", c.subject, c.person_class or "", f"{zh} {en}", p.gate_in,
                         p.start.astimezone(tz).strftime(fmt), p.gate_out or "",
                         p.end.astimezone(tz).strftime(fmt) if p.kind != "point" else "",
                         round(c.gap.total_seconds() / 60)])
    return csv_text(rows)


@bp.get("/trace.csv")
@login_required("supervisor")
def trace_download():
    """The same trace as CSV (audited as an export)."""
    ran = _run()
    if ran is None:
        raise ConsoleError(400, "event 不能为空 / event is required")
    event, venue, result, since, until, window = ran
    audit("trace.export", _target(event, since, until, window, result), venue["id"])
    return Response(trace_csv(result, venue_tz(venue)), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=trace-{venue['id']}-{event['id']}.csv"})
