"""EU Digital COVID Certificate (`HC1:`) verification, step by step as the dgc-testdata checks it.

HC1: + base45( zlib( COSE_Sign1( CWT{1: iss, 4: exp, 6: iat, -260: {1: hcert}} ) ) ). Each stage
is a public function that raises one typed error, so the test suite can run a single stage on the
corpus' own intermediate values; `verify_dcc` runs them all and records how far each got.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


from protocols.cose import ES256, PS256, Sign1, decode_sign1, loads_cbor
from protocols.credential import Verification
from protocols.dcc_credential import to_credential
from protocols.dcc_json import jsonable
from protocols.dcc_schema import HealthCertificate, validate_hcert
from protocols.envelope import inflate as envelope_inflate
from protocols.envelope import strip_prefix as envelope_strip_prefix
from protocols.envelope import unbase45
from protocols.errors import (
    BadCbor,
    BadClaims,
    BadCose,
    CredentialError,
    Expired,
    KeyExpired,
    KeyNotAllowed,
    NotYetValid,
    Revoked,
)
from protocols.trustlist import TrustedKey, TrustList, signing_key

log = logging.getLogger(__name__)

PREFIX = "HC1:"
# A QR code holds at most 4296 alphanumeric characters (version 40, level L): more is no DCC.
MAX_TEXT_CHARS = 4296
MAX_COMPRESSED_BYTES = MAX_TEXT_CHARS * 2 // 3
# Real DCCs inflate to 300-2000 bytes; the bound stops a zlib bomb long before memory does.
MAX_COSE_BYTES = 64 * 1024
# The DCC specification allows ES256 and PS256 only (dgc-testdata CO4).
ALLOWED_ALGS = frozenset({ES256, PS256})
CWT_ISS, CWT_EXP, CWT_IAT, CWT_HCERT = 1, 4, 6, -260


@dataclass(frozen=True)
class DccClaims:
    """The CWT claims of a DCC, checked: issuer country, issue and expiry times, the hcert."""

    issuer: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    hcert: dict[str, Any]
    certificate: HealthCertificate
    json: dict[str, Any]  # every claim, JSON-able, keys as strings ("-260" -> "1" -> hcert)


def strip_prefix(text: object) -> str:
    """The base45 body after `HC1:`, or raise Unreadable / Oversized / BadPrefix."""
    return envelope_strip_prefix(text, PREFIX, MAX_TEXT_CHARS)


def decode_base45(body: str) -> bytes:
    """Base45-decode the body or raise BadBase45 / Oversized."""
    return unbase45(body, MAX_COMPRESSED_BYTES)


def inflate(data: bytes) -> bytes:
    """zlib-decompress the body, bounded, or raise BadZlib / Oversized.

    The DCC specification lets an issuer skip compression, but the EU test data expects an
    uncompressed body to fail this step (dgc-testdata Z2), and no issuer does it: we refuse it.
    """
    return envelope_inflate(data, MAX_COMPRESSED_BYTES, MAX_COSE_BYTES)


def decode_cose(data: bytes) -> Sign1:
    """Parse COSE_Sign1 (tagged, double-tagged or untagged) with an allowed algorithm, or raise BadCose."""
    msg = decode_sign1(data)
    if msg.alg not in ALLOWED_ALGS:
        raise BadCose(f"algorithm {msg.alg!r} is not ES256 or PS256")
    return msg


def decode_cwt(payload: bytes) -> Mapping[Any, Any]:
    """Decode the COSE payload into the CWT claims map or raise BadCbor."""
    cwt = loads_cbor(payload, BadCbor)
    if not isinstance(cwt, Mapping):
        raise BadCbor("the CWT is not a CBOR map")
    return cwt


def parse_claims(cwt: Mapping[Any, Any]) -> DccClaims:
    """Check the CWT claims (iat, exp, hcert) and the hcert against the DCC schema, or raise BadClaims."""
    issuer = cwt.get(CWT_ISS)
    if issuer is not None and not isinstance(issuer, str):
        raise BadClaims("iss is not a string")
    issued_at, expires_at = cwt_times(cwt)
    container = cwt.get(CWT_HCERT)
    if not isinstance(container, Mapping) or not isinstance(container.get(1), Mapping):
        raise BadClaims("no hcert (-260 -> 1) in the CWT")
    if len(container) != 1:
        raise BadClaims("the hcert claim holds more than one certificate")
    try:
        hcert, claims_json = jsonable(container[1]), jsonable(cwt)
    except ValueError as exc:
        raise BadClaims(str(exc)) from exc
    certificate = validate_hcert(hcert)
    return DccClaims(issuer, issued_at, expires_at, hcert, certificate, claims_json)


def hcert_of(cwt: Mapping[Any, Any]) -> Any:
    """The hcert of a CWT claims map as JSON-able data, unchecked, or raise BadClaims."""
    container = cwt.get(CWT_HCERT)
    if not isinstance(container, Mapping) or 1 not in container:
        raise BadClaims("no hcert (-260 -> 1) in the CWT")
    try:
        return jsonable(container[1])
    except ValueError as exc:
        raise BadClaims(str(exc)) from exc


def check_signature(msg: Sign1, trust: TrustList) -> TrustedKey:
    """The trusted key that signed msg (kid from the protected header first), or raise."""
    return signing_key(msg, trust)


def check_key_usage(key: TrustedKey, kind: str) -> None:
    """Raise KeyNotAllowed unless key may sign this kind ("v", "t", "r") of DCC."""
    usage = f"HC1.{kind}"
    if usage not in key.may_sign:
        raise KeyNotAllowed(f"key may sign {sorted(key.may_sign)}, not {usage}")


def check_key_validity(key: TrustedKey, issued_at: dt.datetime, at: dt.datetime) -> None:
    """Raise KeyExpired unless the key was valid when the code was signed and is valid now.

    Not "the code expires before its key": the EU test data expects a code whose exp outlives
    its DSC by a minute to pass (dgc-testdata PL/1.3.0/6).
    """
    if not key.valid_at(issued_at) or not key.valid_at(_aware(at)):
        raise KeyExpired("the signing certificate was not valid when the code was issued or checked")


def check_code_times(issued_at: dt.datetime, expires_at: dt.datetime, at: dt.datetime) -> None:
    """Raise NotYetValid / Expired unless iat <= at <= exp."""
    at = _aware(at)
    if at < issued_at:
        raise NotYetValid("the code was issued after the validation time")
    if at > expires_at:
        raise Expired("the code has expired")


def cwt_times(cwt: Mapping[Any, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The CWT's issue and expiry times (iat, exp) or raise BadClaims."""
    return _epoch(cwt, CWT_IAT, "iat"), _epoch(cwt, CWT_EXP, "exp")


def decode_dcc(text: object) -> tuple[Sign1, DccClaims]:
    """Decode an `HC1:` text through every stage but the signature, or raise the first stage's error."""
    msg = decode_cose(inflate(decode_base45(strip_prefix(text))))
    return msg, parse_claims(decode_cwt(msg.payload))


def verify_dcc(text: str, trust: TrustList, at: dt.datetime) -> Verification:
    """Verify an `HC1:` code against the trust list at time `at`; never raises on bad input."""
    result = Verification(format="HC1")
    at = _aware(at)
    step = "prefix"
    try:
        body = strip_prefix(text)
        result.steps[step] = True
        step = "base45"
        compressed = decode_base45(body)
        result.steps[step] = True
        step = "zlib"
        cose = inflate(compressed)
        result.steps[step] = True
        step = "cose"
        msg = decode_cose(cose)
        result.steps[step] = True
        step = "cbor"
        cwt = decode_cwt(msg.payload)
        result.steps[step] = True
        step = "schema"
        try:
            # Shown by `inspect` even when the schema step refuses the claims.
            result.claims = jsonable(cwt)
        except ValueError as exc:
            raise BadClaims(str(exc)) from exc
        claims = parse_claims(cwt)
        result.steps[step] = True
        step = "signature"
        key = check_signature(msg, trust)
        result.steps[step] = True
        step = "key_usage"
        if trust.is_kid_revoked(key.kid):
            raise Revoked("the signing key has been revoked")
        check_key_usage(key, claims.certificate.kind)
        result.steps[step] = True
        step = "expiry"
        credential = to_credential(claims, key.kid)
        if trust.is_subject_revoked(credential.subject):
            raise Revoked("the holder's certificates have been revoked")
        if any(trust.is_subject_revoked(ci) for ci in certificate_ids(claims.hcert)):
            raise Revoked("this certificate (its UVCI) has been revoked")
        # The code's own dates first: "expired" tells the holder more than "key expired".
        check_code_times(claims.issued_at, claims.expires_at, at)
        check_key_validity(key, claims.issued_at, at)
        result.steps[step] = True
    except CredentialError as exc:
        result.steps[step] = False
        result.reason = exc.reason
        log.debug("HC1 refused at %s: %s (%s)", step, exc.reason, exc)
        return result
    result.ok = True
    result.credential = credential
    return result


def certificate_ids(hcert: Mapping[str, Any]) -> list[str]:
    """The unique certificate identifiers (UVCI, `ci`) of a DCC's entries: what revokes one certificate."""
    return [e["ci"] for group in ("v", "t", "r") for e in hcert.get(group) or ()
            if isinstance(e, Mapping) and isinstance(e.get("ci"), str)]


def _epoch(cwt: Mapping[Any, Any], key: int, name: str) -> dt.datetime:
    value = cwt.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadClaims(f"{name} is missing or not a number")
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadClaims(f"{name} is out of range") from exc


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)
