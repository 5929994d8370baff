"""Typed errors shared by both sides, each with a stable reason code.

Inside the code these are raised; at a boundary (a denial shown to a person, an HTTP
response, a CLI line) the `reason` becomes the answer. Reason codes never change meaning.
"""

from __future__ import annotations


class CheckpointError(Exception):
    """Base of every error this project raises on purpose."""

    reason = "error"

    def __init__(self, message: str = "", *, reason: str | None = None):
        super().__init__(message or self.__doc__ or self.reason)
        if reason is not None:
            self.reason = reason


class ConfigError(CheckpointError):
    """A configuration file or value is invalid."""

    reason = "bad_config"


class CredentialError(CheckpointError):
    """A presented code cannot be accepted."""

    reason = "unreadable"


class Unreadable(CredentialError):
    """No code could be read, or the text is not a code at all."""

    reason = "unreadable"


class BadPrefix(CredentialError):
    """The code does not start with a known prefix."""

    reason = "bad_prefix"


class BadBase45(CredentialError):
    """The code's body is not valid base45."""

    reason = "bad_base45"


class BadZlib(CredentialError):
    """The decoded body is not a valid zlib stream."""

    reason = "bad_zlib"


class BadCose(CredentialError):
    """The body is not a well-formed COSE_Sign1 structure."""

    reason = "bad_cose"


class BadCbor(CredentialError):
    """The COSE payload is not valid CBOR."""

    reason = "bad_cbor"


class BadClaims(CredentialError):
    """The claims are missing or have the wrong types."""

    reason = "bad_claims"


class Oversized(CredentialError):
    """The code or one of its decoded stages is larger than any real code."""

    reason = "oversized"


class UnknownKey(CredentialError):
    """The signing key is not on the trust list."""

    reason = "unknown_key"


class BadSignature(CredentialError):
    """The signature does not verify with the key it names."""

    reason = "bad_signature"


class KeyNotAllowed(CredentialError):
    """The key is trusted but may not sign this kind of credential."""

    reason = "key_not_allowed"


class KeyExpired(CredentialError):
    """The signing key was not valid when the code was issued or checked."""

    reason = "key_expired"


class Expired(CredentialError):
    """The code has expired."""

    reason = "expired"


class NotYetValid(CredentialError):
    """The code is not valid yet."""

    reason = "not_yet_valid"


class IssuedTooLongAgo(CredentialError):
    """The code was issued too long ago: a screenshot, not a live code."""

    reason = "issued_too_long_ago"


class Revoked(CredentialError):
    """The code or its key has been revoked."""

    reason = "revoked"


class TrustListError(CheckpointError):
    """A trust list is unsigned, tampered with, or malformed."""

    reason = "bad_trust_list"


class BundleError(CheckpointError):
    """A rule bundle is unsigned, tampered with, too old or malformed."""

    reason = "bad_bundle"


class RuleError(CheckpointError):
    """A rule expression cannot be evaluated."""

    reason = "rule_error"


class DeviceError(CheckpointError):
    """A device is unplugged, silent or talking nonsense."""

    reason = "device_error"


class BadReading(DeviceError):
    """A device sent a message that is not a valid reading."""

    reason = "bad_reading"


class BadFrame(DeviceError):
    """A camera frame is not an image: wrong type, dtype, shape, or empty."""

    reason = "bad_frame"


class DecoderUnavailable(CheckpointError):
    """A QR decoder library (or its system library) is not installed."""

    reason = "decoder_unavailable"
