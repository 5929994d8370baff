"""The console's alerts (issue 12): the list with each fever's report countdown, acknowledging with a
note, the venue's delivery settings, and the live stream the badge and sound of every page follow.

The stream is server-sent events, poll-backed and bounded: each connection reads the open count once
a second for at most STREAM_S seconds, then ends with a `retry:` so the browser's EventSource comes
back by itself. Under gunicorn's sync workers a console tab so holds a worker for STREAM_S at most,
never for good (a reconnect may land on any worker; the rows, not a worker, hold the alerts).
"""

from __future__ import annotations

import json
import time

from flask import Response, g, redirect, render_template, request, stream_with_context, url_for

from protocols.clock import utc_now
from server import alerts as rules
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.console.forms import text
from server.db import get_store
from server.store_alerts import AckRefused

STREAM_S = 25.0  # one connection's life: a worker is held this long at most
POLL_S = 1.0  # how often a connection reads the open count
RETRY_MS = 1000  # the browser reconnects this soon after a stream ends


def _venue_ids() -> list[str]:
    return [v["id"] for v in allowed_venues()]


@bp.get("/alerts")
@login_required("supervisor")
def alerts_page():
    """The alerts of the user's venues, newest first (filters: venue, state, kind); audited (masked names)."""
    venue = text("venue")
    if venue is not None:
        check_venue(venue)
    state = request.args.get("state") or None
    kind = request.args.get("kind") or None
    if state not in (None, "open", "acked"):
        raise ConsoleError(400, "state 须为 open 或 acked / state must be open or acked")
    if kind is not None and kind not in rules.KINDS:
        raise ConsoleError(400, "未知的告警类型 / unknown kind of alert")
    store, now = get_store(), utc_now()
    rows = []
    for v in [venue] if venue else _venue_ids():
        rows += store.alerts(v, state=state, kind=kind, limit=200)
    rows.sort(key=lambda r: r["id"], reverse=True)
    for r in rows:
        r["state"], r["countdown_s"] = rules.state(r, now), rules.countdown_s(r, now)
        r["lines"] = rules.lines(r)
    audit("alerts.list", request.query_string.decode("utf-8", "replace")[:200] or "-", venue)
    settings = [store.alert_settings(v["id"]) for v in allowed_venues()] if g.console_user["role"] == "admin" else []
    return render_template("console/alerts.html", rows=rows[:200], kinds=rules.KINDS, webhook_kinds=rules.WEBHOOK_KINDS,
                           venues=allowed_venues(), args=request.args, settings=settings)


@bp.post("/alerts/<alert_id>/ack")
@login_required("supervisor")
def alert_ack(alert_id: str):
    """Acknowledge an alert with a note (stored and audited)."""
    store = get_store()
    row = store.alert(alert_id)
    if row is None:
        raise ConsoleError(404, "告警不存在 / No such alert")
    check_venue(row["venue"])
    note = text("note", 500, required=True, source="form") or ""
    try:
        store.ack_alert(alert_id, g.console_user["username"], note)
    except AckRefused as exc:
        raise ConsoleError(409, str(exc)) from exc
    return redirect(url_for("console.alerts_page"))


@bp.post("/alerts/settings/<venue_id>")
@login_required("admin")
def alert_settings_form(venue_id: str):
    """Set a venue's webhook (URL, kind, DingTalk secret) and mail recipients from the form; audited."""
    from pydantic import ValidationError

    from server.bodies import AlertSettings

    check_venue(venue_id)
    if get_store().venue(venue_id) is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    values = {"webhook_url": text("webhook_url", 500, source="form"),
              "webhook_kind": text("webhook_kind", 16, source="form") or "generic",
              "mail_to": text("mail_to", 1000, source="form")}
    secret = text("webhook_secret", 200, source="form")
    if secret is not None or request.form.get("clear_secret"):
        values["webhook_secret"] = secret  # left empty: the secret already set is kept
    try:
        AlertSettings.model_validate(values)
    except ValidationError as exc:
        raise ConsoleError(400, "网址须以 http(s):// 开头，收件人以逗号分隔 / the URL must start with http(s):// and "
                                "the recipients be comma-separated addresses") from exc
    get_store().put_alert_settings(venue_id, values)
    audit("alert_settings.update", ",".join(sorted(values)), venue_id)
    return redirect(url_for("console.alerts_page"))


def _frame(event: str, data: dict, ident: str | None = None) -> str:
    head = f"id: {ident}\n" if ident else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/alerts/stream")
@login_required("supervisor")
def alert_stream():
    """Server-sent events: the open count and newest alert of the user's venues on each change, for STREAM_S."""
    venues = None if g.console_user["venue"] is None else _venue_ids()
    store = get_store()
    life = float(request.args.get("life", STREAM_S)) if request.args.get("life", "").replace(".", "", 1).isdigit() else STREAM_S
    life = min(life, STREAM_S)

    def events():
        yield f"retry: {RETRY_MS}\n\n"
        last = None
        ends = time.monotonic() + life
        while True:
            count, newest = store.open_alert_count(venues)
            if (count, newest) != last:
                latest = store.alert(newest) if newest else None
                title = rules.title(latest) if latest else ("", "")
                yield _frame("alerts", {"open": count, "newest": newest, "title_zh": title[0], "title_en": title[1],
                                        "kind": latest["kind"] if latest else None}, newest or None)
                last = (count, newest)
            if time.monotonic() >= ends:
                return
            time.sleep(POLL_S)

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
