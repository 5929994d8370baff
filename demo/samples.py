"""Sample health-pass claims at a fixed clock: what the benchmarks measure and the tests mint.

Not the simulated people of a running gate (`agent/people.py` makes those, at the real time):
one typical green staff pass whose every field can be overridden, so a measurement or a test
says only what it changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from protocols.healthpass_claims import HealthPassClaims

ISSUER = "CN-VENUE"
# A fixed "now" so codes and checks agree without reading the clock.
NOW = dt.datetime(2026, 11, 29, 8, 0, 0, tzinfo=dt.timezone.utc)


def make_claims(**overrides: Any) -> HealthPassClaims:
    """A valid green staff pass issued at NOW for an hour, negative test 12 h before; override any field."""
    issued = overrides.pop("issued_at", NOW)
    fields: dict[str, Any] = {
        "issuer": ISSUER,
        "subject": "sub-0001",
        "issued_at": issued,
        "expires_at": issued + dt.timedelta(hours=1),
        "name": "张*明",
        "person_class": "staff",
        "colour": "green",
        "colour_since": issued - dt.timedelta(days=30),
        "test": {"at": issued - dt.timedelta(hours=12), "result": "negative"},
        "doses": 3,
        "stays": (),
    }
    fields.update(overrides)
    return HealthPassClaims(**fields)
