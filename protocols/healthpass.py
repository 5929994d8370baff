"""The venue's own health pass `HP1:`: CWT claims in COSE_Sign1, CBOR, zlib, base45.

The same stack as the EU DCC, with our own private claim map; `protocols/healthpass.md` is the
spec (every key, its CBOR type, a worked example). `mint` makes a code, `verify_healthpass`
checks one stage by stage and never raises on bad input: every failure is a stable reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import zlib

import base45
import cbor2

from protocols.cose import EDDSA, ES256, PrivateKey, Sign1, decode_sign1, loads_cbor, sign1
from protocols.credential import Credential, Verification
from protocols.envelope import inflate, strip_prefix, unbase45
from protocols.errors import (
    BadCose,
    CredentialError,
    Expired,
    IssuedTooLongAgo,
    KeyExpired,
    KeyNotAllowed,
    NotYetValid,
    Oversized,
    Revoked,
)
from protocols.healthpass_claims import HealthPassClaims, claims_json, decode_claims, encode_claims
from protocols.keys import key_id
from protocols.trustlist import TrustedKey, TrustList, signing_key

log = logging.getLogger(__name__)

PREFIX = "HP1:"
USAGE = "HP1"
# Limits before every stage. A QR code holds at most 4,296 alphanumeric characters; real passes
# are under 400. Anything bigger is hostile or broken, and is refused before work is spent on it.
MAX_TEXT_CHARS = 4296
MAX_COMPRESSED_BYTES = 2 * MAX_TEXT_CHARS // 3 + 1
MAX_COSE_BYTES = 8192
MAX_PAYLOAD_BYTES = 4096
ALLOWED_ALGS = (ES256, EDDSA)
# A gate's clock may run a little behind the issuer's: codes "from the future" by less are fine.
DEFAULT_SKEW = dt.timedelta(minutes=2)


def mint(claims: HealthPassClaims, key: PrivateKey, kid: bytes | None = None) -> str:
    """Sign claims with key into `HP1:` text; kid defaults to the key's own key id."""
    payload = cbor2.dumps(encode_claims(claims))
    cose = sign1(payload, key, kid if kid is not None else key_id(key.public_key()))
    return PREFIX + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


def verify_healthpass(
    text: str,
    trust: TrustList,
    at: dt.datetime,
    max_age: dt.timedelta | float | None = None,
    *,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> Verification:
    """Verify an `HP1:` code at time `at`; max_age (timedelta or seconds) refuses old issues."""
    result = Verification(format="HP1")
    at = _aware(at)
    if max_age is not None and not isinstance(max_age, dt.timedelta):
        max_age = dt.timedelta(seconds=float(max_age))
    step = "prefix"
    try:
        body = strip_prefix(text, PREFIX, MAX_TEXT_CHARS)
        result.steps[step] = True
        step = "base45"
        compressed = unbase45(body, MAX_COMPRESSED_BYTES)
        result.steps[step] = True
        step = "zlib"
        cose_bytes = inflate(compressed, MAX_COMPRESSED_BYTES, MAX_COSE_BYTES)
        result.steps[step] = True
        step = "cose"
        msg = _decode_cose(cose_bytes)
        result.steps[step] = True
        step = "cbor"
        raw = loads_cbor(msg.payload)
        result.steps[step] = True
        step = "schema"
        claims = decode_claims(raw)
        result.claims = claims_json(claims)
        result.steps[step] = True
        step = "signature"
        key = signing_key(msg, trust)
        result.steps[step] = True
        step = "key_usage"
        _check_key(key, claims, trust, at)
        result.steps[step] = True
        step = "expiry"
        _check_validity(claims, trust, at, max_age, skew)
        result.steps[step] = True
    except CredentialError as exc:
        result.steps[step] = False
        result.reason = exc.reason
        log.debug("HP1 refused at %s: %s (%s)", step, exc.reason, exc)
        return result
    result.ok = True
    result.credential = to_credential(claims, msg.kid or b"")
    return result


def to_credential(claims: HealthPassClaims, kid: bytes) -> Credential:
    """The credential the rules see, from verified claims."""
    return Credential(
        format="HP1",
        issuer=claims.issuer,
        kid=base64.b64encode(kid).decode("ascii"),
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        not_before=claims.not_before,
        subject=claims.subject,
        name=claims.name,
        person_class=claims.person_class,
        colour=claims.colour,
        colour_since=claims.colour_since,
        test=claims.test,
        doses=claims.doses,
        stays=list(claims.stays),
        group=claims.group,
        window=claims.window,
        goods=list(claims.goods),
    )


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def _decode_cose(data: bytes) -> Sign1:
    msg = decode_sign1(data)
    if msg.alg not in ALLOWED_ALGS:
        raise BadCose(f"algorithm {msg.alg!r} is not ES256 or EdDSA")
    if msg.kid is None:
        raise BadCose("no kid in the COSE header")
    if len(msg.payload) > MAX_PAYLOAD_BYTES:
        raise Oversized("COSE payload too large")
    return msg


def _check_key(key: TrustedKey, claims: HealthPassClaims, trust: TrustList, at: dt.datetime) -> None:
    if trust.is_kid_revoked(key.kid):
        raise Revoked("the signing key has been revoked")
    if USAGE not in key.may_sign:
        raise KeyNotAllowed(f"key may sign {sorted(key.may_sign)}, not {USAGE}")
    if key.issuer != claims.issuer:
        raise KeyNotAllowed(f"key belongs to issuer {key.issuer!r}, code claims {claims.issuer!r}")
    if not key.valid_at(claims.issued_at) or not key.valid_at(at):
        raise KeyExpired("the signing key was not valid when the code was issued or checked")


def _check_validity(
    claims: HealthPassClaims,
    trust: TrustList,
    at: dt.datetime,
    max_age: dt.timedelta | None,
    skew: dt.timedelta,
) -> None:
    if trust.is_subject_revoked(claims.subject):
        raise Revoked("the holder's codes have been revoked")
    if at >= claims.expires_at:
        raise Expired("the code has expired")
    if claims.not_before is not None and at + skew < claims.not_before:
        raise NotYetValid("the code is not valid yet")
    if at + skew < claims.issued_at:
        raise NotYetValid("the code was issued in the future")
    if max_age is not None and at - claims.issued_at > max_age:
        raise IssuedTooLongAgo(f"issued {at - claims.issued_at} ago, more than {max_age}")
