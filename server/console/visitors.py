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
from server.console.holder_links import slip
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


@bp.post("/denials/<event_id>/visit")
@login_required("supervisor")
def visit_from_denial(event_id: str):
    """Turn a refused visitor's denial into a pending visit request.

    The denial holds only the gate's keyed hash of the pass's subject (the hub has no venue key to undo it),
    so the supervisor types the visitor's ID number: the hub finds the enrolled person by its keyed hash."""
    store = get_store()
    row = store.event_detail(event_id)
    if row is None or row["decision"] not in ("deny", "refer"):
        raise ConsoleError(404, "没有这条拒绝记录 / No such denial")
    venue = row["venue"]
    check_venue(venue)
    id_number = text("id_number", 32, True, "form") or ""
    person = store.person(venue, id_hash=store.id_hash(id_number))
    if person is None:
        raise ConsoleError(400, "该证件号未登记，请先登记访客 / This ID number is not enrolled: enrol the visitor first")
    starts = local_datetime("starts_at", required=True, source="form", tz=venue_tz(venue))
    ends = local_datetime("ends_at", required=True, source="form", tz=venue_tz(venue))
    if starts is None or ends is None or not starts < ends <= starts + LONGEST_VISIT:
        raise ConsoleError(400, "时段须在开始之后、7 天以内结束 / The window must end after it starts, within 7 days")
    visit_id = store.create_visit(venue, person["masked_name"], person["subject"], text("host", 64, True, "form") or "",
                                  text("purpose", 200, True, "form") or "", utc_text(starts), utc_text(ends),
                                  g.console_user["username"])
    audit("visit.from_denial", f"{event_id} -> {visit_id}", venue)
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
    if status == "approved":
        # The visitor's own link, valid for the window only (their pass carries it): printed or sent now.
        person = store.person(visit["venue"], subject=visit["subject"])
        if person is not None:
            secret = store.issue_holder_link(visit["venue"], visit["subject"], g.console_user["username"],
                                             valid_from=visit["starts_at"], valid_until=visit["ends_at"], visit=visit_id)
            audit("holder.link_issue", visit["subject"], visit["venue"])
            return slip(visit["venue"], person, secret, (visit["starts_at"], visit["ends_at"]))
    return redirect(url_for("console.visitors"))
