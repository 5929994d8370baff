"""EU DCC document signer certificates (DSC): a trusted key from an X.509 certificate.

The EU DCC names a signing key by the first 8 bytes of the SHA-256 of its certificate's DER
(not of the public key, as our own health passes do), and a DSC's extended key usage says which
kinds of certificate (vaccination, test, recovery) it may sign.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from protocols.errors import ConfigError
from protocols.trustlist import TrustedKey

log = logging.getLogger(__name__)

# Extended key usage OIDs of the EU DCC trust framework, per certificate kind. The ".0." variants
# are what several member states actually issued (an early typo that stayed valid).
USAGE_OIDS: dict[str, frozenset[str]] = {
    "HC1.t": frozenset({"1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"}),
    "HC1.v": frozenset({"1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"}),
    "HC1.r": frozenset({"1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"}),
}
ALL_DCC_USAGES = frozenset(USAGE_OIDS)


def load_certificate(cert: bytes | str) -> x509.Certificate:
    """Parse a certificate given as DER, PEM, or base64 of DER, or raise ConfigError."""
    data = cert.encode("ascii", "replace") if isinstance(cert, str) else bytes(cert)
    stripped = data.strip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(stripped)
        if stripped[:1] == b"\x30":  # a DER SEQUENCE, never a base64 character
            return x509.load_der_x509_certificate(stripped)
        der = base64.b64decode(b"".join(stripped.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ConfigError(f"not an X.509 certificate (DER, PEM or base64 DER): {exc}") from exc


def extended_key_usages(cert: x509.Certificate) -> frozenset[str] | None:
    """The certificate's extended key usage OIDs, or None when it has no (readable) EKU extension."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        # cryptography parses extensions lazily and strictly: some real DSCs carry an extension
        # it rejects (e.g. a malformed or duplicated one). The signature check does not depend on
        # it, so such a certificate is treated as having no EKU, which the DCC reads as "any kind".
        log.warning("DSC %s: extensions unreadable (%s); treating as no extended key usage", cert.subject.rfc4514_string(), exc)
        return None
    return frozenset(oid.dotted_string for oid in eku)


def usages_from_eku(oids: frozenset[str] | None) -> frozenset[str]:
    """Which DCC kinds a DSC may sign: none listed in its EKU -> by the EKU; no EKU at all -> every kind."""
    if oids is None:
        return ALL_DCC_USAGES
    # The EU test data (dgc-testdata IS/3) expects a DSC whose EKU lists only foreign OIDs to be
    # refused: an EKU extension restricts the key to exactly the DCC kinds it names.
    return frozenset(usage for usage, allowed in USAGE_OIDS.items() if oids & allowed)


def dsc_kid(cert: x509.Certificate) -> bytes:
    """The EU DCC key id: the first 8 bytes of SHA-256 over the certificate's DER."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()[:8]


def trusted_key_from_dsc(cert: bytes | str, issuer: str | None = None) -> TrustedKey:
    """A TrustedKey from a DSC (DER, PEM or base64 DER): kid, key, validity and DCC usages."""
    certificate = load_certificate(cert)
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"DSC public key is unreadable: {exc}") from exc
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ConfigError(f"DSC key type {type(public_key).__name__} cannot sign a DCC")
    return TrustedKey(
        kid=dsc_kid(certificate),
        issuer=issuer if issuer is not None else _country(certificate),
        public_key=public_key,
        not_before=_utc(certificate.not_valid_before_utc),
        not_after=_utc(certificate.not_valid_after_utc),
        may_sign=usages_from_eku(extended_key_usages(certificate)),
    )


def _country(cert: x509.Certificate) -> str:
    """The subject's country (C=) or, failing that, the whole subject: the issuer a DSC names."""
    try:
        countries = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        if countries:
            return str(countries[0].value)
        return cert.subject.rfc4514_string()
    except ValueError:
        return ""


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)
