"""The gate-hub HTTP contract, used by both sides: URL paths and document kinds.

Like `protocols/topics.py` for MQTT: the hub's routes, the gate's sync client, the OpenAPI
generator and the benchmarks all take paths and kinds from here, never from string literals.
"""

from __future__ import annotations

from enum import StrEnum

API_PREFIX = "/api/v1"


class DocumentKind(StrEnum):
    """The versioned documents a hub keeps per venue and a gate fetches, verifies and runs."""

    BUNDLE = "bundle"
    PARAMETERS = "parameters"
    RISK_AREAS = "risk_areas"
    TRUSTLIST = "trustlist"
    ROSTER = "roster"
    APPOINTMENTS = "appointments"


DOCUMENT_KINDS: tuple[str, ...] = tuple(k.value for k in DocumentKind)

# Paths below API_PREFIX (Flask-style placeholders; `path()` fills them).
ENROLL = "/enroll"
DEVICE_SYNC = "/device/sync"
DEVICE_LEASE = "/device/lease"
DEVICE_DOCUMENT = "/device/documents/<kind>"


def path(route: str, **values: str) -> str:
    """The full URL path of a contract route with its placeholders filled: path(DEVICE_DOCUMENT, kind="bundle")."""
    full = API_PREFIX + route
    for name, value in values.items():
        full = full.replace(f"<{name}>", value)
    return full
