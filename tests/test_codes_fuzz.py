"""Hostile input: garbage and mutated codes never crash a verifier and always carry a reason."""

from __future__ import annotations

import importlib
import importlib.util
import zlib

import base45
import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from protocols import errors
from protocols.healthpass import PREFIX, verify_healthpass
from protocols.healthpass_claims import encode_claims
from protocols.verify import verify_code
from demo.samples import NOW, make_claims
from tests.helpers_codes import make_issuer, make_trust, mint_pass, sign_payload, wrap_compressed, wrap_cose

KEY, TRUSTED = make_issuer("EdDSA")
TRUST = make_trust(TRUSTED)
VALID = mint_pass(KEY, stays=({"region": "110101", "start": "2026-11-01", "end": "2026-11-03"},))
REASONS = {
    cls.reason
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.CredentialError)
}
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# The DCC verifier is another module's; fuzz it directly too when it is installed.
DCC = importlib.import_module("protocols.dcc") if importlib.util.find_spec("protocols.dcc") else None
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_refused_cleanly(text) -> None:
    """verify_code and verify_healthpass both refuse with a known reason, without raising."""
    result = verify_code(text, TRUST, NOW)
    assert result.ok is False and result.reason in REASONS, (text, result.reason)
    assert result.credential is None
    if isinstance(text, str) and text.startswith(PREFIX):
        # verify_code catches any crash as a last resort; the HP1 verifier itself must not need that.
        direct = verify_healthpass(text, TRUST, NOW)
        assert direct.ok is False and direct.reason in REASONS and direct.reason == result.reason
    if isinstance(text, str) and text.startswith("HC1:") and DCC is not None:
        direct = DCC.verify_dcc(text, TRUST, NOW)
        assert direct.ok is False and direct.reason == result.reason


def test_the_valid_code_used_for_mutations_verifies():
    assert verify_code(VALID, TRUST, NOW).ok


@FUZZ
@given(st.text(max_size=600))
def test_any_text_is_refused_with_a_reason(text):
    assert_refused_cleanly(text)


@FUZZ
@given(st.text(alphabet=B45, max_size=800))
def test_any_base45_alphabet_body_is_refused(body):
    assert_refused_cleanly(PREFIX + body)
    assert_refused_cleanly("HC1:" + body)


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes_as_base45_or_zlib_are_refused(data):
    assert_refused_cleanly(wrap_compressed(data))
    assert_refused_cleanly(wrap_cose(data))


_cbor_leaf = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=20) | st.binary(max_size=20)
)
_cbor = st.recursive(
    _cbor_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.integers(-70000, 10) | st.text(max_size=3), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.slow
@FUZZ
@given(_cbor)
def test_any_signed_cbor_payload_is_refused(payload):
    assert_refused_cleanly(sign_payload(payload, KEY))


@pytest.mark.slow
@FUZZ
@given(st.data())
def test_a_valid_claims_map_with_one_value_replaced_never_crashes(data):
    claims = encode_claims(make_claims(stays=({"region": "110101", "start": "2026-11-01", "end": "2026-11-03"},)))
    target, key = claims, None
    while True:
        key = data.draw(st.sampled_from(sorted(target, key=repr)) if isinstance(target, dict) else st.integers(0, len(target) - 1))
        inner = target[key]
        if isinstance(inner, (dict, list)) and inner and data.draw(st.booleans()):
            target = inner
            continue
        break
    target[key] = data.draw(_cbor)
    result = verify_code(sign_payload(claims, KEY), TRUST, NOW)
    # A replaced value can still be well-typed: another issuer, or times that no longer fit NOW.
    assert result.ok or result.reason in {"bad_claims", "key_not_allowed", "expired", "not_yet_valid"}, result.reason


@FUZZ
@given(st.data())
def test_mutated_valid_codes_never_verify_and_never_crash(data):
    chars = list(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        i = data.draw(st.integers(len(PREFIX), len(chars) - 1))
        if op == "replace":
            chars[i] = data.draw(st.sampled_from(B45 + "abc\x00中"))
        elif op == "delete":
            del chars[i]
        else:
            chars.insert(i, data.draw(st.sampled_from(B45)))
    text = "".join(chars)
    if text != VALID:
        assert_refused_cleanly(text)


@FUZZ
@given(st.data())
def test_flipped_bits_in_the_cose_bytes_never_verify(data):
    cose = bytearray(zlib.decompress(base45.b45decode(VALID[len(PREFIX):])))
    i = data.draw(st.integers(0, len(cose) - 1))
    cose[i] ^= 1 << data.draw(st.integers(0, 7))
    assert_refused_cleanly(wrap_cose(bytes(cose)))


def test_non_text_input_is_unreadable():
    for thing in (None, 42, b"HP1:abc", ["HP1:"]):
        result = verify_code(thing, TRUST, NOW)
        assert result.reason == "unreadable" and not result.ok


def test_deeply_nested_cbor_is_refused():
    deep = b"\x81" * 100_000 + b"\x00"  # 100k nested arrays: a recursion bomb for naive decoders
    assert_refused_cleanly(wrap_compressed(zlib.compress(deep, 9)))
    assert_refused_cleanly(sign_payload(b"\x81" * 3000 + b"\x00", KEY))
    tagged = cbor2.dumps(cbor2.CBORTag(18, cbor2.CBORTag(18, cbor2.CBORTag(61, [b"", {}, b"", b""]))))
    assert_refused_cleanly(wrap_cose(tagged))
