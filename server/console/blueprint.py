"""The console's blueprint, its error page and its template filters."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from typing import Any

from flask import Blueprint, current_app, g, render_template
from markupsafe import Markup, escape
from werkzeug.exceptions import RequestEntityTooLarge

from protocols.display import label, note_label

from server.db import get_store
from server.reports import local_text, venue_zone

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


class ConsoleError(Exception):
    """A request the console refuses, with its HTTP status and a bilingual message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@bp.errorhandler(ConsoleError)
def _console_error(exc: ConsoleError):
    return render_template("console/error.html", status=exc.status, message=exc.message), exc.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    """An upload over the hub's request limit (a 50 MB roster): the console's page, not the API's JSON."""
    limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) >> 20
    return render_template("console/error.html", status=413,
                           message=f"上传的文件过大（上限 {limit} MB） / The upload is too large (limit {limit} MB)"), 413


def local_tz() -> ZoneInfo:
    """The hub's default zone (config CONSOLE_TZ), for a venue without its own and for hub-wide rows."""
    return ZoneInfo(current_app.config["CONSOLE_TZ"])


def venue_tz(venue: str | dict[str, Any] | None) -> ZoneInfo:
    """The zone a venue's times are shown in (its `timezone` setting, else CONSOLE_TZ); None: the default."""
    if venue is None:
        return local_tz()
    if isinstance(venue, str):
        zones = g.setdefault("venue_zones", {})  # one look-up per venue per request, not per row
        if venue not in zones:
            zones[venue] = get_store().venue(venue)
        venue = zones[venue]
    return venue_zone(venue, current_app.config["CONSOLE_TZ"])


@bp.app_template_filter("local")
def local_time(value: str | None, fmt: str = "%Y-%m-%d %H:%M:%S", venue: str | dict[str, Any] | None = None) -> str:
    """A stored UTC timestamp shown in its venue's local time ("无效时间 invalid time" when it has none)."""
    return local_text(value, venue_tz(venue), fmt)


def _zh_en(zh: str, en: str) -> Markup:
    """Chinese first, the English beside it in the page's muted style (both escaped)."""
    return Markup('{} <span class="en">{}</span>').format(zh, en) if en and en != zh else Markup(escape(zh))


@bp.app_template_filter("shown")
def shown(value: object, group: str) -> Markup:
    """A raw value (a class, colour, outcome, decision, kind...) as a person reads it: zh, then en."""
    return _zh_en(*label(group, value))


@bp.app_template_filter("audit_target")
def audit_target(target: str | None, action: str) -> Markup:
    """An audit row's target as a person reads it: a raised alert's kind (its first word) translated."""
    text = target or ""
    if action == "alert.raise" and text:
        kind, _, rest = text.partition(" ")
        zh, en = label("alert_kind", kind)
        return Markup("{} {}").format(_zh_en(zh, en), rest)
    return Markup(escape(text))


@bp.app_template_filter("note")
def shown_note(value: str | None) -> Markup:
    """A gate's note with a refused code's reason translated ("code: expired" -> 健康码：已过期)."""
    return _zh_en(*note_label(value))
