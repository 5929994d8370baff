"""Password hashes: scrypt for people's passwords, Mosquitto's PBKDF2-SHA512 for device MQTT logins.

hashlib does both; no extra dependency. Mosquitto 2's password file format is
`user:$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-SHA512, 12-byte salt, 64-byte hash),
the same line `mosquitto_passwd -b` writes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd's default


def hash_password(password: str) -> str:
    """A salted scrypt hash of a person's password: `scrypt$<salt hex>$<hash hex>`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


@functools.lru_cache(maxsize=256)
def verify_password(password: str, stored: str) -> bool:
    """True when password matches a stored scrypt hash (cached: a console session checks it often)."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def mosquitto_hash(password: str, iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """The `$7$...` hash Mosquitto's password_file expects for this password."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
