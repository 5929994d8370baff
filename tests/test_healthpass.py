"""HP1 health passes: round trips, and one test per refusal reason."""

from __future__ import annotations

import datetime as dt
import zlib

import base45
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.credential import STEPS
from protocols.healthpass import MAX_TEXT_CHARS, PREFIX, mint, verify_healthpass
from protocols.healthpass_claims import CLASSES, COLOURS, HealthPassClaims, encode_claims
from protocols.keys import key_id
from protocols.trustlist import subject_revocation_hash
from demo.samples import ISSUER, NOW, make_claims
from tests.helpers_codes import (
    make_issuer,
    make_trust,
    mint_pass,
    sign_payload,
    wrap_compressed,
    wrap_cose,
)

HOUR = dt.timedelta(hours=1)
ES_KEY, ES_TRUSTED = make_issuer("ES256")
ED_KEY, ED_TRUSTED = make_issuer("EdDSA")
TRUST = make_trust(ES_TRUSTED, ED_TRUSTED)


def assert_refused(result, reason: str, failed_step: str) -> None:
    """The result is refused with reason at failed_step: earlier steps passed, later ones never ran."""
    assert result.ok is False
    assert result.reason == reason
    assert result.credential is None
    index = STEPS.index(failed_step)
    assert all(result.steps[s] is True for s in STEPS[:index]), result.steps
    assert result.steps[failed_step] is False
    assert all(result.steps[s] is None for s in STEPS[index + 1:]), result.steps


@pytest.mark.parametrize("key", [ES_KEY, ED_KEY], ids=["ES256", "EdDSA"])
def test_minted_pass_verifies_into_a_credential(key):
    text = mint_pass(key, stays=({"region": "110101", "start": "2026-11-01", "end": "2026-11-03"},))
    assert text.startswith(PREFIX)
    result = verify_healthpass(text, TRUST, NOW + dt.timedelta(minutes=5))
    assert result.ok and result.reason is None
    assert all(result.steps[s] is True for s in STEPS)
    cred = result.credential
    assert cred.format == "HP1" and cred.issuer == ISSUER and cred.colour == "green"
    assert cred.person_class == "staff" and cred.test.result == "negative" and cred.doses == 3
    assert cred.stays[0].region == "110101" and cred.stays[0].end == dt.date(2026, 11, 3)
    assert cred.rule_payload()["test"]["at"] == "2026-11-28T20:00:00Z"
    assert result.claims["name"] == "张*明"


_times = st.integers(min_value=1_600_000_000, max_value=1_900_000_000).map(
    lambda s: dt.datetime.fromtimestamp(s, dt.timezone.utc)
)
_dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
_stays = st.tuples(st.from_regex(r"[0-9]{6}", fullmatch=True), _dates, st.integers(0, 30)).map(
    lambda t: {"region": t[0], "start": t[1], "end": t[1] + dt.timedelta(days=t[2])}
)
_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=32)
_goods = st.builds(
    lambda t, cold, report: {"product": t, "supplier": t, "origin": t, "quantity": t[:32], "batch": t, "maker": t,
                             "cold_chain": cold, "report": report},
    _text, st.booleans(), st.none() | _text)
_windows = st.tuples(_times, st.integers(1, 86_400)).map(lambda t: {"start": t[0], "end": t[0] + dt.timedelta(seconds=t[1])})


@st.composite
def claims_strategy(draw) -> HealthPassClaims:
    issued = draw(_times)
    return HealthPassClaims(
        issuer=ISSUER,
        subject=draw(st.text(min_size=1, max_size=64)),
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=draw(st.integers(1, 10_000_000))),
        not_before=draw(st.none() | st.just(issued)),
        name=draw(_text),
        person_class=draw(st.sampled_from(CLASSES)),
        colour=draw(st.sampled_from(COLOURS)),
        colour_since=draw(st.none() | _times),
        test=draw(st.none() | st.builds(lambda at, r: {"at": at, "result": r}, _times, st.sampled_from(["negative", "positive"]))),
        doses=draw(st.integers(0, 20)),
        stays=tuple(draw(st.lists(_stays, max_size=20))),
        group=draw(st.none() | _text),
        window=draw(st.none() | _windows),
        goods=tuple(draw(st.lists(_goods, max_size=4))),
    )


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(claims=claims_strategy(), use_ed=st.booleans())
def test_any_valid_claims_round_trip(claims, use_ed):
    key = ED_KEY if use_ed else ES_KEY
    result = verify_healthpass(mint(claims, key), TRUST, claims.issued_at)
    assert result.ok, result.reason
    cred = result.credential
    assert (cred.subject, cred.name, cred.person_class, cred.colour) == (claims.subject, claims.name, claims.person_class, claims.colour)
    assert (cred.issued_at, cred.expires_at, cred.not_before, cred.colour_since) == (claims.issued_at, claims.expires_at, claims.not_before, claims.colour_since)
    assert cred.test == claims.test and cred.doses == claims.doses and tuple(cred.stays) == claims.stays
    assert cred.group == claims.group and cred.window == claims.window and tuple(cred.goods) == claims.goods


COURIER_GOODS = ({"product": "冻虾仁", "supplier": "舟山水产", "origin": "330902", "quantity": "20 箱", "batch": "B-2026-1130",
                  "maker": "舟山海鲜加工厂", "cold_chain": True, "report": "LC-20261129-0042"},)


def test_group_window_and_goods_travel_in_the_pass_and_reach_the_rules():
    window = {"start": NOW, "end": NOW + dt.timedelta(hours=2)}
    text = mint(make_claims(person_class="courier", group="物流", window=window, goods=COURIER_GOODS), ES_KEY)
    result = verify_healthpass(text, TRUST, NOW)
    assert result.ok, result.reason
    payload = result.credential.rule_payload()
    assert payload["group"] == "物流"
    assert payload["window"] == {"start": "2026-11-29T08:00:00Z", "end": "2026-11-29T10:00:00Z"}
    assert payload["goods"][0]["batch"] == "B-2026-1130" and payload["goods"][0]["coldChain"] is True
    assert result.claims["goods"][0]["report"] == "LC-20261129-0042"
    # Absent optional keys stay absent from the code (older passes keep their exact bytes).
    plain = encode_claims(make_claims())[-65537]
    assert not {8, 9, 10} & set(plain)


@pytest.mark.parametrize(("hp_key", "value"), [
    (8, ""), (8, 7), (9, {1: 1795939200}), (9, {1: 1795939200, 2: 1795939100}), (9, [1, 2]),
    (10, {}), (10, [{1: "x"}]), (10, [{1: "a", 2: "b", 3: "c", 4: "d", 5: "e", 6: "f", 7: 1}]),
    (10, [{1: "a", 2: "b", 3: "c", 4: "d", 5: "e", 6: "f", 9: "x"}]), (10, [{1: "a", 2: "b", 3: "c", 4: "d", 5: "e", 6: "f"}] * 17),
])
def test_bad_group_window_or_goods_are_bad_claims(hp_key, value):
    claims = encode_claims(make_claims())
    claims[-65537][hp_key] = value
    assert_refused(verify_healthpass(sign_payload(claims, ES_KEY), TRUST, NOW), "bad_claims", "schema")


def test_unreadable_when_text_is_empty():
    assert_refused(verify_healthpass("", TRUST, NOW), "unreadable", "prefix")
    assert_refused(verify_healthpass(None, TRUST, NOW), "unreadable", "prefix")  # type: ignore[arg-type]


def test_bad_prefix_for_another_format():
    assert_refused(verify_healthpass("HC1:6BFOXN%TS3DH", TRUST, NOW), "bad_prefix", "prefix")


def test_bad_base45_for_characters_outside_the_alphabet():
    assert_refused(verify_healthpass(PREFIX + "abc~", TRUST, NOW), "bad_base45", "base45")


def test_truncating_one_character_breaks_base45():
    text = mint_pass(ES_KEY)
    cut = text[:-1] if (len(text) - len(PREFIX) - 1) % 3 == 1 else text[:-2]
    assert_refused(verify_healthpass(cut, TRUST, NOW), "bad_base45", "base45")


def test_truncating_whole_groups_breaks_zlib():
    text = mint_pass(ES_KEY)
    body = text[len(PREFIX):]
    whole = body[: len(body) - (len(body) % 3)]
    assert_refused(verify_healthpass(PREFIX + whole[:-30], TRUST, NOW), "bad_zlib", "zlib")


def test_bad_zlib_for_bytes_that_are_not_deflate():
    assert_refused(verify_healthpass(wrap_compressed(b"this is not zlib at all"), TRUST, NOW), "bad_zlib", "zlib")


def test_bytes_after_the_zlib_stream_are_refused():
    text = wrap_compressed(zlib.compress(b"\xa0") + b"tail")
    assert_refused(verify_healthpass(text, TRUST, NOW), "bad_zlib", "zlib")


def test_bad_cose_when_the_body_is_not_sign1():
    assert_refused(verify_healthpass(wrap_cose(cbor2.dumps([1, 2, 3])), TRUST, NOW), "bad_cose", "cose")
    assert_refused(verify_healthpass(wrap_cose(b"\xff\x00garbage"), TRUST, NOW), "bad_cose", "cose")


def test_bad_cose_without_kid_or_with_an_unknown_algorithm():
    payload = cbor2.dumps(encode_claims(make_claims()))
    no_kid = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, payload, b"\0" * 64]))
    assert_refused(verify_healthpass(wrap_cose(no_kid), TRUST, NOW), "bad_cose", "cose")
    hs256 = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: 5, 4: ES_TRUSTED.kid}), {}, payload, b"\0" * 32]))
    assert_refused(verify_healthpass(wrap_cose(hs256), TRUST, NOW), "bad_cose", "cose")


def test_bad_cbor_when_the_payload_is_not_cbor():
    assert_refused(verify_healthpass(sign_payload(b"\xff\xfe\xfd", ES_KEY), TRUST, NOW), "bad_cbor", "cbor")


def _claims_map() -> dict:
    return encode_claims(make_claims(stays=({"region": "110101", "start": "2026-11-01", "end": "2026-11-03"},)))


def _with(path: tuple, value) -> dict:
    claims = _claims_map()
    target = claims
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return claims


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([1, 2, 3], id="payload-is-an-array"),
        pytest.param(_with((1,), 42), id="iss-is-an-int"),
        pytest.param(_with((2,), KeyError), id="sub-missing"),
        pytest.param(_with((4,), "tomorrow"), id="exp-is-text"),
        pytest.param(_with((4,), True), id="exp-is-a-bool"),
        pytest.param(_with((4,), 1.5e9), id="exp-is-a-float"),
        pytest.param(_with((6,), -5), id="iat-negative"),
        pytest.param(_with((4,), 1_700_000_000), id="exp-before-iat"),
        pytest.param(_with((99,), "x"), id="unknown-top-level-claim"),
        pytest.param(_with((-65537,), "green"), id="private-claim-not-a-map"),
        pytest.param(_with((-65537, 3), "blue"), id="colour-unknown"),
        pytest.param(_with((-65537, 2), "alien"), id="class-unknown"),
        pytest.param(_with((-65537, 1), "x" * 33), id="name-too-long"),
        pytest.param(_with((-65537, 6), -1), id="doses-negative"),
        pytest.param(_with((-65537, 5, 2), "maybe"), id="test-result-unknown"),
        pytest.param(_with((-65537, 7, 0, 0), "11010"), id="stay-region-five-digits"),
        pytest.param(_with((-65537, 7, 0, 0), "١١٠١٠١"), id="stay-region-arabic-digits"),
        pytest.param(_with((-65537, 7, 0, 1), "2026-13-01"), id="stay-start-not-a-date"),
        pytest.param(_with((-65537, 7, 0, 2), "2026-10-01"), id="stay-ends-before-start"),
        pytest.param(_with((-65537, 7), "110101"), id="stays-not-an-array"),
        pytest.param(_with((-65537, 42), 1), id="unknown-private-key"),
    ],
)
def test_bad_claims_for_wrong_claim_types(payload):
    assert_refused(verify_healthpass(sign_payload(payload, ES_KEY), TRUST, NOW), "bad_claims", "schema")


def test_oversized_text_is_refused_before_decoding():
    assert_refused(verify_healthpass(PREFIX + "0" * MAX_TEXT_CHARS, TRUST, NOW), "oversized", "prefix")


def test_zlib_bomb_is_stopped_at_the_bound():
    bomb = zlib.compress(b"\0" * 2_000_000, 9)
    assert len(bomb) * 3 // 2 < MAX_TEXT_CHARS
    assert_refused(verify_healthpass(wrap_compressed(bomb), TRUST, NOW), "oversized", "zlib")


def test_oversized_payload_inside_a_small_cose():
    claims = _claims_map()
    claims[-65537][1] = "x" * 6000  # compresses well, but is far bigger than any pass
    assert_refused(verify_healthpass(sign_payload(claims, ES_KEY), TRUST, NOW), "oversized", "cose")


def test_unknown_key_when_kid_is_not_on_the_list():
    stranger, _ = make_issuer()
    assert_refused(verify_healthpass(mint_pass(stranger), TRUST, NOW), "unknown_key", "signature")


def test_bad_signature_when_forged_with_another_key_under_a_trusted_kid():
    forger, _ = make_issuer()
    text = mint_pass(forger, kid=ES_TRUSTED.kid)
    assert_refused(verify_healthpass(text, TRUST, NOW), "bad_signature", "signature")


def test_bad_signature_when_claims_are_swapped_under_a_valid_signature():
    from protocols.cose import decode_sign1

    genuine = zlib.decompress(base45.b45decode(mint_pass(ES_KEY)[len(PREFIX):]))
    msg = decode_sign1(genuine)
    red = cbor2.dumps(encode_claims(make_claims(colour="red")))
    tampered = cbor2.dumps(cbor2.CBORTag(18, [msg.protected_bytes, {}, red, msg.signature]))
    assert_refused(verify_healthpass(wrap_cose(tampered), TRUST, NOW), "bad_signature", "signature")


def test_colliding_kids_try_every_key():
    other, other_trusted = make_issuer()
    same_kid = type(other_trusted)(ES_TRUSTED.kid, ISSUER, other.public_key())
    trust = make_trust(same_kid, ES_TRUSTED)
    assert verify_healthpass(mint_pass(ES_KEY), trust, NOW).ok


def test_key_not_allowed_when_the_key_may_only_sign_dccs():
    key, trusted = make_issuer(may_sign=("HC1.v", "HC1.t"))
    assert_refused(verify_healthpass(mint_pass(key), make_trust(trusted), NOW), "key_not_allowed", "key_usage")


def test_key_not_allowed_when_the_code_claims_another_issuer():
    assert_refused(verify_healthpass(mint_pass(ES_KEY, issuer="CN-OTHER"), TRUST, NOW), "key_not_allowed", "key_usage")


def test_key_expired_when_key_validity_ended_before_issue():
    key, trusted = make_issuer(not_after=NOW - HOUR)
    assert_refused(verify_healthpass(mint_pass(key), make_trust(trusted), NOW), "key_expired", "key_usage")


def test_key_expired_when_key_was_not_yet_valid_at_issue():
    key, trusted = make_issuer(not_before=NOW + HOUR)
    assert_refused(verify_healthpass(mint_pass(key), make_trust(trusted), NOW + 2 * HOUR), "key_expired", "key_usage")


def test_key_inside_its_validity_is_accepted():
    key, trusted = make_issuer(not_before=NOW - HOUR, not_after=NOW + HOUR)
    assert verify_healthpass(mint_pass(key), make_trust(trusted), NOW).ok


def test_expired_after_exp():
    assert_refused(verify_healthpass(mint_pass(ES_KEY), TRUST, NOW + HOUR), "expired", "expiry")
    assert verify_healthpass(mint_pass(ES_KEY), TRUST, NOW + HOUR - dt.timedelta(seconds=1)).ok


def test_not_yet_valid_when_nbf_is_in_the_future():
    text = mint_pass(ES_KEY, not_before=NOW + dt.timedelta(minutes=30))
    assert_refused(verify_healthpass(text, TRUST, NOW), "not_yet_valid", "expiry")
    assert verify_healthpass(text, TRUST, NOW + dt.timedelta(minutes=29)).ok  # within the clock skew


def test_not_yet_valid_when_issued_in_the_future():
    text = mint_pass(ES_KEY, issued_at=NOW + dt.timedelta(minutes=10))
    assert_refused(verify_healthpass(text, TRUST, NOW), "not_yet_valid", "expiry")


def test_issued_too_long_ago_with_max_age():
    text = mint_pass(ES_KEY)
    at = NOW + dt.timedelta(minutes=11)
    assert_refused(verify_healthpass(text, TRUST, at, dt.timedelta(minutes=10)), "issued_too_long_ago", "expiry")
    assert_refused(verify_healthpass(text, TRUST, at, 600), "issued_too_long_ago", "expiry")
    assert verify_healthpass(text, TRUST, at, dt.timedelta(minutes=15)).ok
    assert verify_healthpass(text, TRUST, at).ok


def test_revoked_signing_key():
    trust = make_trust(ES_TRUSTED, revoked_kids=(key_id(ES_KEY.public_key()),))
    assert_refused(verify_healthpass(mint_pass(ES_KEY), trust, NOW), "revoked", "key_usage")


def test_revoked_subject():
    trust = make_trust(ES_TRUSTED, revoked_subjects=(subject_revocation_hash("sub-0001"),))
    assert_refused(verify_healthpass(mint_pass(ES_KEY), trust, NOW), "revoked", "expiry")
    assert verify_healthpass(mint_pass(ES_KEY, subject="sub-0002"), trust, NOW).ok


def test_mutating_any_character_never_verifies():
    text = mint_pass(ED_KEY)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    for i in range(len(PREFIX), len(text)):
        swapped = alphabet[(alphabet.index(text[i]) + 1) % len(alphabet)]
        result = verify_healthpass(text[:i] + swapped + text[i + 1:], TRUST, NOW)
        assert not result.ok and result.reason, i


def test_naive_check_time_is_taken_as_utc():
    assert verify_healthpass(mint_pass(ES_KEY), TRUST, NOW.replace(tzinfo=None)).ok


def test_claims_must_be_consistent_when_minting():
    with pytest.raises(ValueError):
        make_claims(expires_at=NOW - HOUR)


def test_worked_example_in_the_spec_verifies():
    import re
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric import ed25519

    from protocols.cose import decode_sign1, sign1
    from protocols.keys import public_key_from_b64
    from protocols.trustlist import TrustedKey

    spec = (Path(__file__).parent.parent / "protocols" / "healthpass.md").read_text(encoding="utf-8")
    example = spec[spec.index("## Worked example"):]
    blocks = re.findall(r"```\n(.*?)```", example, re.S)
    hex_blocks = [bytes.fromhex("".join(b.split())) for b in blocks if re.fullmatch(r"[0-9a-f\s]+", b)]
    cbor_payload, cose, compressed = hex_blocks
    text = next(b.strip() for b in blocks if b.startswith("HP1:"))
    public_b64 = re.search(r"`(MCow[A-Za-z0-9+/=]+)`", example).group(1)

    assert base45.b45decode(text[len(PREFIX):]) == compressed
    assert zlib.decompress(compressed) == cose
    assert decode_sign1(cose).payload == cbor_payload
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    assert sign1(cbor_payload, key, key_id(key.public_key())) == cose  # Ed25519 is deterministic
    trust = make_trust(TrustedKey.from_public_key(public_key_from_b64(public_b64), "CN-VENUE"))
    result = verify_healthpass(text, trust, dt.datetime(2026, 11, 29, 8, 10, tzinfo=dt.timezone.utc))
    assert result.ok, result.reason
    assert result.claims["stays"] == [{"region": "110101", "start": "2026-11-14", "end": "2026-11-16"}]


def test_claims_refuse_times_a_pass_cannot_carry():
    with pytest.raises(ValueError):
        make_claims(issued_at=dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(ValueError):
        make_claims(test={"at": dt.datetime(2026, 1, 1), "result": "negative"})
