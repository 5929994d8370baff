"""The credential the rules see, from a DCC's checked claims: pseudonymous, masked, minimal."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from protocols.credential import Credential, NucleicAcidTest
from protocols.dcc_schema import DETECTED, NAAT, NOT_DETECTED, HealthCertificate, parse_datetime

if TYPE_CHECKING:
    from protocols.dcc import DccClaims


def subject_id(certificate: HealthCertificate) -> str:
    """A stable pseudonymous id: SHA-256 hex of the standardised names and date of birth."""
    nam = certificate.nam
    material = f"HC1\x1f{nam.fnt}\x1f{nam.gnt or ''}\x1f{certificate.dob}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def masked_name(certificate: HealthCertificate) -> str:
    """The standardised surname's first letter and three stars, e.g. "M***" (never the name)."""
    name = certificate.nam.fnt or certificate.nam.gnt or ""
    return f"{name[:1]}***"


def to_credential(claims: "DccClaims", kid: bytes) -> Credential:
    """The credential the rules see, from checked claims."""
    certificate = claims.certificate
    return Credential(
        format="HC1",
        issuer=claims.issuer or "",
        kid=base64.b64encode(kid).decode("ascii"),
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        subject=subject_id(certificate),
        name=masked_name(certificate),
        test=_nucleic_acid_test(certificate),
        doses=certificate.v[0].dn if certificate.v else 0,
        extra={"hcert": claims.hcert},
    )


def _nucleic_acid_test(certificate: HealthCertificate) -> NucleicAcidTest | None:
    # The rules' `test` is a nucleic-acid (核酸) test: a rapid antigen test stays in hcert only.
    if not certificate.t or certificate.t[0].tt != NAAT:
        return None
    entry = certificate.t[0]
    result = {NOT_DETECTED: "negative", DETECTED: "positive"}.get(entry.tr)
    if result is None:
        return None
    return NucleicAcidTest(at=parse_datetime(entry.sc), result=result)
