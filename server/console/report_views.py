"""Daily reports: the day's figures (or a zero report), filing them once, the filed list, CSV."""

from __future__ import annotations

import datetime as dt

from flask import Response, g, redirect, render_template, url_for

from protocols.clock import utc_now, utc_text
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import local_day, parse_day, text
from server.db import get_store
from server.reports import (
    DailyReport,
    build_report,
    deadline,
    report_csv,
    report_from_json,
)


def _venue(venue_id: str | None) -> dict:
    venue_id = venue_id or g.console_user["venue"] or next((v["id"] for v in allowed_venues()), None)
    check_venue(venue_id)
    venue = get_store().venue(venue_id or "")
    if venue is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    return venue


def _report(venue: dict, day: dt.date) -> tuple[DailyReport, dict | None]:
    filed = get_store().filed_report(venue["id"], day.isoformat())
    if filed is not None:  # a filed report is what was filed, whatever arrives later
        return report_from_json(filed["body"]), filed
    return build_report(get_store(), venue, day, venue_tz(venue)), None


@bp.get("/reports")
@login_required("supervisor")
def reports():
    """One venue's report for a day (yesterday by default), whether it is due or late, and the filed list."""
    venue = _venue(text("venue"))
    today = utc_now().astimezone(venue_tz(venue)).date()
    day = local_day("day", today - dt.timedelta(days=1))
    report, filed = _report(venue, day)
    due = deadline(venue, day, venue_tz(venue))
    return render_template(
        "console/reports.html", venue=venue, venues=allowed_venues(), day=day, report=report, filed=filed,
        due=due, late_now=utc_now() > due, can_file=filed is None and day < today,
        filed_list=get_store().filed_reports(g.console_user["venue"]))


@bp.post("/reports/<venue_id>/<day>/file")
@login_required("supervisor")
def file_report(venue_id: str, day: str):
    """File a day's report once (who, when, late or not); it never changes afterwards."""
    venue = _venue(venue_id)
    the_day = parse_day(day)
    now = utc_now()
    if the_day >= now.astimezone(venue_tz(venue)).date():
        raise ConsoleError(400, "当天尚未结束，不能填报 / The day is not over yet: it cannot be filed")
    report = build_report(get_store(), venue, the_day, venue_tz(venue))
    due = deadline(venue, the_day, venue_tz(venue))
    if not get_store().file_report(venue["id"], day, g.console_user["username"], utc_text(due), now > due, report.to_json()):
        raise ConsoleError(409, "该日报告已填报，不可修改 / This day's report is already filed and cannot change")
    audit("report.file", day, venue["id"])
    return redirect(url_for("console.reports", venue=venue["id"], day=day))


@bp.get("/reports/<venue_id>/<day>.csv")
@login_required("supervisor")
def report_download(venue_id: str, day: str):
    """The day's report as CSV (the filed one when filed)."""
    venue = _venue(venue_id)
    the_day = parse_day(day)
    report, filed = _report(venue, the_day)
    return Response(report_csv(report, filed, venue_tz(venue)), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=report-{venue['id']}-{day}.csv"})
