"""Holder links in the console: print a person's slip (the link as a QR), revoke it, issue a new one; a
visitor's link is issued when the visit is approved (server/console/visitors.py); the goods trace by batch."""

from __future__ import annotations

from typing import Any

import segno
from flask import g, render_template, request, url_for
from markupsafe import Markup

from server.console.access import audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.console.forms import text
from server.db import get_store


def holder_url(secret: str) -> str:
    """The full link a holder opens (the hub's own address, as this request reached it)."""
    return request.host_url.rstrip("/") + url_for("holder.page", secret=secret)


def slip(venue: str, person: dict[str, Any], secret: str, window: tuple[str, str] | None = None) -> str:
    """The printable slip: the link as text and as a QR drawn here (inline SVG: nothing from elsewhere)."""
    link = holder_url(secret)
    qr = Markup(segno.make(link, error="m").svg_inline(scale=5, border=2))
    return render_template("console/holder_slip.html", venue=venue, person=person, link=link, qr=qr, window=window)


def venue_person(venue: str, subject: str) -> dict[str, Any]:
    """The venue's enrolled person with this subject (the venue checked against the user's scope), else 404."""
    check_venue(venue)
    person = get_store().person(venue, subject=subject)
    if person is None:
        raise ConsoleError(404, "没有此人 / No such person at this venue")
    return person


@bp.post("/holders/<venue>/<subject>/link")
@login_required("supervisor")
def issue_link(venue: str, subject: str):
    """Issue (or re-issue: the old one stops working) a person's link and show the slip to print (audited)."""
    person = venue_person(venue, subject)
    secret = get_store().issue_holder_link(venue, subject, g.console_user["username"])
    audit("holder.link_issue", subject, venue)
    return slip(venue, person, secret)


@bp.post("/holders/<venue>/<subject>/revoke")
@login_required("supervisor")
def revoke_link(venue: str, subject: str):
    """Revoke a person's link: it answers 404 from now on (audited)."""
    venue_person(venue, subject)
    n = get_store().revoke_holder_links(venue, subject)
    audit("holder.link_revoke", f"{subject}: {n}", venue)
    return render_template("console/error.html", status=200,
                           message=f"已撤销 {n} 个链接 / Revoked {n} link(s)"), 200


@bp.get("/goods")
@login_required("supervisor")
def goods_trace():
    """Search the goods couriers declared by batch number (a view of personal data: audited)."""
    venue = text("venue", 64, False, "args")
    batch = text("batch", 64, False, "args")
    rows: list[dict[str, Any]] = []
    if venue and batch:
        check_venue(venue)
        rows = get_store().goods_trace(venue, batch)
        audit("goods.trace", f"{batch}: {len(rows)}", venue)
    return render_template("console/goods.html", rows=rows, venue=venue or "", batch=batch or "")
