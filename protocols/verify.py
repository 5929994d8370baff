"""One entry point for every code a gate may see: dispatch by prefix, never raise on bad input."""

from __future__ import annotations

import datetime as dt
import importlib
import logging

from protocols.credential import Verification
from protocols.healthpass import PREFIX as HP1_PREFIX
from protocols.healthpass import verify_healthpass
from protocols.trustlist import TrustList

log = logging.getLogger(__name__)

HC1_PREFIX = "HC1:"


def code_format(text: object) -> str | None:
    """The format a code's prefix names ("HP1", "HC1"), or None when it names none we know."""
    if not isinstance(text, str):
        return None
    for prefix in (HP1_PREFIX, HC1_PREFIX):
        if text.startswith(prefix):
            return prefix[:-1]
    return None


def verify_code(
    text: object,
    trust: TrustList,
    at: dt.datetime,
    max_age: dt.timedelta | float | None = None,
) -> Verification:
    """Verify any code by its prefix: HP1: health pass, HC1: EU DCC; anything else is refused."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)  # a naive check time is taken as UTC, as everywhere here
    fmt = code_format(text)
    if fmt is None:
        result = Verification()
        blank = not isinstance(text, str) or not text.strip()
        result.reason = "unreadable" if blank else "bad_prefix"
        result.steps["prefix"] = False
        return result
    try:
        if fmt == "HP1":
            return verify_healthpass(text, trust, at, max_age)  # type: ignore[arg-type]
        # A DCC is a long-lived certificate, not a live code: max_age (screenshot age) is not applied.
        return _verify_dcc(text, trust, at)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the gate's last line: a bug in a verifier denies, it never crashes the gate
        log.exception("verifier for %s crashed; refusing the code as unreadable", fmt)
        return Verification(format=fmt, reason="unreadable")


def _verify_dcc(text: str, trust: TrustList, at: dt.datetime) -> Verification:
    # Imported lazily: the DCC verifier lives in its own module and may be absent in a build.
    try:
        dcc = importlib.import_module("protocols.dcc")
    except ModuleNotFoundError as exc:
        if exc.name != "protocols.dcc":
            raise
        log.warning("HC1 code presented but protocols.dcc is not installed")
        result = Verification(format="HC1", reason="bad_prefix")
        result.steps["prefix"] = False
        return result
    return dcc.verify_dcc(text, trust, at)
