"""Shared helpers for tests that need real keys, trust lists and HP1 codes (import freely)."""

from __future__ import annotations

import datetime as dt
import zlib
from pathlib import Path
from typing import Any

import base45
import cbor2

from demo.samples import ISSUER, make_claims
from protocols.cose import PrivateKey, sign1
from protocols.healthpass import PREFIX, mint
from protocols.keys import generate_private_key, key_id, save_private_key, save_public_key
from protocols.trustlist import TrustedKey, TrustList


def make_issuer(
    alg: str = "ES256",
    issuer: str = ISSUER,
    may_sign: tuple[str, ...] = ("HP1",),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[PrivateKey, TrustedKey]:
    """A fresh issuer key and its trust list entry."""
    key = generate_private_key(alg)  # type: ignore[arg-type]
    return key, TrustedKey.from_public_key(key.public_key(), issuer, may_sign, not_before, not_after)


def make_trust(*keys: TrustedKey, revoked_kids: tuple[bytes, ...] = (), revoked_subjects: tuple[str, ...] = ()) -> TrustList:
    """A trust list of these keys and revocations."""
    return TrustList(keys, revoked_kids, revoked_subjects)


def mint_pass(key: PrivateKey, kid: bytes | None = None, **overrides: Any) -> str:
    """Mint a pass (make_claims defaults plus overrides) with key."""
    return mint(make_claims(**overrides), key, kid)


def wrap_compressed(data: bytes) -> str:
    """HP1 text around already-compressed bytes."""
    return PREFIX + base45.b45encode(data).decode("ascii")


def wrap_cose(cose: bytes) -> str:
    """HP1 text around COSE bytes (compress, base45, prefix)."""
    return wrap_compressed(zlib.compress(cose))


def sign_payload(payload: Any, key: PrivateKey, kid: bytes | None = None) -> str:
    """HP1 text whose COSE payload is `payload` (bytes as-is, anything else CBOR-encoded), properly signed."""
    data = payload if isinstance(payload, bytes) else cbor2.dumps(payload)
    return wrap_cose(sign1(data, key, kid if kid is not None else key_id(key.public_key())))


def write_keydir(directory: Path, alg: str = "ES256") -> tuple[PrivateKey, PrivateKey]:
    """Write issuer-key.pem, root-key.pem, root-pub.pem and trust-list.json like `codes keygen`."""
    directory.mkdir(parents=True, exist_ok=True)
    issuer_key, trusted = make_issuer(alg)
    root_key = generate_private_key(alg)  # type: ignore[arg-type]
    save_private_key(issuer_key, directory / "issuer-key.pem")
    save_private_key(root_key, directory / "root-key.pem")
    save_public_key(root_key, directory / "root-pub.pem")
    TrustList([trusted]).save(directory / "trust-list.json", root_key)
    return issuer_key, root_key
