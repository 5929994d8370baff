"""Signing keys: generate, save and load them as PEM, and name them the way the EU DCC does.

Issuer keys sign health passes; the hub root key signs trust lists and rule bundles. Keys are
ECDSA P-256 (COSE ES256) or Ed25519 (COSE EdDSA), both handled by `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from protocols.cose import PrivateKey, PublicKey
from protocols.errors import ConfigError

log = logging.getLogger(__name__)

Alg = Literal["ES256", "EdDSA"]
ALGS: tuple[str, ...] = ("ES256", "EdDSA")


def generate_private_key(alg: Alg = "ES256") -> PrivateKey:
    """Generate a new private key for ES256 (P-256) or EdDSA (Ed25519)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"unknown key algorithm {alg!r}; use one of {', '.join(ALGS)}")


def private_key_pem(key: PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PublicKey | PrivateKey) -> bytes:
    """The public key (of a public or private key) as SubjectPublicKeyInfo PEM."""
    public = _public(key)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def save_private_key(key: PrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write the key as unencrypted PKCS#8 PEM, readable by the owner only (mode 0600)."""
    path = Path(path)
    # Create with 0600 from the start so the key is never briefly world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key))
    os.chmod(path, 0o600)
    return path


def save_public_key(key: PublicKey | PrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write the public key as SPKI PEM."""
    path = Path(path)
    path.write_bytes(public_key_pem(key))
    return path


def load_private_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Load an unencrypted PEM private key (ES256 or EdDSA) or raise ConfigError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ConfigError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def load_public_key(path_or_pem: str | bytes | os.PathLike[str]) -> PublicKey:
    """Load a public key from a PEM file path or PEM text (a private key PEM gives its public half)."""
    if isinstance(path_or_pem, bytes):
        data = path_or_pem
    elif isinstance(path_or_pem, str) and "-----BEGIN" in path_or_pem:
        data = path_or_pem.encode("ascii", "replace")
    else:
        try:
            data = Path(path_or_pem).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read public key {path_or_pem}: {exc.strerror}") from exc
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    try:
        return _public(serialization.load_pem_private_key(data, password=None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError("not a PEM public key") from exc


def spki_der(key: PublicKey | PrivateKey) -> bytes:
    """The SubjectPublicKeyInfo DER bytes of a key's public half."""
    return _public(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_b64(key: PublicKey | PrivateKey) -> str:
    """The public key as base64 of its SPKI DER (the form trust lists carry)."""
    return base64.b64encode(spki_der(key)).decode("ascii")


def public_key_from_b64(s: str) -> PublicKey:
    """Parse a base64 SPKI DER public key or raise ConfigError."""
    try:
        der = base64.b64decode(s, validate=True)
        return serialization.load_der_public_key(der)
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError("not a base64 SPKI DER public key") from exc


def key_id(public_key: PublicKey | PrivateKey) -> bytes:
    """The key id: first 8 bytes of SHA-256 over the SPKI DER (the EU DCC takes it over the DSC)."""
    return hashlib.sha256(spki_der(public_key)).digest()[:8]


def _public(key: PublicKey | PrivateKey) -> PublicKey:
    return key.public_key() if hasattr(key, "private_bytes") else key
