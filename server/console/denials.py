"""Denials: the refused and referred entries, filtered and paginated; detail and review."""

from __future__ import annotations

from typing import get_args
from urllib.parse import urlencode

from flask import g, redirect, render_template, request, url_for

from protocols.clock import utc_now
from protocols.credential import PersonClass
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import positive_int, stored_time, text
from server.db import get_store
from server.store_console import BadCursor, cursor_of, parse_cursor
from server.store_commands import command_state

PAGE_SIZE = 50
DECISIONS = {"": ("deny", "refer"), "deny": ("deny",), "refer": ("refer",)}
PERSON_CLASSES = get_args(PersonClass)
# The query keys the page reads; anything else in a query string is ignored, never fed to url_for.
FILTER_KEYS = ("venue", "gate", "since", "until", "decision", "rule", "person_class", "name")


def _filters() -> dict:
    venue = text("venue") or g.console_user["venue"]
    check_venue(venue)
    decision = request.args.get("decision", "")
    if decision not in DECISIONS:
        raise ConsoleError(400, "decision 须为 deny 或 refer / decision must be deny or refer")
    tz = venue_tz(venue)  # the from/until a person typed are the venue's local time
    return {"venue": venue, "gate": text("gate"), "since": stored_time("since", tz), "until": stored_time("until", tz),
            "decisions": DECISIONS[decision], "rule": text("rule"), "person_class": text("person_class", 16),
            "name": text("name", 32)}


@bp.get("/denials")
@login_required("guard")
def denials():
    """Denials newest first, 50 a page; each row with its failing rules in Chinese and English."""
    filters = _filters()
    page = positive_int("page", 1, 100_000)
    try:
        before, after = parse_cursor(request.args.get("before")), parse_cursor(request.args.get("after"))
    except BadCursor as exc:
        raise ConsoleError(400, str(exc)) from exc
    if before and after:
        raise ConsoleError(400, "before 与 after 只能给一个 / give before or after, not both")
    # Keyset pages (`before`/`after`: the row the page starts past) cost their own rows however deep; a
    # `page` alone (links from before keyset paging) still works, by offset.
    offset = 0 if before or after else (page - 1) * PAGE_SIZE
    rows = get_store().denials(**filters, limit=PAGE_SIZE + 1, offset=offset, before=before, after=after)
    if after:  # read oldest first: the extra row, if any, is the newest, and says a newer page exists
        more, newer = True, len(rows) > PAGE_SIZE
        rows = rows[-PAGE_SIZE:]
    else:
        more, newer = len(rows) > PAGE_SIZE, page > 1
        rows = rows[:PAGE_SIZE]
    audit("denials.list", request.query_string.decode("utf-8", "replace")[:500] or "-", filters["venue"])
    # Only the filters go back into the page links: a key such as `_scheme` or `_external` in
    # url_for(**request.args) was a 500 (and could point the links at another host).
    args = {k: request.args[k] for k in FILTER_KEYS if request.args.get(k)}
    base = url_for("console.denials") + "?"
    pages = {}
    if rows and newer and page > 1:
        pages[page - 1] = base + urlencode({**args, "after": cursor_of(rows[0]), "page": page - 1})
    if rows and more:
        pages[page + 1] = base + urlencode({**args, "before": cursor_of(rows[-1]), "page": page + 1})
    # Past the last page (an old `page=` link, or rows deleted by retention) the way back is the first page.
    first = base + urlencode(args) if args else base.rstrip("?")
    return render_template("console/denials.html", rows=rows, page=page, more=page + 1 in pages,
                           args=args, pages=pages, first=first, venues=allowed_venues(), person_classes=PERSON_CLASSES)


def _denial(event_id: str) -> dict:
    row = get_store().event_detail(event_id)
    if row is None or row["decision"] not in ("deny", "refer"):
        raise ConsoleError(404, "没有这条拒绝记录 / No such denial")
    check_venue(row["venue"])
    return row


@bp.get("/denials/<event_id>")
@login_required("guard")
def denial(event_id: str):
    """One denial in full (a view of personal data: audited)."""
    row = _denial(event_id)
    audit("denial.view", event_id, row["venue"])
    # "Open once" from this page: the commands sent for this denial, their reasons and results beside it.
    commands = [{**k, "state": command_state(k, utc_now())} for k in get_store().commands(event_id=event_id)]
    return render_template("console/denial.html", row=row, commands=commands)


@bp.post("/denials/<event_id>/review")
@login_required("supervisor")
def review(event_id: str):
    """Mark a denial reviewed with a note (stored and audited)."""
    row = _denial(event_id)
    note = text("note", 500, required=True, source="form")
    get_store().review_denial(event_id, g.console_user["username"], note or "")
    audit("denial.review", event_id, row["venue"])
    return redirect(url_for("console.denial", event_id=event_id))
