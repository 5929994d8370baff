"""Signed rule bundles: a gate takes only a bundle the root key signed, fresh enough, and keeps the last good one."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from protocols.bundle import BundleKeeper, build_bundle, bundle_from_body, parse_risk_areas, sign_bundle, verify_bundle
from protocols.errors import BundleError, RuleError
from protocols.keys import generate_private_key
from protocols.rules import load_pack
from protocols.signed import sign_document

ISSUED = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.timezone.utc)
RISK = parse_risk_areas({"regions": [{"region": "110105", "level": "high"}], "provinces": ["440000"]})


@pytest.fixture(scope="module")
def root_key():
    return generate_private_key("ES256")


@pytest.fixture(scope="module")
def signed(root_key):
    built = build_bundle(load_pack("factory-gate"), {"testMaxHours": 72}, RISK, issued_at=ISSUED)
    return sign_bundle(built, root_key)


def test_a_signed_bundle_verifies_and_carries_its_parts(root_key, signed):
    got = verify_bundle(signed, root_key.public_key(), ISSUED + dt.timedelta(hours=1))
    assert got.pack.name == "factory-gate"
    assert got.ruleset.params["testMaxHours"] == 72
    assert got.risk_view == {"regions": ["110105"], "cities": ["110100"], "provinces": ["440000"]}
    assert got.version == signed["body"]["version"] and got.version.startswith("factory-gate-1.2.1-")
    assert len(got.version) <= 64  # fits GateEvent.bundle_version


def test_an_unsigned_bundle_is_refused(root_key, signed):
    with pytest.raises(BundleError, match="not signed"):
        verify_bundle({"body": signed["body"]}, root_key.public_key(), ISSUED)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b["params"].update(testMaxHours=720),
        lambda b: b["risk_areas"]["regions"].clear(),
        lambda b: b["pack"]["rules"][0].update(severity="warn"),
        lambda b: b.update(valid_from="2020-01-01T00:00:00Z"),
    ],
    ids=["params", "risk-areas", "rule-severity", "valid-from"],
)
def test_a_tampered_bundle_is_refused(root_key, signed, tamper):
    doc = copy.deepcopy(signed)
    tamper(doc["body"])
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(doc, root_key.public_key(), ISSUED)


def test_a_bundle_signed_by_another_key_is_refused(signed):
    other = generate_private_key("ES256")
    with pytest.raises(BundleError):
        verify_bundle(signed, other.public_key(), ISSUED)


def test_a_too_old_bundle_is_refused_and_the_age_is_configurable(root_key, signed):
    late = ISSUED + dt.timedelta(hours=24, seconds=1)
    with pytest.raises(BundleError, match="too old"):
        verify_bundle(signed, root_key.public_key(), late)
    assert verify_bundle(signed, root_key.public_key(), ISSUED + dt.timedelta(hours=24)).pack.name == "factory-gate"
    assert verify_bundle(signed, root_key.public_key(), late, max_age=dt.timedelta(hours=48)).pack.name == "factory-gate"


def test_a_bundle_is_not_used_before_it_is_valid(root_key):
    future = build_bundle(load_pack("canteen"), valid_from=ISSUED + dt.timedelta(hours=6), issued_at=ISSUED)
    with pytest.raises(BundleError, match="valid only from"):
        verify_bundle(sign_bundle(future, root_key), root_key.public_key(), ISSUED + dt.timedelta(hours=1))


def test_a_signed_bundle_whose_rules_do_not_compile_is_refused(root_key, signed):
    body = copy.deepcopy(signed["body"])
    body["pack"]["rules"][0]["logic"] = {"all": [1]}
    with pytest.raises(BundleError, match="unrecognised operator"):
        verify_bundle(sign_document(body, root_key), root_key.public_key(), ISSUED)


def test_a_signed_document_of_another_type_is_refused(root_key):
    with pytest.raises(BundleError, match="not a rule bundle"):
        verify_bundle(sign_document({"type": "checkpoint-trust-list", "keys": []}, root_key), root_key.public_key(), ISSUED)


@pytest.mark.parametrize("body", [{}, {"type": "checkpoint-rule-bundle"}, {"type": "checkpoint-rule-bundle", "issued_at": "x"}])
def test_malformed_bodies_raise_bundle_error(body):
    with pytest.raises(BundleError):
        bundle_from_body(body)


def test_the_keeper_keeps_the_last_good_bundle(root_key, signed):
    keeper = BundleKeeper(root_key.public_key())
    at = ISSUED + dt.timedelta(hours=1)
    assert keeper.is_stale(at)
    good = keeper.offer(signed, at)
    tampered = copy.deepcopy(signed)
    tampered["body"]["params"]["testMaxHours"] = 1000
    for bad in (tampered, {"body": signed["body"]}, "not a document"):
        with pytest.raises(BundleError):
            keeper.offer(bad, at)
        assert keeper.bundle is good
    older = sign_bundle(build_bundle(load_pack("factory-gate"), issued_at=ISSUED - dt.timedelta(hours=2)), root_key)
    with pytest.raises(BundleError, match="older"):
        keeper.offer(older, at)
    newer = sign_bundle(build_bundle(load_pack("factory-gate"), issued_at=ISSUED + dt.timedelta(minutes=30)), root_key)
    assert keeper.offer(newer, at).issued_at > good.issued_at
    assert keeper.is_stale(ISSUED + dt.timedelta(hours=25))


def test_building_with_an_unknown_parameter_fails_at_the_hub():
    with pytest.raises(RuleError, match="no parameter"):
        build_bundle(load_pack("factory-gate"), {"feverCelsius": 37.3})


def test_building_with_a_parameter_of_the_wrong_type_fails_at_the_hub():
    with pytest.raises(RuleError, match="GATE-TEST-01"):
        build_bundle(load_pack("factory-gate"), {"testMaxHours": "48"})


@pytest.mark.parametrize(
    "data",
    [{"regions": [{"region": "1101", "level": "high"}]}, {"regions": [{"region": "110105", "level": "low"}]}, {"extra": 1}, ["11"]],
)
def test_bad_risk_area_lists_are_refused(data):
    with pytest.raises(BundleError):
        parse_risk_areas(data)


def test_a_plain_list_of_codes_is_a_list_of_high_risk_areas():
    assert parse_risk_areas(["110105"]).rule_view()["regions"] == ["110105"]
