"""Password hashes: scrypt for people's passwords, Mosquitto's PBKDF2-SHA512 for device MQTT logins.

hashlib does both; no extra dependency. Mosquitto 2's password file format is
`user:$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-SHA512, 12-byte salt, 64-byte hash),
the same line `mosquitto_passwd -b` writes. A new password's strength is zxcvbn's estimate of the
guesses it takes (check_password_strength), the user name among the words it tries first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from protocols.errors import CheckpointError

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd's default


def hash_password(password: str) -> str:
    """A salted scrypt hash of a person's password: `scrypt$<salt hex>$<hash hex>`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


# ---- recently verified passwords ---------------------------------------------------------------
# HTTP Basic sends the password with every request and scrypt costs ~50 ms, so a worker remembers
# for a short while that a password matched. It remembers a keyed hash, never the password: HMAC
# with a random key made per process (never written anywhere) over the password AND the stored hash.
# The stored hash is read from the database on every request, so a changed password (a new salt and
# hash) misses every worker's entries at once; `forget_verified` also drops this worker's entries.
# Only matches are kept: every wrong guess still pays for scrypt, and guesses cannot fill the cache.
# Trade-off: someone who can read a worker's memory gets the key and the tags of passwords used in the
# last VERIFIED_TTL seconds and could test guesses against them at HMAC speed rather than scrypt's;
# such a reader could as well read those passwords off the request buffers while they arrive, and the
# entries (at most VERIFIED_MAX) are gone a minute later, unlike the plaintext an lru_cache kept.
VERIFIED_TTL = 60.0  # seconds a match is remembered
VERIFIED_MAX = 256
_KEY = secrets.token_bytes(32)
_verified: OrderedDict[bytes, float] = OrderedDict()  # tag -> monotonic expiry, oldest first
_lock = threading.Lock()


def _tag(password: str, stored: str) -> bytes:
    """The keyed hash a verified (password, stored hash) pair is remembered by."""
    secret = password.encode("utf-8")
    # Length-prefixed, so no (password, stored) pair can be shifted into another.
    message = len(secret).to_bytes(4, "big") + secret + stored.encode("utf-8")
    return hmac.digest(_KEY, message, "sha256")


def forget_verified() -> None:
    """Drop this worker's remembered matches (on a password change; other workers miss by the new hash)."""
    with _lock:
        _verified.clear()


def _scrypt_matches(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def verify_password(password: str, stored: str) -> bool:
    """True when password matches a stored scrypt hash (a match is remembered VERIFIED_TTL s by keyed hash only)."""
    tag, now = _tag(password, stored), time.monotonic()
    with _lock:
        expiry = _verified.get(tag)
        if expiry is not None and expiry > now:
            return True
        _verified.pop(tag, None)
    if not _scrypt_matches(password, stored):
        return False
    with _lock:
        _verified[tag] = now + VERIFIED_TTL
        while len(_verified) > VERIFIED_MAX:
            _verified.popitem(last=False)
    return True


def mosquitto_hash(password: str, iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """The `$7$...` hash Mosquitto's password_file expects for this password."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


# ---- strength of a person's new password -----------------------------------------------------

MIN_STRENGTH = 3  # zxcvbn's 0-4 scale: 3 is "safely unguessable" (about 10^8 guesses or more)
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; a longer password is at least as strong as its start


class WeakPassword(CheckpointError):
    """A new password a guesser would find soon: the bilingual reason is the message."""


def check_password_strength(password: str, user_inputs: tuple[str, ...] = ()) -> None:
    """Raise WeakPassword unless zxcvbn scores the password at least MIN_STRENGTH (the user name counts against it)."""
    # Imported here: only the commands that set a password need it, not every hub worker at start.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[u for u in user_inputs if u])
    if result["score"] >= MIN_STRENGTH:
        return
    feedback = result["feedback"]
    hints = " ".join(x for x in [feedback.get("warning") or "", *feedback.get("suggestions", [])] if x)
    raise WeakPassword(
        f"密码太弱（强度 {result['score']}/4，至少 {MIN_STRENGTH}）：请用更长、不常见的词组，不要含用户名 / "
        f"The password is too weak (strength {result['score']}/4, at least {MIN_STRENGTH} needed). {hints}".strip())
