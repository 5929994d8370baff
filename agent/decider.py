"""The venue's rules run over one presentation: the credential, the reading, what the gate knows.

The rules themselves (policy packs of CertLogic with bilingual messages) live in
`protocols/rules.py`; this module builds the `external` data they read (the reading in tenths
of a degree, the re-measure, the mask, whether the holder is inside, the risk areas), runs
every active rule, and folds the outcomes into admit / deny / refer with every failed rule kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.credential import Credential, iso
from protocols.errors import ConfigError, RuleError
from protocols.events import RuleResult
from protocols.rules import Pack, RuleSet, load_pack

log = logging.getLogger(__name__)

PACK_FOR_VENUE = {
    "factory": "factory-gate",
    "school": "school-gate",
    "kindergarten": "kindergarten-gate",
    "market": "market-entrance",
    "canteen": "canteen",
}


@dataclass(frozen=True)
class Verdict:
    """A decision and why: every rule that did not pass, and the flags the failed rules carry."""

    decision: str  # admit | deny | refer
    reasons: list[RuleResult]
    flags: frozenset[str] = frozenset()
    bundle_version: str | None = None

    @property
    def failed(self) -> list[RuleResult]:
        """The rules that failed (what the person is told)."""
        return [r for r in self.reasons if r.outcome == "FAIL"]

    @property
    def needs_remeasure(self) -> bool:
        """A first abnormal reading: rest, then measure once more."""
        return "needs_remeasure" in self.flags

    @property
    def fever(self) -> bool:
        """A second abnormal reading: the fever event."""
        return "fever" in self.flags


@dataclass
class Situation:
    """What the gate knows besides the credential, for one decision."""

    celsius: float
    remeasure_celsius: float | None = None
    mask: bool | None = True
    inside: bool = False
    code_age_minutes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Decider:
    """Runs a policy pack's rules (with the venue's parameters) over credentials and readings."""

    def __init__(self, pack: Pack, params: dict[str, Any] | None = None, risk_areas: dict[str, list[str]] | None = None,
                 venue_mode: str | None = None):
        self.pack = pack
        self.params = pack.resolve_params(params)
        self.rules = RuleSet.compile(pack, self.params)
        self.risk_areas = {"regions": [], "cities": [], "provinces": [], **(risk_areas or {})}
        self.venue_mode = venue_mode or self.params.get("mode", "open")
        self.version = f"{pack.name}@{pack.version}"

    @classmethod
    def for_venue(cls, venue_kind: str, params: dict[str, Any] | None = None,
                  risk_areas_file: Path | None = None) -> "Decider":
        """The shipped pack for a kind of venue, with parameters and an optional risk-area file."""
        try:
            pack = load_pack(PACK_FOR_VENUE[venue_kind])
            risk = json.loads(risk_areas_file.read_text(encoding="utf-8")) if risk_areas_file else None
            if risk is not None and not isinstance(risk, dict):
                raise ConfigError(f"{risk_areas_file}: risk areas must be an object of lists")
            return cls(pack, params, risk)
        except RuleError as exc:
            raise ConfigError(f"rules for {venue_kind}: {exc}") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"risk areas {risk_areas_file}: {exc}") from exc

    def decide(self, credential: Credential, situation: Situation, at: dt.datetime) -> Verdict:
        """Run every active rule; deny if any deny-rule failed, refer if any is open, else admit."""
        external = {
            "validationClock": iso(at),
            "params": self.params,
            "code": {"ok": True, "ageMinutes": situation.code_age_minutes},
            "reading": {
                "celsius10": round(situation.celsius * 10),
                "remeasure10": None if situation.remeasure_celsius is None else round(situation.remeasure_celsius * 10),
            },
            "mask": situation.mask,
            "person": {"inside": situation.inside},
            "venue": {"mode": self.venue_mode},
            "riskAreas": self.risk_areas,
            **situation.extra,
        }
        data = {"payload": credential.rule_payload(), "external": external}
        reasons: list[RuleResult] = []
        flags: set[str] = set()
        effects: set[str] = set()
        for compiled in self.rules.active(at):
            outcome = compiled.outcome(data)
            if outcome == "PASS":
                continue
            rule = compiled.rule
            effect = rule.severity if outcome == "FAIL" else rule.open_effect
            if effect == "warn":
                continue
            effects.add(effect)
            if outcome == "FAIL":
                flags.update(rule.flags)
            reasons.append(RuleResult(rule=rule.id, outcome=outcome, message_zh=compiled.message_zh,
                                      message_en=compiled.message_en))
        decision = "deny" if "deny" in effects else "refer" if "refer" in effects else "admit"
        if decision == "deny" and credential.person_class in self.pack.deny_flags:
            flags.update(self.pack.deny_flags[credential.person_class])
        return Verdict(decision, reasons, frozenset(flags), self.version)
