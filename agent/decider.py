"""The gate's rules: the current signed bundle, evaluated by `protocols.decision` for each presentation.

A real gate loads the signed bundle the hub distributed (checked against the root key) and keeps
the last good one when a newer file is bad; `checkpoint agent simulate` builds an unsigned bundle
from the shipped policy pack of its venue kind. Either way the decision is the pure engine's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.bundle import Bundle, BundleKeeper, RiskAreas, build_bundle
from protocols.clock import utc_now
from protocols.credential import Credential
from agent.store import DecisionInputs
from protocols.decision import DecisionResult, GateContext, decision_inputs, evaluate
from protocols.errors import BundleError, ConfigError, RuleError
from protocols.events import RuleResult
from protocols.keys import load_public_key
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


@dataclass(frozen=True)
class Situation:
    """What the gate knows besides the credential, for one decision."""

    celsius: float | None = None
    remeasure_celsius: float | None = None
    mask: bool | None = True
    inside: bool = False
    code_reason: str | None = None
    roster: Mapping[str, Mapping[str, Any]] | None = None  # None: no roster loaded
    appointment: Mapping[str, Any] | None = None  # the holder's appointment, if any


class Decider:
    """Decides with the current bundle; reloads the bundle file when it changes (the sync client writes it)."""

    def __init__(self, bundle: Bundle, keeper: BundleKeeper | None = None, path: Path | None = None):
        self.bundle = bundle
        self._keeper = keeper
        self._path = path
        self._mtime = path.stat().st_mtime if path is not None else None

    @classmethod
    def from_pack(cls, venue_kind: str, params: dict[str, Any] | None = None,
                  risk_areas: RiskAreas | None = None) -> "Decider":
        """An unsigned bundle from the shipped pack for this kind of venue (simulations, tests)."""
        try:
            return cls(build_bundle(load_pack(PACK_FOR_VENUE[venue_kind]), params, risk_areas))
        except RuleError as exc:
            raise ConfigError(f"rules for {venue_kind}: {exc}") from exc

    @classmethod
    def from_signed_file(cls, path: Path, root_public_key: Path, max_age_h: float | None = 24.0) -> "Decider":
        """The signed bundle at path, checked against the root public key; ConfigError if unusable."""
        try:
            keeper = BundleKeeper(load_public_key(root_public_key),
                                  None if max_age_h is None else dt.timedelta(hours=max_age_h))
            bundle = keeper.offer(json.loads(path.read_text(encoding="utf-8")), utc_now())
        except (OSError, ValueError, BundleError) as exc:
            raise ConfigError(f"rule bundle {path}: {exc}") from exc
        log.info("deciding with bundle %s", bundle.version)
        return cls(bundle, keeper, path)

    def watch(self, path: Path) -> None:
        """Follow this file from now on (the sync client's `documents/bundle`): read when it appears or changes."""
        same = self._path is not None and path.exists() and path.resolve() == self._path.resolve()
        self._path = path
        self._mtime = self._mtime if same else None

    def refresh(self) -> None:
        """Switch to a newer bundle file if one was written; a bad one is refused and the current one kept."""
        if self._path is None or self._keeper is None:
            return
        try:
            try:
                mtime = self._path.stat().st_mtime
            except FileNotFoundError:
                return  # nothing fetched yet: keep deciding with the bundle loaded at start
            if mtime == self._mtime:
                return
            self._mtime = mtime
            self.bundle = self._keeper.offer(json.loads(self._path.read_text(encoding="utf-8")),
                                             utc_now())
            log.info("now deciding with bundle %s", self.bundle.version)
        except (OSError, ValueError, BundleError) as exc:
            log.warning("new bundle file refused, keeping %s: %s", self.bundle.version, exc)

    def decide(self, credential: Credential | None, situation: Situation, at: dt.datetime,
               hash_subject: Callable[[str], str] | None = None) -> Verdict:
        """Run the bundle's rules over the credential (None: the code was refused) and the situation;
        with hash_subject, also keep what the rules saw (subject hashed) for `checkpoint rules backtest`."""
        ctx = GateContext(at=at, celsius=situation.celsius, remeasure=situation.remeasure_celsius,
                          mask=situation.mask, inside=situation.inside, code_reason=situation.code_reason,
                          roster=situation.roster, appointment=situation.appointment)
        result = evaluate(self.bundle, credential, ctx)
        if hash_subject is None:
            return Verdict(result)
        inputs = decision_inputs(self.bundle, credential, ctx, hash_subject=hash_subject)
        return Verdict(result, DecisionInputs(result.decision, at, inputs))

