"""CertLogic date-times: the ISO 8601 forms `plusTime` accepts, and offsets as JavaScript's Date does.

Written by hand because no library parses exactly this set (partial dates read as the last day
they allow, offsets as `+h`, `+hmm`, `+hh:mm` ..., fractions truncated to milliseconds) and offsets
with `Date.setUTC*` overflow rules (2020-02-29 + 1 year = 2021-03-01, 31 Jan + 1 month = 3 Mar).
Results are aware datetimes in UTC; both functions are cached, as a gate parses the same clock
and claim strings for every rule of a decision.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re

from protocols.errors import RuleError

UTC = dt.timezone.utc
_DATE_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(Z|[+-]\d{1,2}(?::\d{2}|\d{2})?)?)?)?)?$"
)


@functools.lru_cache(maxsize=8192)
def parse_date_time(text: str) -> dt.datetime:
    """Parse a date(-time) in one of the forms plusTime allows into a UTC datetime (ms precision)."""
    m = _DATE_TIME.match(text)
    if m is None:
        raise RuleError(f"not an allowed date or date-time format: {text!r}")
    year, month, day, hh, mm, ss, frac, offset = m.groups()
    try:
        if month is None:  # YYYY: the last day of the year, as dccDateOfBirth reads it
            return dt.datetime(int(year), 12, 31, tzinfo=UTC)
        if day is None:  # YYYY-MM: the last day of that month
            y, mo = int(year), int(month)
            return dt.datetime(y, mo, calendar.monthrange(y, mo)[1], tzinfo=UTC)
        if hh is None:
            return dt.datetime(int(year), int(month), int(day), tzinfo=UTC)
        micros = int((frac or "")[:3].ljust(3, "0")) * 1000  # digits past the 3rd are dropped
        tz = UTC if offset in (None, "Z") else dt.timezone(_offset(offset))
        moment = dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), micros, tzinfo=tz)
    except ValueError as exc:  # month 13, day 99 ...: undefined in the spec, an error here
        raise RuleError(f"invalid date-time {text!r}: {exc}") from exc
    return moment.astimezone(UTC)


def _offset(text: str) -> dt.timedelta:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:]
    if ":" in digits:
        hours, minutes = digits.split(":")
    elif len(digits) <= 2:
        hours, minutes = digits, "0"
    else:  # hmm or hhmm: the minutes are always the last two digits
        hours, minutes = digits[:-2], digits[-2:]
    return sign * dt.timedelta(hours=int(hours), minutes=int(minutes))


@functools.lru_cache(maxsize=8192)
def plus_time(text: str, amount: int, unit: str) -> dt.datetime:
    """`plusTime`: the parsed date-time offset by amount units, as JavaScript's Date.setUTC* does."""
    moment = parse_date_time(text)
    try:
        if unit == "hour":
            return moment + dt.timedelta(hours=amount)
        if unit == "day":
            return moment + dt.timedelta(days=amount)
        months = amount * 12 if unit == "year" else amount
        year, month0 = divmod(moment.year * 12 + moment.month - 1 + months, 12)
        # Build day 1 of the target month, then add the days: 31 Jan + 1 month = 2 (or 3) Mar, as in JS.
        first = moment.replace(year=year, month=month0 + 1, day=1)
        return first + dt.timedelta(days=moment.day - 1)
    except (ValueError, OverflowError) as exc:
        raise RuleError(f"plusTime out of range: {text!r} + {amount} {unit}") from exc


def dcc_date_of_birth(text: str) -> dt.datetime:
    """`dccDateOfBirth`: YYYY, YYYY-MM or YYYY-MM-DD as the last date-time consistent with it."""
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        raise RuleError(f"not a DCC date of birth: {text!r}")
    return parse_date_time(text)
