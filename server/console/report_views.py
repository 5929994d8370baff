"""Daily reports: the day's figures (or a zero report), filing them once, the filed list, CSV."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Response, current_app, g, redirect, render_template, url_for

from protocols.clock import utc_now, utc_text
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import local_day, parse_day, text
from server.db import get_store
from server.report_pdf import NoCjkFont, cjk_font, report_pdf
from server.reports import (
    DailyReport,
    build_report,
    deadline,
    report_csv,
    report_from_json,
    stored_time,
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
        can_withdraw=filed is not None and _filed_today(venue, filed),
        filed_list=get_store().filed_reports(g.console_user["venue"]))


def _filed_today(venue: dict, filed: dict) -> bool:
    """Whether a filing was made on the venue's local day that is today (only then may it be withdrawn)."""
    at = stored_time(filed["filed_at"])
    tz = venue_tz(venue)
    return at is not None and at.astimezone(tz).date() == utc_now().astimezone(tz).date()


@bp.post("/reports/<venue_id>/<day>/file")
@login_required("supervisor")
def file_report(venue_id: str, day: str):
    """File a day's report once (who, when, late or not); it never changes afterwards."""
    venue = _venue(venue_id)
    the_day = parse_day(day)
    now = utc_now()
    today = now.astimezone(venue_tz(venue)).date()
    if the_day > today:
        raise ConsoleError(400, "不能填报未来的日期 / A day still to come cannot be filed")
    if the_day == today:
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
    return _download(venue_id, day, "csv", "text/csv; charset=utf-8",
                     lambda venue, report, filed: report_csv(report, filed, venue_tz(venue)))


def _download(venue_id: str, day: str, suffix: str, content_type: str,
              make: Callable[[dict, DailyReport, dict | None], str | bytes]) -> Response:
    """A day's report (the filed one when filed) as a file `make` writes."""
    venue = _venue(venue_id)
    report, filed = _report(venue, parse_day(day))
    return Response(make(venue, report, filed), content_type=content_type,
                    headers={"Content-Disposition": f"attachment; filename=report-{venue['id']}-{day}.{suffix}"})


@bp.post("/reports/<venue_id>/<day>/withdraw")
@login_required("admin")
def withdraw_report(venue_id: str, day: str):
    """Withdraw a filing (admins, on the venue's day it was filed) so the day can be filed again; audited."""
    venue = _venue(venue_id)
    the_day = parse_day(day)
    filed = get_store().filed_report(venue["id"], the_day.isoformat())
    if filed is None:
        raise ConsoleError(404, "该日报告尚未填报 / This day's report is not filed")
    if not _filed_today(venue, filed):
        raise ConsoleError(409, "只能在填报当天撤回 / A filing can be withdrawn only on the day it was made")
    withdrawn = get_store().withdraw_report(venue["id"], the_day.isoformat())
    if withdrawn is None:  # withdrawn by someone else meanwhile
        raise ConsoleError(404, "该日报告尚未填报 / This day's report is not filed")
    audit("report.withdraw", f"{the_day} filed by {withdrawn['filed_by']} at {withdrawn['filed_at']}", venue["id"])
    return redirect(url_for("console.reports", venue=venue["id"], day=the_day.isoformat()))


@bp.get("/reports/<venue_id>/<day>.pdf")
@login_required("supervisor")
def report_pdf_download(venue_id: str, day: str):
    """The day's report as PDF (the filed one when filed), the CJK font embedded."""
    try:
        font = cjk_font(current_app.config.get("REPORT_FONT"))
    except NoCjkFont as exc:
        raise ConsoleError(503, str(exc)) from exc
    return _download(venue_id, day, "pdf", "application/pdf", lambda venue, report, filed: report_pdf(
        report, venue.get("name") or venue["id"], filed, venue_tz(venue), font))
