"""Rules as data: a rule is an id, a version, validity dates, a severity, bilingual messages, the
fields it reads and a CertLogic expression; a policy pack is a venue kind's list of rules with
default parameters.

A rule's expression may hold `{"param": "NAME"}` where CertLogic wants a literal (the amount of a
`plusTime`, a list for `in`): `RuleSet.compile` replaces it with the venue's parameter value, so
what runs is plain CertLogic. Parameters are also visible to every rule as `external.params`.

Outcome of one rule: `true` is PASS, `false` is FAIL, anything else (null, a non-boolean, an
evaluation error, a required field missing) is OPEN: never a silent pass.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocols.certlogic import Compiled, compile_expression
from protocols.errors import RuleError
from protocols.events import Outcome

log = logging.getLogger(__name__)

Severity = Literal["deny", "refer", "warn"]
RULE_ID = r"^[A-Z]+(-[A-Z0-9]+)+-\d{2}$"
VENUE_KINDS = ("factory", "school", "kindergarten", "market", "canteen", "office")
# Errors a compiled rule may raise on hostile data: each becomes OPEN, with a log line.
EVALUATION_ERRORS = (RuleError, TypeError, ValueError, OverflowError, RecursionError)


class Rule(BaseModel):
    """One rule: what it checks, what the person is told when it fails, and its CertLogic."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=RULE_ID, description="e.g. GATE-TEMP-01")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = Field(min_length=1)
    message_zh: str = Field(min_length=1)
    message_en: str = Field(min_length=1)
    # What the gate's voice says for this rule, so it can say every failing reason; unset: the message.
    short_zh: str | None = Field(default=None, min_length=1, max_length=20)
    short_en: str | None = Field(default=None, min_length=1, max_length=60)
    valid_from: dt.datetime
    valid_to: dt.datetime | None = None
    severity: Severity
    on_open: Severity | None = Field(default=None, description="effect of OPEN; default refer (warn for warn rules)")
    reads: list[str] = Field(description="data paths it reads; a trailing ? marks an optional one")
    flags: list[str] = Field(default_factory=list, description="flags the decision carries when this rule FAILs")
    logic: Any

    @property
    def open_effect(self) -> Severity:
        """What an OPEN outcome of this rule does to the decision."""
        if self.on_open is not None:
            return self.on_open
        return "warn" if self.severity == "warn" else "refer"

    def valid_at(self, at: dt.datetime) -> bool:
        """True if the rule applies at time at."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


class ParamSpec(BaseModel):
    """A parameter a pack declares: its default and what it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    default: Any
    description: str


class Pack(BaseModel):
    """A policy pack: one venue kind's rules and the parameters a venue may set."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    kind: Literal["factory", "school", "kindergarten", "market", "canteen", "office"]
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    title_zh: str
    title_en: str
    description: str
    params: dict[str, ParamSpec]
    # Flags a denial carries by person class (a courier's goods are refused with the courier).
    deny_flags: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[Rule]

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The pack's defaults with a venue's overrides; an unknown parameter is a RuleError."""
        unknown = sorted(set(overrides or {}) - set(self.params))
        if unknown:
            raise RuleError(f"pack {self.name} has no parameter(s) {', '.join(unknown)}")
        values = {name: spec.default for name, spec in self.params.items()}
        values.update(overrides or {})
        return values


def pack_names() -> list[str]:
    """The names of the policy packs shipped in protocols/policies/."""
    folder = resources.files("protocols") / "policies"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_pack(name: str) -> Pack:
    """Load a shipped policy pack by name (e.g. "factory-gate"); RuleError if unknown or invalid."""
    if name not in pack_names():
        raise RuleError(f"no policy pack {name!r}; known: {', '.join(pack_names())}")
    text = (resources.files("protocols") / "policies" / f"{name}.json").read_text(encoding="utf-8")
    return parse_pack(json.loads(text))


def parse_pack(data: Any) -> Pack:
    """Validate a pack's JSON and every rule's CertLogic; RuleError naming the problem."""
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        raise RuleError(f"invalid policy pack: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    ids = [(r.id, r.version) for r in pack.rules]
    if len(ids) != len(set(ids)):
        raise RuleError(f"pack {pack.name} lists a rule id and version twice")
    RuleSet.compile(pack, pack.resolve_params())  # fail now, not at the gate
    return pack


def substitute_params(logic: Any, params: Mapping[str, Any]) -> Any:
    """Replace every {"param": NAME} in logic with the parameter's value."""
    if isinstance(logic, list):
        return [substitute_params(item, params) for item in logic]
    if isinstance(logic, Mapping):
        if len(logic) == 1 and "param" in logic:
            name = logic["param"]
            if name not in params:
                raise RuleError(f"rule uses unknown parameter {name!r}")
            return params[name]
        return {key: substitute_params(value, params) for key, value in logic.items()}
    return logic


WINDOW_VALUES = ("reservationSlot", "groupSlot", "groupZones", "shiftSlot")


def message_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The values a rule message may name: the parameters, and the fever threshold in degrees."""
    values = dict(params)
    # The holder's own window is named at decision time (protocols.decision.fill_window): kept as written.
    values.update({name: "{" + name + "}" for name in WINDOW_VALUES})
    if isinstance(params.get("feverDeci"), int):
        values["feverCelsius"] = f"{params['feverDeci'] / 10:.1f}"
    return values


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its compiled CertLogic and the paths that must be present."""

    rule: Rule
    run_logic: Compiled
    required: tuple[Compiled, ...]  # one compiled `var` per required path
    needs_credential: bool
    message_zh: str
    message_en: str
    # Every path it reads, optional ones included, so an OPEN outcome can name what was missing.
    reads: tuple[tuple[str, Compiled], ...] = ()

    def missing(self, data: Mapping[str, Any]) -> list[str]:
        """The paths this rule reads that are absent from data (what an OPEN outcome lacked)."""
        return [path for path, read in self.reads if read(data) is None]

    def outcome(self, data: Mapping[str, Any]) -> Outcome:
        """PASS, FAIL or OPEN for this rule over {payload, external}."""
        for read in self.required:
            if read(data) is None:
                return "OPEN"
        try:
            value = self.run_logic(data)
        except EVALUATION_ERRORS as exc:
            log.info("rule %s is OPEN: %s", self.rule.id, exc)
            return "OPEN"
        if value is True:
            return "PASS"
        if value is False:
            return "FAIL"
        return "OPEN"


@dataclass(frozen=True)
class RuleSet:
    """A pack's rules compiled with one venue's parameters."""

    pack: Pack
    params: dict[str, Any]
    rules: tuple[CompiledRule, ...] = field(default=())

    @classmethod
    def compile(cls, pack: Pack, params: Mapping[str, Any]) -> RuleSet:
        """Substitute parameters into every rule and compile it; RuleError on the first bad rule."""
        compiled = []
        shown = message_values(params)
        for rule in pack.rules:
            try:
                logic = substitute_params(rule.logic, params)
                run = compile_expression(logic)
                zh, en = rule.message_zh.format_map(shown), rule.message_en.format_map(shown)
            except (RuleError, KeyError, ValueError) as exc:
                raise RuleError(f"rule {rule.id} {rule.version}: {exc}") from exc
            paths = [p for p in rule.reads if not p.endswith("?")]
            try:
                required = tuple(compile_expression({"var": p}) for p in paths)
                reads = tuple((p, compile_expression({"var": p.rstrip("?")})) for p in rule.reads)
            except RuleError as exc:
                raise RuleError(f"rule {rule.id} {rule.version} reads: {exc}") from exc
            needs_credential = any(p.split(".")[0] == "payload" for p in paths)
            compiled.append(CompiledRule(rule, run, required, needs_credential, zh, en, reads))
        return cls(pack, dict(params), tuple(compiled))

    def short_forms(self, at: dt.datetime) -> dict[str, tuple[str, str]]:
        """What the voice says for each rule in force at `at`: its short form, else its message (zh, en)."""
        shown = message_values(self.params)
        return {c.rule.id: ((c.rule.short_zh or c.message_zh).format_map(shown), (c.rule.short_en or c.message_en).format_map(shown))
                for c in self.active(at)}

    def active(self, at: dt.datetime) -> list[CompiledRule]:
        """The rules valid at time at; of several versions of one id, the one that started last."""
        # Which rules are in force changes only at a validity boundary: cache per interval.
        slot = bisect.bisect_right(self._boundaries, at)
        cached = self._active_cache.get(slot)
        if cached is None:
            cached = self._active_cache[slot] = self._select(at)
        return cached

    def _select(self, at: dt.datetime) -> list[CompiledRule]:
        chosen: dict[str, CompiledRule] = {}
        for compiled in self.rules:
            if not compiled.rule.valid_at(at):
                continue
            current = chosen.get(compiled.rule.id)
            if current is None or compiled.rule.valid_from > current.rule.valid_from:
                chosen[compiled.rule.id] = compiled
        return list(chosen.values())

    @functools.cached_property
    def _boundaries(self) -> list[dt.datetime]:
        edges = {r.rule.valid_from for r in self.rules} | {r.rule.valid_to for r in self.rules if r.rule.valid_to}
        return sorted(edges)

    @functools.cached_property
    def _active_cache(self) -> dict[int, list[CompiledRule]]:
        return {}
