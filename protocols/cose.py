"""COSE_Sign1 (RFC 9052) over cbor2 and cryptography.

No maintained Python package fits here: pycose's last release is from 2023 and it refuses some
structures the EU test data carries (CWT tag 61 around tag 18, kid only in the unprotected
header). COSE_Sign1 itself is four CBOR items and one Sig_structure, so it is written here on
top of cbor2 (the codec) and cryptography (the maths); no codec is hand-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from protocols.errors import BadCbor, BadCose, BadSignature

HDR_ALG = 1
HDR_KID = 4
TAG_SIGN1 = 18
TAG_CWT = 61

ES256, ES384, ES512, EDDSA, PS256 = -7, -35, -36, -8, -37
_EC_HASH = {ES256: (hashes.SHA256(), 32), ES384: (hashes.SHA384(), 48), ES512: (hashes.SHA512(), 66)}

PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey]

# What cbor2 raises on hostile input besides its own error class.
CBOR_ERRORS = (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, IndexError, KeyError, MemoryError)


def loads_cbor(data: bytes, error: type[Exception] = BadCbor) -> Any:
    """Decode CBOR, turning every failure into one typed error."""
    try:
        return cbor2.loads(data)
    except CBOR_ERRORS as exc:
        raise error(f"invalid CBOR: {exc}") from exc


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1 message."""

    protected_bytes: bytes
    protected: dict
    unprotected: dict
    payload: bytes
    signature: bytes

    @property
    def alg(self) -> int | None:
        """The algorithm id, from the protected header (RFC 9052 wants it there)."""
        return self.protected.get(HDR_ALG, self.unprotected.get(HDR_ALG))

    @property
    def kid(self) -> bytes | None:
        """The key id, protected header first, then unprotected."""
        kid = self.protected.get(HDR_KID, self.unprotected.get(HDR_KID))
        return kid if isinstance(kid, bytes) else None

    def to_be_signed(self) -> bytes:
        """The Sig_structure bytes the signature covers."""
        return sig_structure(self.protected_bytes, self.payload)


def sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    """Build the COSE Sig_structure for a Sign1 with no external data."""
    return cbor2.dumps(["Signature1", protected_bytes, b"", payload])


def decode_sign1(data: bytes) -> Sign1:
    """Parse COSE_Sign1 bytes (tagged 18, tagged 61+18, or untagged) or raise BadCose."""
    obj = loads_cbor(data, BadCose)
    while isinstance(obj, cbor2.CBORTag):
        if obj.tag not in (TAG_SIGN1, TAG_CWT):
            raise BadCose(f"unexpected CBOR tag {obj.tag}")
        obj = obj.value
    if not (isinstance(obj, (list, tuple)) and len(obj) == 4):
        raise BadCose("COSE_Sign1 must be an array of four items")
    protected_bytes, unprotected, payload, signature = obj
    if not isinstance(protected_bytes, bytes) or not isinstance(unprotected, Mapping):
        raise BadCose("COSE_Sign1 headers have the wrong types")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise BadCose("COSE_Sign1 payload or signature is not a byte string")
    protected = loads_cbor(protected_bytes, BadCose) if protected_bytes else {}
    if not isinstance(protected, Mapping):
        raise BadCose("protected header is not a map")
    # cbor2 6 returns frozendicts/tuples inside tags: keep plain dicts from here on.
    return Sign1(protected_bytes, dict(protected), dict(unprotected), payload, signature)


def alg_for_key(key: PrivateKey | PublicKey) -> int:
    """The COSE algorithm a key of this type signs with."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return EDDSA
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return {256: ES256, 384: ES384, 521: ES512}[key.curve.key_size]
    if isinstance(key, rsa.RSAPublicKey):
        return PS256
    raise TypeError(f"unsupported key type {type(key).__name__}")


def sign1(payload: bytes, key: PrivateKey, kid: bytes) -> bytes:
    """Sign payload into a tagged COSE_Sign1 with alg and kid in the protected header."""
    alg = alg_for_key(key)
    protected_bytes = cbor2.dumps({HDR_ALG: alg, HDR_KID: kid})
    tbs = sig_structure(protected_bytes, payload)
    if alg == EDDSA:
        signature = key.sign(tbs)
    else:
        hash_alg, size = _EC_HASH[alg]
        r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hash_alg)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return cbor2.dumps(cbor2.CBORTag(TAG_SIGN1, [protected_bytes, {}, payload, signature]))


def verify_sign1(msg: Sign1, key: PublicKey) -> None:
    """Check msg's signature with key or raise BadSignature."""
    alg = msg.alg
    tbs = msg.to_be_signed()
    try:
        if alg == EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(msg.signature, tbs)
        elif alg in _EC_HASH and isinstance(key, ec.EllipticCurvePublicKey):
            hash_alg, size = _EC_HASH[alg]
            if len(msg.signature) != 2 * size:
                raise BadSignature("ECDSA signature has the wrong length (COSE wants r||s, not DER)")
            r = int.from_bytes(msg.signature[:size], "big")
            s = int.from_bytes(msg.signature[size:], "big")
            key.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hash_alg))
        elif alg == PS256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(
                msg.signature,
                tbs,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        else:
            raise BadSignature(f"algorithm {alg} does not match the {type(key).__name__} key")
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc
