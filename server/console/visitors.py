"""Visitors: create a visit request, approve or refuse it by name; each decision republishes the
venue's appointments document to its gates."""

from __future__ import annotations

import datetime as dt

from flask import g, redirect, render_template, url_for

from protocols.clock import utc_text
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.appointments import publish_appointments
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import local_datetime, text
from server.db import get_store

LONGEST_VISIT = dt.timedelta(days=7)


@bp.get("/visitors")
@login_required("supervisor")
def visitors():
    """Visit requests of the user's venues (a view of personal data: audited)."""
    venue = g.console_user["venue"]
    rows = get_store().visits(venue)
    audit("visitors.list", str(len(rows)), venue)
    return render_template("console/visitors.html", rows=rows, venues=allowed_venues())


@bp.post("/visitors")
@login_required("supervisor")
def create_visit():
    """Record a pending visit request."""
    venue = text("venue", required=True, source="form")
    check_venue(venue)
    if get_store().venue(venue or "") is None:
        raise ConsoleError(400, "场所不存在 / No such venue")
    starts = local_datetime("starts_at", required=True, source="form", tz=venue_tz(venue))
    ends = local_datetime("ends_at", required=True, source="form", tz=venue_tz(venue))
    if starts is None or ends is None or not starts < ends <= starts + LONGEST_VISIT:
        raise ConsoleError(400, "时段须在开始之后、7 天以内结束 / The window must end after it starts, within 7 days")
    visit_id = get_store().create_visit(
        venue or "", text("name", 32, True, "form") or "", text("subject", 64, True, "form") or "",
        text("host", 64, True, "form") or "", text("purpose", 200, True, "form") or "", utc_text(starts), utc_text(ends),
        g.console_user["username"])
    audit("visit.create", str(visit_id), venue)
    return redirect(url_for("console.visitors"))


@bp.post("/visitors/<int:visit_id>/<any(approve, refuse):action>")
@login_required("supervisor")
def decide_visit(visit_id: int, action: str):
    """Approve or refuse a pending visit; the approver is recorded; the appointments are republished."""
    store = get_store()
    visit = store.visit(visit_id)
    if visit is None:
        raise ConsoleError(404, "没有这条访客申请 / No such visit request")
    check_venue(visit["venue"])
    status = "approved" if action == "approve" else "refused"
    if not store.decide_visit(visit_id, status, g.console_user["username"]):
        raise ConsoleError(409, "该申请已处理 / This request has already been decided")
    publish_appointments(store, visit["venue"])
    audit(f"visit.{action}", str(visit_id), visit["venue"])
    return redirect(url_for("console.visitors"))
