"""Rules and packs: PASS/FAIL/OPEN semantics, parameters, validity windows, replays."""

from __future__ import annotations

import copy
import functools
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.bundle import build_bundle, parse_risk_areas
from protocols.credential import Credential, NucleicAcidTest
from protocols.decision import GateContext, decision_inputs, evaluate, replay, tenths
from protocols.errors import RuleError
from protocols.events import GateEvent
from protocols.rules import VENUE_KINDS, RuleSet, load_pack, pack_names, parse_pack, substitute_params

AT = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.timezone.utc)
EVERY_PACK_HAS = {
    "GATE-CODE-01", "GATE-CODE-02", "GATE-CODE-03", "GATE-COLOUR-01", "GATE-COLOUR-02", "GATE-TRAVEL-01",
    "GATE-TEST-01", "GATE-RETURN-01", "GATE-TEMP-01", "GATE-TEMP-02", "GATE-MASK-01", "GATE-CLASS-01",
}


def rule_json(**overrides):
    base = {
        "id": "GATE-TEST-99", "version": "1.0.0", "description": "a test rule", "message_zh": "测试", "message_en": "test",
        "valid_from": "2026-01-01T00:00:00Z", "severity": "deny", "reads": ["external.x?"], "logic": {"var": "external.x"},
    }
    return {**base, **overrides}


def pack_json(*rules, **overrides):
    base = {
        "name": "test-pack", "kind": "office", "version": "1.0.0", "title_zh": "测试", "title_en": "Test",
        "description": "a pack for tests", "params": {"limit": {"default": 3, "description": "a limit"}}, "rules": list(rules),
    }
    return {**base, **overrides}


def outcomes_of(pack_data, external, at=AT):
    ruleset = RuleSet.compile(parse_pack(pack_data), {"limit": 3})
    return [c.outcome({"payload": None, "external": external}) for c in ruleset.active(at)]


def test_six_packs_one_per_venue_kind_each_encoding_the_gate_rows():
    packs = [load_pack(name) for name in pack_names()]
    assert sorted(p.kind for p in packs) == sorted(VENUE_KINDS)
    for pack in packs:
        ids = {r.id for r in pack.rules}
        assert EVERY_PACK_HAS <= ids, pack.name
    by_kind = {p.kind: {r.id for r in p.rules} for p in packs}
    assert "GATE-PARENT-01" in by_kind["school"] and "GATE-PARENT-01" in by_kind["kindergarten"]
    assert "GATE-VISIT-01" in by_kind["factory"] and "GATE-COURIER-01" in by_kind["factory"]
    assert "GATE-APB-01" in by_kind["canteen"]
    assert load_pack("kindergarten-gate").resolve_params()["mode"] == "closed"


def test_every_rule_has_both_languages_and_lists_what_it_reads():
    for name in pack_names():
        for rule in load_pack(name).rules:
            assert rule.message_zh and rule.message_en and rule.reads, rule.id
            assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.message_zh), rule.id


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "PASS"), (False, "FAIL"), (None, "OPEN"), (1, "OPEN"), ("yes", "OPEN"), ([True], "OPEN")],
)
def test_only_true_passes_and_only_false_fails(value, expected):
    assert outcomes_of(pack_json(rule_json()), {"x": value}) == [expected]


def test_an_evaluation_error_is_open_never_a_pass():
    rule = rule_json(logic={"<": [{"var": "external.x"}, 37]})
    assert outcomes_of(pack_json(rule), {"x": 37.5}) == ["OPEN"]
    assert outcomes_of(pack_json(rule), {"x": "hot"}) == ["OPEN"]


def test_a_missing_required_field_is_open_even_if_the_logic_would_pass():
    rule = rule_json(reads=["external.x"], logic={"!": [{"var": "external.x"}]})
    assert outcomes_of(pack_json(rule), {}) == ["OPEN"]
    assert outcomes_of(pack_json(rule), {"x": False}) == ["PASS"]


def test_parameters_replace_param_nodes_and_reach_external_params():
    logic = {"plusTime": ["2026-01-01", {"param": "limit"}, "day"], "x": [{"param": "limit"}]}
    assert substitute_params(logic, {"limit": 3}) == {"plusTime": ["2026-01-01", 3, "day"], "x": [3]}
    with pytest.raises(RuleError, match="unknown parameter"):
        substitute_params({"param": "nope"}, {"limit": 3})
    rule = rule_json(logic={"<": [{"var": "external.x"}, {"param": "limit"}]})
    assert outcomes_of(pack_json(rule), {"x": 2}) == ["PASS"]
    assert outcomes_of(pack_json(rule), {"x": 3}) == ["FAIL"]


def test_messages_name_the_venue_parameters():
    pack = load_pack("factory-gate")
    ruleset = RuleSet.compile(pack, pack.resolve_params({"testMaxHours": 72, "feverDeci": 375}))
    messages = {c.rule.id: (c.message_zh, c.message_en) for c in ruleset.rules}
    assert "72小时" in messages["GATE-TEST-01"][0] and "72 hours" in messages["GATE-TEST-01"][1]
    assert "37.5" in messages["GATE-TEMP-01"][0]


def test_the_version_in_force_is_chosen_by_validity_dates():
    old = rule_json(version="1.0.0", valid_to="2026-06-01T00:00:00Z", logic=True)
    new = rule_json(version="2.0.0", valid_from="2026-06-01T00:00:00Z", logic=False)
    ruleset = RuleSet.compile(parse_pack(pack_json(old, new)), {"limit": 3})
    assert [c.rule.version for c in ruleset.active(dt.datetime(2026, 5, 31, tzinfo=dt.timezone.utc))] == ["1.0.0"]
    assert [c.rule.version for c in ruleset.active(dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc))] == ["2.0.0"]
    assert ruleset.active(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pack_json(rule_json(), rule_json()), "twice"),
        (pack_json(rule_json(logic={"or": [True, False]})), "unrecognised operator"),
        (pack_json(rule_json(id="temp rule")), "id"),
        (pack_json(rule_json(severity="maybe")), "severity"),
        (pack_json(rule_json(), surprise=1), "surprise"),
        (pack_json(rule_json(logic={"param": "missing"})), "unknown parameter"),
        (pack_json(rule_json(message_en="{missing} C")), "missing"),
    ],
)
def test_bad_packs_are_refused_with_the_reason(data, match):
    with pytest.raises(RuleError, match=match):
        parse_pack(data)


def test_an_unknown_pack_name_is_a_rule_error():
    with pytest.raises(RuleError, match="no policy pack"):
        load_pack("casino")


@pytest.mark.parametrize(("celsius", "expected"), [(37.3, 373), (37.25, 373), (37.24, 372), (36.95, 370), (None, None), (float("nan"), None)])
def test_readings_become_tenths_rounded_half_up(celsius, expected):
    assert tenths(celsius) == expected


def _credential(**fields):
    base = {
        "format": "HP1", "issuer": "venue-health", "kid": "k1", "issued_at": AT - dt.timedelta(minutes=1),
        "expires_at": AT + dt.timedelta(hours=1), "subject": "S-visitor-001", "name": "李*", "person_class": "visitor",
        "colour": "green", "test": NucleicAcidTest(at=AT - dt.timedelta(hours=60), result="negative"),
    }
    return Credential(**{**base, **fields})


def test_a_recorded_decision_replays_under_a_new_bundle_and_the_change_shows():
    risk = parse_risk_areas({"regions": [], "provinces": []})
    strict = build_bundle(load_pack("factory-gate"), {}, risk)
    lenient = build_bundle(load_pack("factory-gate"), {"testMaxHours": 72}, risk)
    appointment = {"subject": "S-visitor-001", "from": "2026-11-29T07:00:00Z", "to": "2026-11-29T10:00:00Z", "approvedBy": "王*"}
    ctx = GateContext(at=AT, celsius=36.6, mask=True, inside=False, appointment=appointment)
    recorded = evaluate(strict, _credential(), ctx)
    assert recorded.decision == "deny" and [r.rule for r in recorded.reasons] == ["GATE-TEST-01"]
    inputs = json.loads(json.dumps(decision_inputs(strict, _credential(), ctx, hash_subject=lambda s: "h:" + s[::-1])))
    assert "name" not in inputs["payload"] and inputs["payload"]["sub"] == "h:100-rotisiv-S"
    assert "params" not in inputs["external"] and "riskAreas" not in inputs["external"]
    assert replay(strict, inputs, AT).decision == "deny"  # same bundle, same answer (the hashed ids still match)
    assert replay(lenient, inputs, AT).decision == "admit"


def test_replay_uses_the_new_bundles_mode_unless_the_gate_set_it():
    open_ = build_bundle(load_pack("office"))
    closed = build_bundle(load_pack("office"), {"mode": "closed"})
    cred = _credential(person_class="staff", subject="S-staff-9", test=None)
    inputs = decision_inputs(open_, cred, GateContext(at=AT, celsius=36.6, mask=True, inside=False, roster={"S-other": {}}))
    assert replay(open_, copy.deepcopy(inputs), AT).decision == "admit"
    assert [r.rule for r in replay(closed, copy.deepcopy(inputs), AT).reasons] == ["GATE-CLOSED-01"]


def test_decision_reasons_fit_the_shared_event_schema():
    bundle = build_bundle(load_pack("factory-gate"))
    result = evaluate(bundle, _credential(colour="red"), GateContext(at=AT, celsius=38.2, mask=False, inside=False))
    event = GateEvent(id="01JDQ7W8XKZ0000000000000AB", kind="decision", venue="v1", gate="g1", at=AT,
                      decision=result.decision, reasons=result.reasons, bundle_version=result.bundle_version)
    assert event.decision == "deny" and {"GATE-COLOUR-01", "GATE-TEMP-01", "GATE-MASK-01"} <= {r.rule for r in event.reasons}


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError):
        evaluate(build_bundle(load_pack("office")), None, GateContext(at=dt.datetime(2026, 11, 29, 8, 0)))


_JUNK = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(["2026-11-29T07:00:00Z", "V-1", "yesterday"])
_APPOINTMENTS = st.none() | st.dictionaries(st.sampled_from(["subject", "from", "to", "approvedBy"]), _JUNK, max_size=4)
_GOODS = st.none() | st.fixed_dictionaries({"coldChain": _JUNK, "trace": st.dictionaries(st.sampled_from(["name", "maker"]), _JUNK) | _JUNK})


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    pack=st.sampled_from(pack_names()),
    celsius=st.none() | st.floats(),
    remeasure=st.none() | st.floats(),
    mask=st.none() | st.booleans(),
    inside=st.none() | st.booleans(),
    appointment=_APPOINTMENTS,
    goods=_GOODS,
    person_class=st.sampled_from(["staff", "visitor", "courier", "parent", "customer", None]),
    colour=st.sampled_from(["green", "yellow", "red", None]),
    reason=st.sampled_from([None, "expired", "bad_signature", "whatever"]),
    with_credential=st.booleans(),
)
def test_any_gate_context_gets_a_decision_never_a_crash(pack, celsius, remeasure, mask, inside, appointment, goods,
                                                        person_class, colour, reason, with_credential):
    bundle = _bundle(pack)
    cred = _credential(person_class=person_class, colour=colour) if with_credential else None
    ctx = GateContext(at=AT, celsius=celsius, remeasure=remeasure, mask=mask, inside=inside,
                      appointment=appointment, goods=goods, code_reason=reason)
    result = evaluate(bundle, cred, ctx)
    assert result.decision in ("admit", "deny", "refer")
    if result.decision == "admit":
        warn_rules = {r.id for r in bundle.pack.rules if r.severity == "warn"}
        assert {r.rule for r in result.reasons} <= warn_rules  # only warnings may remain
        assert cred is not None and (celsius is not None or remeasure is not None)


@functools.lru_cache(maxsize=None)
def _bundle(pack: str):
    return build_bundle(load_pack(pack))


def test_every_shipped_rule_has_a_short_spoken_form():
    """The voice says every failing reason: each shipped rule says it briefly, Chinese and English."""
    for name in pack_names():
        for rule in load_pack(name).rules:
            assert rule.short_zh and rule.short_en, (name, rule.id)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.short_zh), rule.id


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12)
                     | st.sampled_from(["2026-11-15", "2026-11-28T20:00:00Z", "LP6464-4", "260415000"]),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["dn", "sd", "dt", "tt", "tr", "sc", "fr", "v", "t", "r"]), inner, max_size=4),
                     max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(pack=st.sampled_from(pack_names()),
       hcert=st.fixed_dictionaries({}, optional={"v": _JSON, "t": _JSON, "r": _JSON}))
def test_any_dcc_certificate_shape_gets_a_decision_never_a_crash(pack, hcert):
    """GATE-DCC-01 over hostile certificate content: a decision, and an admit only from a well-formed entry."""
    cred = _credential(format="HC1", person_class=None, colour=None, test=None, extra={"hcert": hcert})
    appointment = {"subject": cred.subject, "from": "2026-11-29T07:00:00Z", "to": "2026-11-29T10:00:00Z", "approvedBy": "王*华"}
    result = evaluate(_bundle(pack), cred, GateContext(at=AT, celsius=36.5, mask=True, inside=False, appointment=appointment,
                                                       roster={}))
    assert result.decision in ("admit", "deny", "refer")
    if result.decision == "admit":
        assert any(isinstance(hcert.get(k), list) and hcert[k] and isinstance(hcert[k][0], dict) for k in ("v", "t", "r"))
