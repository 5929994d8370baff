"""The decision engine: a bundle's rules over a credential and the gate's context -> admit, deny or
refer, with every rule that did not pass. Pure (no I/O, no clock): the gate agent, the
`checkpoint decide` command and the hub's backtest all call `evaluate`.

How outcomes become a decision: a FAIL has its rule's severity (deny, refer, warn); an OPEN has
the rule's `open_effect` (refer unless the rule says otherwise). Any deny -> deny; else any refer
-> refer; else admit (warnings are listed, they do not stop anyone).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.bundle import Bundle
from protocols.clock import utc_seconds
from protocols.controls import Controls, apply_controls
from protocols.credential import Credential
from protocols.display import not_checked
from protocols.errors import RuleError
from protocols.events import Decision, Outcome, RuleResult
from protocols.schedule import Schedule, window_facts

log = logging.getLogger(__name__)

_RANK = {"admit": 0, "warn": 0, "refer": 1, "deny": 2}
NO_RULES_ZH = "本门岗没有生效的规则，请人工核验"
NO_RULES_EN = "No rules are in force at this gate: a guard must check"


@dataclass(frozen=True)
class GateContext:
    """Everything a gate knows besides the credential, at the moment it decides."""

    at: dt.datetime
    celsius: float | None = None  # the first reading
    remeasure: float | None = None  # the reading after a rest, if one was taken
    mask: bool | None = None  # None: not observed
    # Subject ids on the venue's roster, optionally with attributes ({"highRiskPosition": true}).
    roster: Mapping[str, Mapping[str, Any]] | Collection[str] | None = None
    appointment: Mapping[str, Any] | None = None  # {"subject", "from", "to", "approvedBy", ...}
    goods: Mapping[str, Any] | None = None  # {"coldChain": bool, "trace": {...}} for a courier's goods
    venue_mode: str | None = None  # "open" / "closed": overrides the bundle's `mode` parameter
    inside: bool | None = None  # anti-passback presence: is this subject already inside?
    code_reason: str | None = None  # why verification failed, when there is no credential
    schedule: Schedule | None = None  # the venue's signed time windows (None: not loaded)
    holder: str | None = None  # the venue's keyed hash of the subject: how the schedule names a booking
    zone: str | None = None  # the gate's zone of the venue (meal groups eat in their zones)


@dataclass(frozen=True)
class DecisionResult:
    """The decision, the rules that did not pass (in pack order), the bundle and the flags."""

    decision: Decision
    reasons: list[RuleResult]
    bundle_version: str
    flags: frozenset[str] = frozenset()
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The JSON shape `checkpoint decide` prints (without the timing)."""
        return {
            "decision": self.decision,
            "reasons": [r.model_dump() for r in self.reasons],
            "bundle_version": self.bundle_version,
            "flags": sorted(self.flags),
        }


def tenths(celsius: float | None) -> int | None:
    """A reading in tenths of a degree, rounded half up (CertLogic compares integers only)."""
    if celsius is None:
        return None
    scaled = celsius * 10
    if not math.isfinite(scaled):  # NaN, inf, or so large that x10 overflows: no reading at all
        return None
    return math.floor(scaled + 0.5 + 1e-9)


def rule_data(bundle: Bundle, credential: Credential | None, ctx: GateContext) -> dict[str, Any]:
    """The data context rules run over: {"payload": claims or null, "external": {...}}."""
    payload = None
    age_minutes = None
    if credential is not None:
        payload = credential.rule_payload()
        # Each stay also names its city and province, so rules can match "same city as a risk area".
        payload["stays"] = [
            {**s, "city": s["region"][:4] + "00", "province": s["region"][:2] + "0000"} for s in payload["stays"]
        ]
        age_minutes = math.floor((ctx.at - credential.issued_at).total_seconds() / 60)
    params = bundle.ruleset.params
    subject = credential.subject if credential is not None else None
    member, entry = _roster_entry(ctx.roster, subject)
    group = entry.get("group") if entry is not None and isinstance(entry.get("group"), str) else None
    return {
        "payload": payload,
        "external": {
            "validationClock": utc_seconds(ctx.at),
            "code": {
                "ok": credential is not None,
                "reason": None if credential is not None else (ctx.code_reason or "unreadable"),
                "ageMinutes": age_minutes,
            },
            "reading": {"celsius10": tenths(ctx.celsius), "remeasure10": tenths(ctx.remeasure)},
            "mask": ctx.mask,
            "person": {"inside": ctx.inside},
            "venue": {"kind": bundle.pack.kind, "mode": ctx.venue_mode or params.get("mode", "open")},
            "appointment": dict(ctx.appointment) if ctx.appointment is not None else None,
            "goods": dict(ctx.goods) if ctx.goods is not None else None,
            "roster": {"member": member, "entry": entry},
            "window": window_facts(ctx.schedule, ctx.holder, group, ctx.zone, ctx.at, params),
            "riskAreas": bundle.risk_view_at(ctx.at),
            "params": params,
        },
    }


def _roster_entry(roster: Any, subject: str | None) -> tuple[bool | None, dict[str, Any] | None]:
    if roster is None or subject is None:
        return None, None
    if isinstance(roster, Mapping):
        entry = roster.get(subject)
        return subject in roster, dict(entry) if isinstance(entry, Mapping) else None
    return subject in roster, None


NONE_BOOKED = {"zh": "未预约", "en": "none booked"}


def fill_window(message: str, data: Mapping[str, Any], lang: str) -> str:
    """A message naming the holder's own window ({reservationSlot}, {groupSlot}, {groupZones}, {shiftSlot}):
    the slot is known only at the moment of the decision, so it is filled here, not when the bundle compiles."""
    if "{" not in message:
        return message
    window = data["external"].get("window") or {}
    values = {"reservationSlot": (window.get("reservation") or {}).get("slot"),
              "groupSlot": (window.get("group") or {}).get("slot"), "groupZones": (window.get("group") or {}).get("zones"),
              "shiftSlot": (window.get("shift") or {}).get("slot")}
    for name, value in values.items():
        message = message.replace("{" + name + "}", value or NONE_BOOKED[lang])
    return message


# The last (bundle, controls) laid together and the result, held by reference: recompiling a pack for
# every decision would cost milliseconds, and a gate's bundle and schedule change a few times a day.
_laid: tuple[Bundle, Controls, Bundle] | None = None


def with_controls(bundle: Bundle, controls: Controls | None) -> Bundle:
    """The bundle with the venue's daily controls laid over it (protocols.controls.apply_controls), memoised."""
    global _laid
    if controls is None:
        return bundle
    laid = _laid
    if laid is not None and laid[0] is bundle and laid[1] is controls:
        return laid[2]
    derived = apply_controls(bundle, controls)
    _laid = (bundle, controls, derived)
    return derived


def evaluate(bundle: Bundle, credential: Credential | None, ctx: GateContext) -> DecisionResult:
    """Run the bundle's rules valid at ctx.at, with the daily controls of ctx.schedule laid over it;
    every rule that is not PASS is listed as a reason."""
    if ctx.at.tzinfo is None:
        raise ValueError("GateContext.at must be timezone-aware")
    bundle = with_controls(bundle, ctx.schedule.controls if ctx.schedule is not None else None)
    person_class = credential.person_class if credential is not None else None
    return _run(bundle, rule_data(bundle, credential, ctx), ctx.at, credential is not None, person_class)


def decision_inputs(
    bundle: Bundle, credential: Credential | None, ctx: GateContext, hash_subject: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """What to record beside a decision so `replay` can re-run it: the rule data without the
    bundle's own parts (params, risk areas) and without the name, key id and issuer (nor a DCC's
    nam and dob; its certificate ids hashed, or dropped without hash_subject); the subject
    (and the appointment's) replaced by hash_subject(subject) when given."""
    data = rule_data(with_controls(bundle, ctx.schedule.controls if ctx.schedule is not None else None), credential, ctx)
    external = {k: v for k, v in data["external"].items() if k not in ("params", "riskAreas")}
    payload = data["payload"]
    if payload is not None:
        payload = {k: v for k, v in payload.items() if k not in ("name", "kid", "iss")}
        if hash_subject is not None:
            payload["sub"] = hash_subject(payload["sub"])
            if external["appointment"] and isinstance(external["appointment"].get("subject"), str):
                external["appointment"] = {**external["appointment"], "subject": hash_subject(external["appointment"]["subject"])}
    external["venue"] = {**external["venue"], "modeFromGate": ctx.venue_mode is not None}
    if payload is not None and isinstance(payload.get("hcert"), Mapping):
        payload["hcert"] = _without_dcc_identity(payload["hcert"], hash_subject)
    return {"payload": payload, "external": external}


def _without_dcc_identity(hcert: Mapping[str, Any], hash_subject: Callable[[str], str] | None) -> dict[str, Any]:
    """An EU DCC names its holder (nam, dob) and carries certificate ids (ci): recorded inputs keep
    none of them (no shipped rule reads them); each ci becomes its keyed hash, or goes."""
    kept: dict[str, Any] = {k: v for k, v in hcert.items() if k not in ("nam", "dob")}
    for group in ("v", "t", "r"):
        entries = kept.get(group)
        if isinstance(entries, list):
            kept[group] = [_entry_without_ci(e, hash_subject) for e in entries]
    return kept


def _entry_without_ci(entry: Any, hash_subject: Callable[[str], str] | None) -> Any:
    if not (isinstance(entry, Mapping) and isinstance(entry.get("ci"), str)):
        return entry
    rest = {k: v for k, v in entry.items() if k != "ci"}
    return rest if hash_subject is None else {**rest, "ci": hash_subject(entry["ci"])}


def replay(bundle: Bundle, inputs: Mapping[str, Any], at: dt.datetime, controls: Controls | None = None) -> DecisionResult:
    """Re-run recorded `decision_inputs` under another bundle (its params and risk areas) at time at,
    with the venue's daily controls laid over it when given (as the gate would decide with it)."""
    bundle = with_controls(bundle, controls)
    external = dict(inputs["external"])
    venue = dict(external.get("venue") or {})
    if not venue.pop("modeFromGate", False):
        venue["mode"] = bundle.ruleset.params.get("mode", "open")
    venue["kind"] = bundle.pack.kind
    external.update(venue=venue, params=bundle.ruleset.params, riskAreas=bundle.risk_view_at(at))
    payload = inputs.get("payload")
    person_class = payload.get("class") if isinstance(payload, Mapping) else None
    return _run(bundle, {"payload": payload, "external": external}, at, payload is not None, person_class)


@dataclass
class Backtest:
    """Recorded decisions replayed under a bundle: how many, and each that came out otherwise."""

    version: str
    replayed: int = 0
    changed: int = 0
    skipped: int = 0
    # {"id", "at", "was", "now", "reasons": [rule ids]} per changed decision, in the records' order.
    changes: list[dict[str, Any]] = field(default_factory=list)


def backtest(bundle: Bundle, records: Iterable[Mapping[str, Any] | None], controls: Controls | None = None,
             keep: int | None = None) -> Backtest:
    """Replay records {"id", "at", "decision", "inputs"} (`checkpoint rules backtest`, the gate's `replay` command)
    under a bundle with the daily controls; a record that cannot be replayed (None, a bad time or inputs) is
    skipped; at most `keep` changes are listed (all are counted)."""
    bundle = with_controls(bundle, controls)
    out = Backtest(bundle.version)
    for record in records:
        try:
            if record is None:
                raise ValueError("not a record")
            at = dt.datetime.fromisoformat(str(record["at"]).replace("Z", "+00:00"))
            result = replay(bundle, record["inputs"], at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc))
        except (ValueError, KeyError, TypeError, AttributeError, RuleError) as exc:
            log.warning("a recorded decision is not replayable: %s", exc)
            out.skipped += 1
            continue
        out.replayed += 1
        if result.decision != record.get("decision"):
            out.changed += 1
            if keep is None or len(out.changes) < keep:
                out.changes.append({"id": record.get("id"), "at": record["at"], "was": record.get("decision"),
                                    "now": result.decision, "reasons": [r.rule for r in result.reasons]})
    return out


def _run(bundle: Bundle, data: dict[str, Any], at: dt.datetime, has_credential: bool, person_class: str | None) -> DecisionResult:
    worst = "admit"
    reasons: list[RuleResult] = []
    outcomes: dict[str, Outcome] = {}
    flags: set[str] = set()
    active = bundle.ruleset.active(at)
    if not active:  # a bundle with no rule in force must not admit everyone
        reasons.append(RuleResult(rule="BUNDLE", outcome="OPEN", message_zh=NO_RULES_ZH, message_en=NO_RULES_EN))
        worst = "refer"
    for compiled in active:
        rule = compiled.rule
        if compiled.needs_credential and not has_credential:
            continue  # not reached: GATE-CODE-01 already refuses a missing or invalid code
        outcome = compiled.outcome(data)
        outcomes[rule.id] = outcome
        if outcome == "PASS":
            continue
        effect = rule.severity if outcome == "FAIL" else rule.open_effect
        if _RANK[effect] > _RANK[worst]:
            worst = effect
        if outcome == "FAIL":
            flags.update(rule.flags)
        if outcome == "OPEN":
            # Not "体温37.3℃或以上" for someone never measured: say what could not be checked, and why.
            zh, en = not_checked(compiled.missing(data))
        else:
            zh, en = fill_window(compiled.message_zh, data, "zh"), fill_window(compiled.message_en, data, "en")
        reasons.append(RuleResult(rule=rule.id, outcome=outcome, message_zh=zh, message_en=en))
    decision: Decision = "admit" if worst in ("admit", "warn") else worst  # type: ignore[assignment]
    if decision == "deny" and person_class in bundle.pack.deny_flags:
        flags.update(bundle.pack.deny_flags[person_class])
    return DecisionResult(decision, reasons, bundle.version, frozenset(flags), outcomes)
