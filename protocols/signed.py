"""Documents signed by the hub root key: trust lists now, rule bundles too.

A signed document is plain JSON: `{"body": {...}, "signature": {"alg", "kid", "value"}}`. The
signature covers the canonical serialization of `body` (keys sorted, compact separators, UTF-8,
no ASCII escaping), so any JSON library that re-serializes the body the same way can check it.
ES256 signatures are raw r||s (as in JWS and COSE), base64; EdDSA signatures are base64 too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from protocols.cose import PrivateKey, PublicKey
from protocols.errors import CheckpointError, TrustListError
from protocols.keys import key_id

log = logging.getLogger(__name__)

# A root document larger than this is not a trust list or a bundle: refuse before parsing.
MAX_BODY_BYTES = 8 * 1024 * 1024


def canonical_json(body: Any) -> bytes:
    """The exact bytes a document signature covers."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def document_version(doc: dict) -> str:
    """A short stable version of a signed document: hex SHA-256 of its canonical body, 16 chars."""
    return hashlib.sha256(canonical_json(doc["body"])).hexdigest()[:16]


def _alg_name(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "EdDSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and key.curve.key_size == 256:
        return "ES256"
    raise TypeError(f"unsupported document signing key {type(key).__name__}")


def sign_document(body: dict, key: PrivateKey) -> dict:
    """Sign body with key: returns {"body": body, "signature": {"alg", "kid", "value"}}."""
    alg = _alg_name(key)
    data = canonical_json(body)
    if alg == "EdDSA":
        raw = key.sign(data)
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "body": body,
        "signature": {
            "alg": alg,
            "kid": base64.b64encode(key_id(key.public_key())).decode("ascii"),
            "value": base64.b64encode(raw).decode("ascii"),
        },
    }


def verify_document(doc: Any, public_key: PublicKey, error: type[CheckpointError] = TrustListError) -> dict:
    """Return the body of doc if public_key signed it, else raise `error` (unsigned, tampered, malformed)."""
    if not isinstance(doc, Mapping):
        raise error("signed document is not a JSON object")
    body, sig = doc.get("body"), doc.get("signature")
    if not isinstance(body, Mapping):
        raise error("signed document has no body object")
    if not isinstance(sig, Mapping):
        raise error("document is not signed")
    alg, kid, value = sig.get("alg"), sig.get("kid"), sig.get("value")
    if not all(isinstance(v, str) for v in (alg, kid, value)):
        raise error("signature must carry alg, kid and value strings")
    try:
        expected_alg = _alg_name(public_key)
    except TypeError as exc:
        raise error(str(exc)) from exc
    if alg != expected_alg:
        raise error(f"signature algorithm {alg} does not match the {expected_alg} root key")
    try:
        raw = base64.b64decode(value, validate=True)
        kid_bytes = base64.b64decode(kid, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise error("signature kid or value is not base64") from exc
    if kid_bytes != key_id(public_key):
        raise error("document was signed by another key than the configured root key")
    try:
        data = canonical_json(body)
    except (TypeError, ValueError) as exc:
        raise error(f"document body is not canonical JSON: {exc}") from exc
    if len(data) > MAX_BODY_BYTES:
        raise error("document body is too large")
    try:
        if alg == "EdDSA":
            public_key.verify(raw, data)
        else:
            if len(raw) != 64:
                raise error("ES256 signature must be 64 bytes (r||s)")
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise error("document signature does not verify: tampered or signed by another key") from exc
    return dict(body)
