"""The gate's rules: the current signed bundle, evaluated by `protocols.decision` for each presentation.

A real gate decides with the signed bundle `agent.documents` watches (the hub's or the config's,
checked against the root key, the last good one kept when a newer file is bad); `checkpoint agent
simulate` builds an unsigned bundle from the shipped policy pack of its venue kind. Either way the
decision is the pure engine's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.documents import Watcher
from agent.messages import local_reason
from agent.store import DecisionInputs
from protocols.bundle import Bundle, RiskAreas, build_bundle
from protocols.credential import Credential
from protocols.decision import DecisionResult, GateContext, decision_inputs, evaluate
from protocols.errors import ConfigError, RuleError
from protocols.events import RuleResult
from protocols.rules import load_pack

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
    """The engine's decision, with what the loop needs to know about it."""

    result: DecisionResult
    inputs: DecisionInputs | None = None  # what the rules saw, subject hashed (when asked for)

    @property
    def decision(self) -> str:
        """admit, deny or refer."""
        return self.result.decision

    @property
    def reasons(self) -> list[RuleResult]:
        """Every rule that did not pass."""
        return self.result.reasons

    @property
    def bundle_version(self) -> str:
        """The bundle that decided."""
        return self.result.bundle_version

    @property
    def needs_remeasure(self) -> bool:
        """A first abnormal reading: rest, then measure once more."""
        return "needs_remeasure" in self.result.flags

    @property
    def fever(self) -> bool:
        """A second abnormal reading: the fever event."""
        return "fever" in self.result.flags


class Decider:
    """Decides with the current bundle: a fixed one, or the one a watcher follows (the sync client writes it)."""

    def __init__(self, bundle: Bundle | Watcher[Bundle], max_age_h: float | None = None,
                 trust_issued: Callable[[], dt.datetime | None] | None = None, trust_max_age_h: float | None = None):
        """max_age_h: a bundle issued longer ago decides nothing (everyone is referred) until a newer one comes;
        trust_issued/trust_max_age_h: the same for the trust list codes are verified with."""
        self._watch = bundle if isinstance(bundle, Watcher) else None
        self.bundle: Bundle = bundle.value if isinstance(bundle, Watcher) else bundle
        self.max_age = None if max_age_h is None else dt.timedelta(hours=max_age_h)
        self.trust_issued = trust_issued
        self.trust_max_age = None if trust_max_age_h is None else dt.timedelta(hours=trust_max_age_h)

    def stale(self, at: dt.datetime) -> list[RuleResult]:
        """Why the documents cannot decide at `at` (too old), as reasons shown to the person; [] if they can."""
        reasons = []
        if self.bundle.is_stale(at, self.max_age):
            reasons.append(local_reason("bundle_stale", "OPEN"))
        if self.trust_issued is not None and self.trust_max_age is not None:
            issued = self.trust_issued()
            if issued is None or at - issued > self.trust_max_age:
                reasons.append(local_reason("trust_list_stale", "OPEN"))
        return reasons

    @classmethod
    def from_pack(cls, venue_kind: str, params: dict[str, Any] | None = None,
                  risk_areas: RiskAreas | None = None) -> "Decider":
        """An unsigned bundle from the shipped pack for this kind of venue (simulations, tests)."""
        try:
            return cls(build_bundle(load_pack(PACK_FOR_VENUE[venue_kind]), params, risk_areas))
        except RuleError as exc:
            raise ConfigError(f"rules for {venue_kind}: {exc}") from exc

    def refresh(self) -> None:
        """Switch to a newer bundle file if one was written; a bad one is refused and the current one kept."""
        if self._watch is not None:
            self.bundle = self._watch.current()

    def short_forms(self, at: dt.datetime) -> dict[str, tuple[str, str]]:
        """The spoken short form of each rule of the current bundle, by rule id (zh, en)."""
        return self.bundle.ruleset.short_forms(at)

    def decide(self, credential: Credential | None, ctx: GateContext,
               hash_subject: Callable[[str], str] | None = None) -> Verdict:
        """Run the bundle's rules over the credential (None: the code was refused) and what the gate knows;
        with hash_subject, also keep what the rules saw (subject hashed) for `checkpoint rules backtest`."""
        stale = self.stale(ctx.at)
        # Rules or keys too old to trust: no health rule decides, a guard does (refer), and the sync goes on.
        result = (DecisionResult("refer", stale, self.bundle.version) if stale
                  else evaluate(self.bundle, credential, ctx))
        if hash_subject is None:
            return Verdict(result)
        inputs = decision_inputs(self.bundle, credential, ctx, hash_subject=hash_subject)
        return Verdict(result, DecisionInputs(result.decision, ctx.at, inputs))

