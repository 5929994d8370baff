"""The status feeds in the console (issue 10): upload the authority's or a lab's file, find a person by ID
number, and a person's status page (each source's latest with its age, what issuing says now, the history,
a supervisor's manual entry with a reason). Every view of a person and every change is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, redirect, render_template, request, url_for
from pydantic import ValidationError

from protocols.clock import utc_now
from protocols.division_codes import DivisionError, full_name
from server.bodies import ManualStatus
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.console.forms import local_datetime, text
from server.console.holder_links import venue_person
from server.db import get_store
from server.holders import status_from_rows
from server.id_numbers import IdNumberError, check_id_number
from server.issuing import IssuePolicy, IssueRefused, pass_claims
from server.status_feeds import FEEDS, import_feed, manual_record, read_feed
from server.tabular_files import TableFileError

def _venue(name: str = "venue") -> dict[str, Any]:
    venue = text(name, 64, True, "values")
    check_venue(venue)
    row = get_store().venue(venue or "")
    if row is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    return row


@bp.get("/status")
@login_required("supervisor")
def status_page():
    """Upload a feed file, or find a person's status page by ID number."""
    return render_template("console/status.html", venues=allowed_venues(), feeds=FEEDS,
                           result=None, errors=[])


@bp.post("/status/import")
@login_required("supervisor")
def status_import():
    """Import an uploaded authority or lab file, all rows or none; the page lists every bad row."""
    venue = _venue()
    source = text("source", 16, True, "form")
    if source not in FEEDS:
        raise ConsoleError(400, "请选择来源 / Choose the source: authority or lab")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ConsoleError(400, "请选择文件 / Choose a file")
    result, errors = None, []
    try:
        table = read_feed(source, upload.read(), upload.filename)
        result = import_feed(get_store(), venue["id"], source, table, by_user=g.console_user["username"],
                             zone=venue_tz(venue))
    except TableFileError as exc:
        errors = exc.errors
    status = 200 if result is not None else 422
    return render_template("console/status.html", venues=allowed_venues(), feeds=FEEDS,
                           result=result, errors=errors, source=source, chosen=venue["id"],
                           filename=upload.filename), status


@bp.post("/status/find")
@login_required("supervisor")
def status_find():
    """The status page of the person with this ID number (typed, hashed at once: never in a URL or a log)."""
    venue = _venue()
    store = get_store()
    try:
        id_number = check_id_number(text("id_number", 32, True, "form") or "")
    except IdNumberError as exc:
        raise ConsoleError(400, str(exc)) from exc
    person = store.person(venue["id"], id_hash=store.id_hash(id_number))
    if person is None:
        raise ConsoleError(404, "该证件号在此场所未登记 / This ID number is not enrolled at this venue")
    return redirect(url_for("console.person_status", venue=venue["id"], subject=person["subject"]))


def _stays(stays: list[list[str]]) -> list[str]:
    """Declared stays as a person reads them: the region's full name and the dates."""
    out = []
    for region, start, end in stays:
        try:
            name = full_name(region)
        except DivisionError:
            name = region
        out.append(f"{name} {start} – {end}")
    return out


def _age_hours(received: str | None, now: dt.datetime) -> float | None:
    if not received:
        return None
    return round((now - dt.datetime.fromisoformat(received.replace("Z", "+00:00"))).total_seconds() / 3600, 1)


@bp.get("/status/<venue>/<subject>")
@login_required("supervisor")
def person_status(venue: str, subject: str):
    """A person's statuses: each source's latest and its age against the venue's maximum, what issuing would
    do now and why, the history, and the manual entry form (a view of personal data: audited)."""
    person = venue_person(venue, subject)
    store = get_store()
    row = store.venue(venue) or {"id": venue}
    policy = IssuePolicy.for_venue(row)
    now = utc_now()
    latest = store.current_status(person["id"])
    try:
        claims = pass_claims(status_from_rows(person, latest), policy, now)
        verdict = {"ok": True, "colour": claims.colour, "expires_at": claims.expires_at.isoformat()}
    except IssueRefused as refused:
        verdict = {"ok": False, "message": refused.message}
    max_hours = {"authority": policy.colour_max_age, "manual": policy.colour_max_age, "lab": policy.test_window,
                 "declaration": policy.declaration_max_age}
    # A test's age counts from its sampling (the venue's test window), every other status's from its receipt.
    current = [{"source": s, "row": r, "age": _age_hours(r["test_at"] if s == "lab" else r["received_at"], now),
                "max": max_hours[s].total_seconds() / 3600, "stays": _stays(r["stays"])}
               for s, r in sorted(latest.items())]
    history = [{**r, "shown_stays": _stays(r["stays"])} for r in store.status_history(person["id"], limit=30)]
    audit("person.status_view", subject, venue)
    return render_template("console/person_status.html", person=person, venue=venue, current=current,
                           history=history, verdict=verdict,
                           now_local=now.astimezone(venue_tz(venue)).strftime("%Y-%m-%dT%H:%M"))


@bp.post("/status/<venue>/<subject>/manual")
@login_required("supervisor")
def person_manual(venue: str, subject: str):
    """A supervisor's manual entry of the person's colour or test result, with the reason (audited with it)."""
    person = venue_person(venue, subject)
    tz = venue_tz(venue)
    try:
        body = ManualStatus(subject=subject, colour=text("colour", 8, False, "form"),
                            test_result=text("test_result", 10, False, "form"),
                            test_at=local_datetime("test_at", source="form", tz=tz),
                            reason=text("reason", 200, True, "form") or "")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConsoleError(400, f"录入有误 / Check the entry: {first['msg']}") from exc
    get_store().add_person_status(venue, person["id"], "manual", manual_record(body), by_user=g.console_user["username"])
    return redirect(url_for("console.person_status", venue=venue, subject=subject))
