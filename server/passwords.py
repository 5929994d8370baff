"""Password hashes: scrypt for people's passwords, Mosquitto's PBKDF2-SHA512 for device MQTT logins.

hashlib does both; no extra dependency. Mosquitto 2's password file format is
`user:$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-SHA512, 12-byte salt, 64-byte hash),
the same line `mosquitto_passwd -b` writes. A new password's strength is zxcvbn's estimate of the
guesses it takes (check_password_strength), the user name among the words it tries first.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from protocols.errors import CheckpointError

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
