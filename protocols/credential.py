"""The credential a gate decides on, whatever code it came from, and the result of verifying one.

Every format (the venue's own health pass `HP1:`, the EU DCC `HC1:`) is verified into a
`Credential`; the rules never see a raw code. `rule_payload()` is the `payload` object the
CertLogic rules read: plain JSON, times as ISO 8601 strings in UTC so `plusTime` works.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocols.clock import utc_seconds

Colour = Literal["green", "yellow", "red"]
PersonClass = Literal["staff", "student", "visitor", "courier", "parent", "teacher", "vendor", "customer"]

# The pipeline's steps, in order; each maps to True, False, or None when not reached.
STEPS = ("prefix", "base45", "zlib", "cose", "cbor", "schema", "signature", "key_usage", "expiry")


class NucleicAcidTest(BaseModel):
    """The holder's last nucleic-acid test."""

    model_config = ConfigDict(extra="forbid")
    at: dt.datetime
    result: Literal["negative", "positive"]


class Stay(BaseModel):
    """A stay in a region (China administrative division code) between two dates."""

    model_config = ConfigDict(extra="forbid")
    region: str = Field(pattern=r"^\d{6}$")
    start: dt.date
    end: dt.date


class VisitWindow(BaseModel):
    """The approved visit a visitor's pass is valid for (from the visit's approval)."""

    model_config = ConfigDict(extra="forbid")
    start: dt.datetime
    end: dt.datetime


class Goods(BaseModel):
    """One line of goods a courier declares on the holder page, carried in the courier's pass."""

    model_config = ConfigDict(extra="forbid")
    product: str = Field(min_length=1, max_length=64)
    supplier: str = Field(min_length=1, max_length=64)
    origin: str = Field(min_length=1, max_length=64)
    quantity: str = Field(min_length=1, max_length=32)
    batch: str = Field(min_length=1, max_length=64)
    maker: str = Field(min_length=1, max_length=64)
    cold_chain: bool = False
    report: str | None = Field(default=None, min_length=1, max_length=64)  # cold-chain test report number


class Credential(BaseModel):
    """A verified credential, reduced to what the rules need."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["HP1", "HC1"]
    issuer: str
    kid: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    not_before: dt.datetime | None = None
    subject: str  # pseudonymous id: never a national id number
    name: str  # masked, e.g. 张*明
    person_class: PersonClass | None = None
    colour: Colour | None = None
    colour_since: dt.datetime | None = None
    test: NucleicAcidTest | None = None
    doses: int = 0
    stays: list[Stay] = Field(default_factory=list)
    group: str | None = None  # department, class or shift from the roster
    window: VisitWindow | None = None
    goods: list[Goods] = Field(default_factory=list)
    # The format's own claims for rules that need them (the DCC's hcert JSON); never stored.
    extra: dict[str, Any] = Field(default_factory=dict)

    def rule_payload(self) -> dict[str, Any]:
        """The JSON object CertLogic rules see as `payload`."""
        return {
            "format": self.format,
            "iss": self.issuer,
            "kid": self.kid,
            "iat": utc_seconds(self.issued_at),
            "exp": utc_seconds(self.expires_at),
            "nbf": utc_seconds(self.not_before),
            "sub": self.subject,
            "name": self.name,
            "class": self.person_class,
            "colour": self.colour,
            "colourSince": utc_seconds(self.colour_since),
            "test": None if self.test is None else {"at": utc_seconds(self.test.at), "result": self.test.result},
            "doses": self.doses,
            "stays": [{"region": s.region, "start": s.start.isoformat(), "end": s.end.isoformat()} for s in self.stays],
            "group": self.group,
            "window": None if self.window is None else {"start": utc_seconds(self.window.start), "end": utc_seconds(self.window.end)},
            "goods": [goods_json(g) for g in self.goods],
            **({"hcert": self.extra["hcert"]} if "hcert" in self.extra else {}),
        }


def goods_json(g: Goods) -> dict[str, Any]:
    """One goods line as the rules and `inspect` see it (camelCase like the other claims)."""
    return {"product": g.product, "supplier": g.supplier, "origin": g.origin, "quantity": g.quantity,
            "batch": g.batch, "maker": g.maker, "coldChain": g.cold_chain, "report": g.report}


class Verification(BaseModel):
    """What verifying a code found: ok or a stable reason, and how far each step got."""

    format: str | None = None
    ok: bool = False
    reason: str | None = None
    steps: dict[str, bool | None] = Field(default_factory=lambda: {s: None for s in STEPS})
    claims: dict[str, Any] | None = None
    credential: Credential | None = None

    def report(self) -> dict[str, Any]:
        """The JSON shape `checkpoint codes inspect` prints."""
        return {
            "format": self.format,
            "claims": self.claims,
            "verification": {"ok": self.ok, "reason": self.reason, "steps": self.steps},
        }
