"""The roster page: a venue's enrolled people (masked names only) with search, and the roster import
in two steps: upload and preview (every row checked, counts and the first errors shown, nothing stored),
then confirm (stored, audited). Between the two the hub holds only what the import stores (ID hashes,
masked names; `HubStore.hold_roster_upload`), never the file."""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for

from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.console.forms import positive_int, text
from server.db import get_store
from server.roster_import import import_roster
from server.tabular_files import MAX_BYTES

PAGE_SIZE = 50
SHOWN_ERRORS = 20  # the preview lists the first errors; the count says how many there are


def _venue(source: str = "values") -> str:
    """The venue the page is about: the one named (checked), else the user's own or first allowed."""
    venue = text("venue", 64, source=source)
    if venue is None:
        venue = g.console_user["venue"] or next((v["id"] for v in allowed_venues()), None)
    if venue is None:
        raise ConsoleError(404, "尚无场所 / No venue yet")
    check_venue(venue)
    if get_store().venue(venue) is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    return venue


def _page(venue: str, **extra):
    """The roster page of a venue: its people (searched, a page of them) and whatever the import step adds."""
    store = get_store()
    q = text("q", 64)
    page = positive_int("page", 1, 10_000)
    rows = store.people(venue, q, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    audit("roster.list", f"q={q or ''} page={page}: {min(len(rows), PAGE_SIZE)}", venue)  # masked names, still people
    return render_template("console/roster.html", venue=venue, venues=allowed_venues(), rows=rows[:PAGE_SIZE],
                           more=len(rows) > PAGE_SIZE, page=page, q=q or "", total=store.people_count(venue),
                           max_mb=MAX_BYTES >> 20, shown_errors=SHOWN_ERRORS, **extra)


@bp.get("/roster")
@login_required("supervisor")
def roster_page():
    """A venue's enrolled people by masked name, 50 a page, with search (audited); the import form for admins."""
    return _page(_venue(), done=session.pop("roster_done", None))


@bp.post("/roster/preview")
@login_required("admin")
def roster_preview():
    """Check an uploaded roster and show what importing it would do; nothing is stored (a preview is audited)."""
    venue = _venue("form")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ConsoleError(400, "请选择名单文件 / choose a roster file")
    data = upload.read()  # at most the hub's request limit (16 MB); the reader refuses over 10 MB, naming the size
    result = import_roster(get_store(), venue, data, upload.filename, by_user=g.console_user["username"], dry_run=True)
    token = get_store().hold_roster_upload(venue, g.console_user["username"], result.records) if result.ok else None
    return _page(venue, preview=result, token=token, filename=upload.filename)


@bp.post("/roster/confirm")
@login_required("admin")
def roster_confirm():
    """Store the previewed roster (audited) and show its counts; an upload older than an hour must be checked again."""
    venue = _venue("form")
    token = text("token", 64, True, "form") or ""
    store = get_store()
    user = g.console_user["username"]
    records = store.held_roster_upload(token, venue, user)
    if records is None:
        raise ConsoleError(409, "预览已失效，请重新上传 / The preview has expired or was used: upload the file again")
    changes = store.apply_roster(venue, records, by_user=user)
    store.drop_roster_upload(token)
    session["roster_done"] = {"added": changes.added, "changed": changes.changed, "removed": changes.removed,
                              "unchanged": changes.unchanged, "version": changes.roster_version}
    return redirect(url_for("console.roster_page", venue=venue))
