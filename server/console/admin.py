"""Admin pages: the audit trail and each venue's kind, report deadline hour and retention days."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, url_for

from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.console.forms import positive_int, text
from server.issuing import (DEFAULT_COLOUR_MAX_AGE_HOURS, DEFAULT_DECLARATION_MAX_AGE_HOURS,
                            DEFAULT_TEST_WINDOW_HOURS)
from server.db import get_store
from server.leases import DEFAULT_RECLAIM_AFTER_S
from server.reports import VENUE_KINDS, deadline_hour, zone_error
from server.retention import retention_days

AUDIT_PAGE = 100


@bp.get("/audit")
@login_required("admin")
def audit_page():
    """Who viewed or changed what, and when, newest first (a venue-bound admin: that venue's rows only)."""
    page = positive_int("page", 1, 100_000)
    rows = get_store().audit_log(AUDIT_PAGE + 1, (page - 1) * AUDIT_PAGE, bound=g.console_user["venue"])
    return render_template("console/audit.html", rows=rows[:AUDIT_PAGE], page=page, more=len(rows) > AUDIT_PAGE)


# Each status source's maximum age before issuing refuses green (server/issuing.py): setting, zh, en, default.
MAX_AGES = (("colour_max_age_hours", "健康码", "colour", DEFAULT_COLOUR_MAX_AGE_HOURS),
            ("test_window_hours", "核酸", "test", DEFAULT_TEST_WINDOW_HOURS),
            ("declaration_max_age_hours", "行程", "travel", DEFAULT_DECLARATION_MAX_AGE_HOURS))


@bp.get("/venues")
@login_required("admin")
def venue_settings():
    """Each venue's console settings with the values in force."""
    venues = [{**v, "deadline_in_force": deadline_hour(v), "retention_in_force": retention_days(v),
               "timezone_in_force": v.get("timezone") or current_app.config["CONSOLE_TZ"],
               "reclaim_in_force": v.get("lease_reclaim_after_s") or DEFAULT_RECLAIM_AFTER_S}
              for v in allowed_venues()]
    return render_template("console/venues.html", venues=venues, kinds=VENUE_KINDS, max_ages=MAX_AGES)


def _optional_int(name: str, low: int, high: int) -> int | None:
    value = text(name, 4, source="form")
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConsoleError(400, f"{name} 须为 {low}..{high} 的整数 / {name} must be a whole number {low}..{high}")
    return int(value)


@bp.post("/venues/<venue_id>")
@login_required("admin")
def save_venue_settings(venue_id: str):
    """Set a venue's kind, deadline hour (0-23), retention days (1-365), the silence (s) before a gate's
    places may be reclaimed and its time zone (IANA); empty means the default."""
    check_venue(venue_id)
    if get_store().venue(venue_id) is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    kind = text("kind", 16, source="form")
    if kind is not None and kind not in VENUE_KINDS:
        raise ConsoleError(400, "场所类型无效 / Unknown venue kind")
    deadline, retention = _optional_int("report_deadline_hour", 0, 23), _optional_int("retention_days", 1, 365)
    # Empty: the default (DEFAULT_RECLAIM_AFTER_S). Read before anything is written: a bad value saves nothing.
    reclaim_after = _optional_int("lease_reclaim_after_s", 1, 7 * 24 * 3600)
    zone = text("timezone", 64, source="form")  # empty: the hub's CONSOLE_TZ
    if zone is not None and (why := zone_error(zone)):
        raise ConsoleError(400, f"timezone: {why}")
    ages = {name: _optional_int(name, 1, 7 * 24) for name, *_ in MAX_AGES}  # empty: POLICY.md's default
    get_store().set_venue_console(venue_id, kind, deadline, retention)
    get_store().update_venue(venue_id, {"lease_reclaim_after_s": reclaim_after, "timezone": zone, **ages})
    audit("venue.settings", venue_id, venue_id)
    return redirect(url_for("console.venue_settings"))
