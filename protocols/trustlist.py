"""Trust lists: which keys may sign which codes, anchored in the hub root key.

A trust list travels as a signed document (`protocols.signed`) whose body is:

    {"type": "checkpoint-trust-list", "version": 1, "issued_at": "2026-11-29T02:00:00Z",
     "keys": [{"kid": b64, "issuer": str, "public_key": b64 SPKI DER,
               "not_before": iso|null, "not_after": iso|null, "may_sign": ["HP1", ...]}],
     "revoked": [{"kid": b64} | {"subject_sha256": hex}]}

The root public key is the anchor and is configured apart from the list: a list is only ever
believed after its signature verifies with that key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.clock import utc_now, utc_seconds
from protocols.cose import PrivateKey, PublicKey, Sign1, verify_sign1
from protocols.errors import BadSignature, ConfigError, TrustListError, UnknownKey
from protocols.keys import key_id, load_public_key, public_key_b64, public_key_from_b64
from protocols.signed import sign_document, verify_document

log = logging.getLogger(__name__)

DOCUMENT_TYPE = "checkpoint-trust-list"
# What a key may sign: the venue's health pass, and the EU DCC's vaccination/test/recovery kinds.
USAGES = frozenset({"HP1", "HC1.v", "HC1.t", "HC1.r"})
ROOT_PUB_FILENAME = "root-pub.pem"


def subject_revocation_hash(subject: str) -> str:
    """The unkeyed SHA-256 hex of a subject id, the form a trust list revokes subjects by."""
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrustedKey:
    """A key on the trust list: who it is, when it is valid and what it may sign."""

    kid: bytes
    issuer: str
    public_key: PublicKey = field(compare=False)
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    may_sign: frozenset[str] = frozenset({"HP1"})

    def __post_init__(self) -> None:
        # Naive validity times are taken as UTC so comparisons with aware check times never raise.
        for name in ("not_before", "not_after"):
            t = getattr(self, name)
            if t is not None and t.tzinfo is None:
                object.__setattr__(self, name, t.replace(tzinfo=dt.timezone.utc))
        object.__setattr__(self, "may_sign", frozenset(self.may_sign))

    @classmethod
    def from_public_key(
        cls,
        public_key: PublicKey,
        issuer: str,
        may_sign: Iterable[str] = ("HP1",),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> "TrustedKey":
        """A trusted key whose kid is computed from the public key."""
        return cls(key_id(public_key), issuer, public_key, not_before, not_after, frozenset(may_sign))

    def valid_at(self, at: dt.datetime) -> bool:
        """True when `at` lies inside the key's validity window."""
        if self.not_before is not None and at < self.not_before:
            return False
        return self.not_after is None or at <= self.not_after

    def to_json(self) -> dict[str, Any]:
        """The key as a trust list entry."""
        return {
            "kid": base64.b64encode(self.kid).decode("ascii"),
            "issuer": self.issuer,
            "public_key": public_key_b64(self.public_key),
            "not_before": utc_seconds(self.not_before),
            "not_after": utc_seconds(self.not_after),
            "may_sign": sorted(self.may_sign),
        }

    @classmethod
    def from_json(cls, entry: Any) -> "TrustedKey":
        """Parse one trust list entry or raise TrustListError."""
        if not isinstance(entry, Mapping):
            raise TrustListError("trust list key entry is not an object")
        try:
            kid = base64.b64decode(_str(entry, "kid"), validate=True)
            public_key = public_key_from_b64(_str(entry, "public_key"))
        except (binascii.Error, ValueError, ConfigError) as exc:
            raise TrustListError(f"trust list key has a bad kid or public key: {exc}") from exc
        may_sign = entry.get("may_sign")
        if not isinstance(may_sign, list) or not all(isinstance(u, str) for u in may_sign):
            raise TrustListError("trust list key: may_sign must be a list of strings")
        unknown = set(may_sign) - USAGES
        if unknown:
            raise TrustListError(f"trust list key: unknown usages {sorted(unknown)}")
        return cls(
            kid=kid,
            issuer=_str(entry, "issuer"),
            public_key=public_key,
            not_before=_time(entry.get("not_before")),
            not_after=_time(entry.get("not_after")),
            may_sign=frozenset(may_sign),
        )


class TrustList:
    """The keys a gate trusts, and what the hub has revoked."""

    def __init__(
        self,
        keys: Iterable[TrustedKey] = (),
        revoked_kids: Iterable[bytes] = (),
        revoked_subjects: Iterable[str] = (),
        issued_at: dt.datetime | None = None,
    ):
        self.keys: list[TrustedKey] = list(keys)
        self.revoked_kids: frozenset[bytes] = frozenset(revoked_kids)
        self.revoked_subjects: frozenset[str] = frozenset(revoked_subjects)
        self.issued_at = issued_at
        self._by_kid: dict[bytes, list[TrustedKey]] = {}
        for key in self.keys:
            self._by_kid.setdefault(key.kid, []).append(key)

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, kid: bytes | None) -> list[TrustedKey]:
        """Every trusted key with this kid (kids can collide, so there may be several)."""
        return list(self._by_kid.get(kid, [])) if kid is not None else []

    def is_kid_revoked(self, kid: bytes | None) -> bool:
        """True when the hub revoked this signing key."""
        return kid is not None and kid in self.revoked_kids

    def is_subject_revoked(self, subject: str) -> bool:
        """True when the hub revoked every code of this subject."""
        return subject_revocation_hash(subject) in self.revoked_subjects

    @classmethod
    def single(cls, key: TrustedKey) -> "TrustList":
        """A trust list of one key (for `inspect --dsc` and tests)."""
        return cls([key])

    def to_body(self, issued_at: dt.datetime | None = None) -> dict[str, Any]:
        """The unsigned body of this list."""
        issued = issued_at or self.issued_at or utc_now()
        revoked = [{"kid": base64.b64encode(k).decode("ascii")} for k in sorted(self.revoked_kids)]
        revoked += [{"subject_sha256": h} for h in sorted(self.revoked_subjects)]
        return {
            "type": DOCUMENT_TYPE,
            "version": 1,
            "issued_at": utc_seconds(issued),
            "keys": [k.to_json() for k in self.keys],
            "revoked": revoked,
        }

    def to_document(self, root_key: PrivateKey, issued_at: dt.datetime | None = None) -> dict[str, Any]:
        """The list as a document signed by the hub root key."""
        return sign_document(self.to_body(issued_at), root_key)

    def save(self, path: str | os.PathLike[str], root_key: PrivateKey) -> Path:
        """Write the signed list as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_document(root_key), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_document(cls, doc: Any, root_public_key: PublicKey) -> "TrustList":
        """Verify the document's root signature and parse its body, or raise TrustListError."""
        body = verify_document(doc, root_public_key, TrustListError)
        if body.get("type") != DOCUMENT_TYPE:
            raise TrustListError(f"document type is {body.get('type')!r}, not {DOCUMENT_TYPE}")
        keys = body.get("keys")
        if not isinstance(keys, list):
            raise TrustListError("trust list has no keys list")
        revoked = body.get("revoked", [])
        if not isinstance(revoked, list):
            raise TrustListError("trust list revoked must be a list")
        kids: list[bytes] = []
        subjects: list[str] = []
        for item in revoked:
            if isinstance(item, Mapping) and isinstance(item.get("kid"), str):
                try:
                    kids.append(base64.b64decode(item["kid"], validate=True))
                except (binascii.Error, ValueError) as exc:
                    raise TrustListError("revoked kid is not base64") from exc
            elif isinstance(item, Mapping) and isinstance(item.get("subject_sha256"), str):
                subjects.append(item["subject_sha256"].lower())
            else:
                raise TrustListError("revoked entries carry a kid or a subject_sha256")
        return cls(
            [TrustedKey.from_json(e) for e in keys],
            kids,
            subjects,
            _time(body.get("issued_at")),
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        root_public_key: PublicKey | str | os.PathLike[str] | None = None,
    ) -> "TrustList":
        """Load a signed list; without a root key, use root-pub.pem beside it or refuse."""
        path = Path(path)
        if root_public_key is None:
            anchor = path.parent / ROOT_PUB_FILENAME
            if not anchor.is_file():
                raise TrustListError(
                    f"trust list {path} has no anchor: pass the root public key or put {ROOT_PUB_FILENAME} beside it"
                )
            root_public_key = anchor
        if not hasattr(root_public_key, "verify"):
            try:
                root_public_key = load_public_key(root_public_key)
            except ConfigError as exc:
                raise TrustListError(f"root public key: {exc}") from exc
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TrustListError(f"cannot read trust list {path}: {exc.strerror}") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise TrustListError(f"trust list {path} is not JSON: {exc}") from exc
        trust = cls.from_document(doc, root_public_key)
        log.info("loaded trust list %s: %d keys, %d revoked", path, len(trust), len(trust.revoked_kids) + len(trust.revoked_subjects))
        return trust


def signing_key(msg: Sign1, trust: TrustList) -> TrustedKey:
    """The trusted key whose signature msg carries (several keys may share a kid), or raise."""
    if msg.kid is None:
        raise UnknownKey("no kid in the COSE headers")
    candidates = trust.lookup(msg.kid)
    if not candidates:
        raise UnknownKey(f"kid {msg.kid.hex()} is not on the trust list")
    for candidate in candidates:
        try:
            verify_sign1(msg, candidate.public_key)
        except BadSignature:
            continue
        return candidate
    raise BadSignature("signature does not verify with any trusted key of that kid")


def _str(entry: Mapping, name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise TrustListError(f"trust list key: {name} must be a string")
    return value


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TrustListError("trust list times must be ISO 8601 strings")
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise TrustListError(f"bad time {value!r}") from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)

