"""Reading the console's form and query fields: clear bilingual errors for bad input, never a crash."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import request

from protocols.clock import utc_text
from server.console.blueprint import ConsoleError, local_tz

# The times a person may type: wide enough for any real use, and far enough from year 1 and 9999 that
# a shift to UTC, a day's bounds or a visit's 7 days never leave what datetime can hold (a 500).
EARLIEST = dt.datetime(1970, 1, 1)
LATEST = dt.datetime(9000, 1, 1)
RANGE_ERROR = "须在 1970 年至 8999 年之间 / must be between the years 1970 and 8999"


def text(name: str, max_len: int = 64, required: bool = False, source: str = "values") -> str | None:
    """A stripped text field, None when empty; too long or missing-but-required is a 400."""
    value = (getattr(request, source).get(name) or "").strip()
    if len(value) > max_len:
        raise ConsoleError(400, f"{name} 过长（最多 {max_len} 字）/ {name} is longer than {max_len} characters")
    if required and not value:
        raise ConsoleError(400, f"{name} 不能为空 / {name} is required")
    return value or None


def local_datetime(name: str, required: bool = False, source: str = "values",
                   tz: ZoneInfo | None = None) -> dt.datetime | None:
    """A `datetime-local` field (local time in tz, default the hub's zone) as an aware UTC time."""
    value = text(name, 32, required, source)
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConsoleError(400, f"{name} 时间格式无效 / {name} is not a date and time") from exc
    if not EARLIEST <= t.replace(tzinfo=None) < LATEST:
        raise ConsoleError(400, f"{name} {RANGE_ERROR}")
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz or local_tz())
    return t.astimezone(dt.timezone.utc)


def stored_time(name: str, tz: ZoneInfo | None = None) -> str | None:
    """A local time field (in tz, default the hub's zone) as the hub stores times (ISO UTC text), or None."""
    t = local_datetime(name, tz=tz)
    return utc_text(t) if t else None


def positive_int(name: str, default: int, top: int) -> int:
    """An integer 1..top from the query, else default."""
    value = request.values.get(name, "")
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= top:
        raise ConsoleError(400, f"{name} 须为 1..{top} 的整数 / {name} must be a whole number 1..{top}")
    return int(value)


def local_day(name: str, default: dt.date) -> dt.date:
    """A YYYY-MM-DD field, else default."""
    value = (request.values.get(name) or "").strip()
    if not value:
        return default
    return parse_day(value, name)


def parse_day(value: str, name: str = "day") -> dt.date:
    """A YYYY-MM-DD text as a date in the console's range, else a 400 the supervisor can read."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConsoleError(400, f"{name} 日期格式无效 / {name} is not a date (YYYY-MM-DD)") from exc
    if not EARLIEST.date() <= day < LATEST.date():
        raise ConsoleError(400, f"{name} {RANGE_ERROR}")
    return day
