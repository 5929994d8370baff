"""Signed rule bundles: a policy pack, a venue's parameters and the risk-area list, signed by the
hub root key and checked by every gate before it decides with them.

A bundle travels as a signed document (`protocols.signed`) whose body is:

    {"type": "checkpoint-rule-bundle", "version": "factory-gate-1.0.0-20261129T020000Z-1a2b3c4d",
     "issued_at": iso, "valid_from": iso, "pack": {...policy pack...}, "params": {...overrides...},
     "risk_areas": {"regions": [{"region": "110105", "level": "high"}], "provinces": ["440000"],
                    "updated": iso | null}}

A gate refuses an unsigned, tampered, not-yet-valid or too-old bundle (24 h by default, as the EU
DCC verifiers do) and keeps deciding with the last good one (`BundleKeeper`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocols.clock import utc_now, utc_seconds
from protocols.cose import PrivateKey, PublicKey
from protocols.errors import BundleError, RuleError
from protocols.rules import Pack, RuleSet, parse_pack
from protocols.signed import canonical_json, sign_document, verify_document

log = logging.getLogger(__name__)

DOCUMENT_TYPE = "checkpoint-rule-bundle"
DEFAULT_MAX_AGE = dt.timedelta(hours=24)


class RiskArea(BaseModel):
    """A medium- or high-risk area, by its six-digit administrative division code."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: str = Field(pattern=r"^\d{6}$")
    level: Literal["mid", "high"]


class RiskAreas(BaseModel):
    """The risk-area list a bundle carries: risk areas, and provinces with local cases."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    regions: list[RiskArea] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list, description="six-digit codes ending 0000")
    updated: dt.datetime | None = None

    def rule_view(self) -> dict[str, list[str]]:
        """What rules see as external.riskAreas: region codes, their cities, provinces with cases."""
        regions = sorted({a.region for a in self.regions})
        return {
            "regions": regions,
            "cities": sorted({r[:4] + "00" for r in regions}),
            "provinces": sorted(set(self.provinces)),
        }


class DatedRiskArea(RiskArea):
    """A risk area from the national list's published form: its level and the days it is in force.

    Low-risk areas are kept (the list names them) but no rule counts them; `until` None: until further notice."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    level: Literal["mid", "high", "low"]  # type: ignore[assignment]
    name: str = Field(default="", max_length=200, description="the name as the list printed it")
    start: dt.datetime = Field(alias="from")
    until: dt.datetime | None = None

    def in_force(self, at: dt.datetime) -> bool:
        """Whether the rules count this area at `at`: a mid or high area from its `from` until before its `until`."""
        return self.level != "low" and self.start <= at and (self.until is None or at < self.until)


def parse_risk_areas(data: Any) -> RiskAreas:
    """Read a risk-area list: {"regions": [...], "provinces": [...]} or a plain list of codes (high)."""
    if isinstance(data, list):
        data = {"regions": [{"region": code, "level": "high"} if isinstance(code, str) else code for code in data]}
    try:
        return RiskAreas.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BundleError(f"invalid risk-area list at {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


@dataclass(frozen=True)
class Bundle:
    """A verified (or freshly built) rule bundle, with its rules compiled for this venue."""

    pack: Pack
    params: dict[str, Any]
    risk_areas: RiskAreas
    valid_from: dt.datetime
    issued_at: dt.datetime
    version: str
    raw_body: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The hub's daily list (protocols/controls.py), each area counted only while it is in force; not signed in here.
    dated_areas: tuple[DatedRiskArea, ...] = field(default=(), compare=False, repr=False)

    @functools.cached_property
    def ruleset(self) -> RuleSet:
        """The pack's rules compiled with this bundle's parameters (compiled once, on first use)."""
        return RuleSet.compile(self.pack, self.pack.resolve_params(self.params))

    @functools.cached_property
    def risk_view(self) -> dict[str, list[str]]:
        """The risk-area list as rules see it (external.riskAreas)."""
        return self.risk_areas.rule_view()

    def risk_view_at(self, at: dt.datetime) -> dict[str, list[str]]:
        """external.riskAreas at `at`: the bundle's own areas and the daily list's areas in force then."""
        if not self.dated_areas:
            return self.risk_view
        # Which areas are in force changes only at a from or an until: one view per interval, as RuleSet.active.
        slot = bisect.bisect_right(self._area_edges, at)
        view = self._area_views.get(slot)
        if view is None:
            regions = set(self.risk_view["regions"]) | {a.region for a in self.dated_areas if a.in_force(at)}
            view = self._area_views[slot] = {"regions": sorted(regions), "cities": sorted({r[:4] + "00" for r in regions}),
                                             "provinces": self.risk_view["provinces"]}
        return view

    @functools.cached_property
    def _area_edges(self) -> list[dt.datetime]:
        return sorted({a.start for a in self.dated_areas} | {a.until for a in self.dated_areas if a.until})

    @functools.cached_property
    def _area_views(self) -> dict[int, dict[str, list[str]]]:
        return {}

    def is_stale(self, at: dt.datetime, max_age: dt.timedelta | None = DEFAULT_MAX_AGE) -> bool:
        """True if the bundle was issued longer than max_age before `at` (None: never stale)."""
        return max_age is not None and at - self.issued_at > max_age

    def body(self) -> dict[str, Any]:
        """The JSON body that gets signed."""
        return {
            "type": DOCUMENT_TYPE,
            "version": self.version,
            "issued_at": utc_seconds(self.issued_at),
            "valid_from": utc_seconds(self.valid_from),
            "pack": self.pack.model_dump(mode="json"),
            "params": self.params,
            "risk_areas": self.risk_areas.model_dump(mode="json"),
        }


def build_bundle(
    pack: Pack,
    params: Mapping[str, Any] | None = None,
    risk_areas: RiskAreas | None = None,
    valid_from: dt.datetime | None = None,
    issued_at: dt.datetime | None = None,
) -> Bundle:
    """Assemble a bundle; parameters and rules are checked now (RuleError), not at the gate."""
    issued = (issued_at or utc_now()).replace(microsecond=0)
    valid = (valid_from or issued).replace(microsecond=0)
    overrides = dict(params or {})
    areas = risk_areas or RiskAreas()
    pack.resolve_params(overrides)
    content = {"pack": pack.model_dump(mode="json"), "params": overrides, "risk_areas": areas.model_dump(mode="json"), "valid_from": utc_seconds(valid)}
    digest = hashlib.sha256(canonical_json(content)).hexdigest()[:8]
    version = f"{pack.name}-{pack.version}-{issued:%Y%m%dT%H%M%SZ}-{digest}"
    bundle = Bundle(pack, overrides, areas, valid, issued, version)
    bundle.ruleset  # compile now so a bad parameter fails the build  # noqa: B018
    return bundle


def sign_bundle(bundle: Bundle, root_key: PrivateKey) -> dict[str, Any]:
    """The bundle as a signed document: {"body": ..., "signature": ...}."""
    return sign_document(bundle.body(), root_key)


def verify_bundle(
    doc: Any,
    root_public_key: PublicKey,
    at: dt.datetime,
    max_age: dt.timedelta | None = DEFAULT_MAX_AGE,
) -> Bundle:
    """The bundle in doc if the root key signed it and it is valid at `at`, else BundleError."""
    body = verify_document(doc, root_public_key, error=BundleError)
    bundle = bundle_from_body(body)
    if at < bundle.valid_from:
        raise BundleError(f"bundle {bundle.version} is valid only from {utc_seconds(bundle.valid_from)}")
    if max_age is not None and at - bundle.issued_at > max_age:
        raise BundleError(f"bundle {bundle.version} was issued {at - bundle.issued_at} ago, more than {max_age}: too old")
    return bundle


def bundle_from_body(body: Mapping[str, Any]) -> Bundle:
    """Parse a bundle body (already verified, or read for `rules show`); BundleError if malformed."""
    if body.get("type") != DOCUMENT_TYPE:
        raise BundleError(f"not a rule bundle (type {body.get('type')!r})")
    try:
        issued = dt.datetime.fromisoformat(str(body["issued_at"]))
        valid = dt.datetime.fromisoformat(str(body["valid_from"]))
        version = body["version"]
        pack = parse_pack(body["pack"])
        params = body.get("params") or {}
        if not isinstance(version, str) or not isinstance(params, Mapping):
            raise BundleError("bundle version must be a string and params an object")
        bundle = Bundle(pack, dict(params), parse_risk_areas(body.get("risk_areas") or {}), valid, issued, version, dict(body))
        bundle.ruleset  # noqa: B018 - compile now: a bundle whose rules do not compile is refused whole
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"malformed bundle: {exc}") from exc
    except RuleError as exc:
        raise BundleError(f"bundle rules do not compile: {exc}") from exc
    if issued.tzinfo is None or valid.tzinfo is None:
        raise BundleError("bundle times must carry a time zone")
    return bundle


class BundleKeeper:
    """Holds the last good bundle: a bad one offered later is refused and the good one stays."""

    def __init__(self, root_public_key: PublicKey, max_age: dt.timedelta | None = DEFAULT_MAX_AGE):
        self.root_public_key = root_public_key
        self.max_age = max_age
        self.bundle: Bundle | None = None

    def offer(self, doc: Any, at: dt.datetime) -> Bundle:
        """Verify doc and make it current unless it is older than the current one; BundleError if bad."""
        try:
            candidate = verify_bundle(doc, self.root_public_key, at, self.max_age)
        except BundleError as exc:
            kept = self.bundle.version if self.bundle else "none"
            log.warning("bundle refused (%s); keeping %s", exc, kept)
            raise
        if self.bundle is not None and candidate.issued_at < self.bundle.issued_at:
            raise BundleError(f"bundle {candidate.version} is older than the current {self.bundle.version}")
        self.bundle = candidate
        return candidate

    def is_stale(self, at: dt.datetime) -> bool:
        """True if there is no bundle or the kept one is older than max_age at time at."""
        return self.bundle is None or self.bundle.is_stale(at, self.max_age)
