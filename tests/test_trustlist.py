"""Keys, root-signed documents and trust lists: real keys, real files."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import stat

import pytest

from protocols.errors import BundleError, ConfigError, TrustListError
from protocols.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    public_key_b64,
    public_key_from_b64,
    public_key_pem,
    save_private_key,
    save_public_key,
    spki_der,
)
from protocols.signed import canonical_json, sign_document, verify_document
from protocols.trustlist import TrustedKey, TrustList, subject_revocation_hash
from demo.samples import NOW
from tests.helpers_codes import make_issuer


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_private_key_round_trips_through_a_0600_pem_file(tmp_path, alg):
    key = generate_private_key(alg)
    path = save_private_key(key, tmp_path / "k.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert spki_der(loaded) == spki_der(key)
    assert key_id(load_public_key(path)) == key_id(key)


def test_public_key_loads_from_file_pem_text_and_base64(tmp_path):
    key = generate_private_key()
    pub = save_public_key(key, tmp_path / "pub.pem")
    assert spki_der(load_public_key(pub)) == spki_der(key)
    assert spki_der(load_public_key(public_key_pem(key).decode())) == spki_der(key)
    assert spki_der(public_key_from_b64(public_key_b64(key))) == spki_der(key)


def test_key_id_is_the_first_eight_bytes_of_sha256_of_spki():
    import hashlib

    key = generate_private_key("EdDSA")
    assert key_id(key.public_key()) == hashlib.sha256(spki_der(key)).digest()[:8]
    assert len(key_id(key)) == 8


def test_bad_key_material_gives_config_errors(tmp_path):
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError):
        load_private_key(tmp_path / "junk.pem")
    with pytest.raises(ConfigError):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "junk.pem")
    with pytest.raises(ConfigError):
        public_key_from_b64("!!!")
    with pytest.raises(ConfigError):
        generate_private_key("RS256")  # type: ignore[arg-type]


def test_canonical_json_is_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": "中"}) == '{"a":"中","b":1}'.encode("utf-8")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_signed_document_round_trips_and_survives_json(alg):
    root = generate_private_key(alg)
    doc = json.loads(json.dumps(sign_document({"x": [1, 2], "名": "值"}, root), indent=3))
    assert verify_document(doc, root.public_key()) == {"x": [1, 2], "名": "值"}


def _bad_docs(doc: dict) -> list:
    unsigned = {"body": doc["body"]}
    tampered = copy.deepcopy(doc)
    tampered["body"]["x"] = 99
    bad_sig = copy.deepcopy(doc)
    bad_sig["signature"]["value"] = bad_sig["signature"]["value"][::-1]
    not_b64 = copy.deepcopy(doc)
    not_b64["signature"]["value"] = "***"
    wrong_alg = copy.deepcopy(doc)
    wrong_alg["signature"]["alg"] = "EdDSA"
    return [unsigned, tampered, bad_sig, not_b64, wrong_alg, [], "doc", {"body": 1, "signature": {}}, {"body": {}, "signature": {"alg": 1}}]


def test_unsigned_tampered_or_malformed_documents_raise_the_given_error():
    root = generate_private_key("ES256")
    doc = sign_document({"x": 1}, root)
    for bad in _bad_docs(doc):
        with pytest.raises(TrustListError):
            verify_document(bad, root.public_key())
        with pytest.raises(BundleError):
            verify_document(bad, root.public_key(), error=BundleError)


def test_document_signed_by_another_root_is_refused():
    doc = sign_document({"x": 1}, generate_private_key())
    with pytest.raises(TrustListError):
        verify_document(doc, generate_private_key().public_key())


def _sample_list() -> TrustList:
    _, hp = make_issuer("ES256", not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=365))
    _, dcc = make_issuer("EdDSA", issuer="DE", may_sign=("HC1.v", "HC1.t", "HC1.r"))
    return TrustList([hp, dcc], revoked_kids=[b"\x01" * 8], revoked_subjects=[subject_revocation_hash("s-9")])


def test_trust_list_round_trips_through_a_signed_document():
    root = generate_private_key()
    trust = _sample_list()
    again = TrustList.from_document(json.loads(json.dumps(trust.to_document(root))), root.public_key())
    assert [(k.kid, k.issuer, k.not_before, k.not_after, k.may_sign) for k in again.keys] == [
        (k.kid, k.issuer, k.not_before, k.not_after, k.may_sign) for k in trust.keys
    ]
    assert again.lookup(trust.keys[0].kid)[0].issuer == "CN-VENUE"
    assert again.lookup(b"nope") == [] and again.lookup(None) == []
    assert again.is_kid_revoked(b"\x01" * 8) and not again.is_kid_revoked(trust.keys[0].kid)
    assert again.is_subject_revoked("s-9") and not again.is_subject_revoked("s-8")


def test_single_key_list():
    _, key = make_issuer()
    assert TrustList.single(key).lookup(key.kid) == [key]


def test_trusted_key_validity_window():
    _, key = make_issuer(not_before=NOW, not_after=NOW + dt.timedelta(days=1))
    assert key.valid_at(NOW) and key.valid_at(NOW + dt.timedelta(days=1))
    assert not key.valid_at(NOW - dt.timedelta(seconds=1)) and not key.valid_at(NOW + dt.timedelta(days=2))


def test_load_uses_root_pub_beside_the_list(tmp_path):
    root = generate_private_key()
    _sample_list().save(tmp_path / "trust-list.json", root)
    save_public_key(root, tmp_path / "root-pub.pem")
    assert len(TrustList.load(tmp_path / "trust-list.json")) == 2
    assert len(TrustList.load(tmp_path / "trust-list.json", tmp_path / "root-pub.pem")) == 2
    assert len(TrustList.load(tmp_path / "trust-list.json", root.public_key())) == 2


def test_load_refuses_an_unanchored_list(tmp_path):
    _sample_list().save(tmp_path / "trust-list.json", generate_private_key())
    with pytest.raises(TrustListError, match="anchor"):
        TrustList.load(tmp_path / "trust-list.json")


def test_load_refuses_a_list_signed_by_another_root(tmp_path):
    _sample_list().save(tmp_path / "trust-list.json", generate_private_key())
    save_public_key(generate_private_key(), tmp_path / "root-pub.pem")
    with pytest.raises(TrustListError):
        TrustList.load(tmp_path / "trust-list.json")


def test_load_refuses_a_list_with_a_key_added_after_signing(tmp_path):
    root = generate_private_key()
    path = _sample_list().save(tmp_path / "trust-list.json", root)
    doc = json.loads(path.read_text())
    _, intruder = make_issuer()
    doc["body"]["keys"].append(intruder.to_json())
    path.write_text(json.dumps(doc))
    with pytest.raises(TrustListError):
        TrustList.load(path, root.public_key())


@pytest.mark.parametrize(
    "body_patch",
    [
        {"type": "rule-bundle"},
        {"keys": "all"},
        {"keys": [{"kid": "AAAAAAAAAAA=", "issuer": "x", "public_key": "bad", "may_sign": ["HP1"]}]},
        {"keys": [{"kid": "AAAAAAAAAAA=", "issuer": "x", "public_key": None, "may_sign": ["HP1"]}]},
        {"revoked": [{"what": "?"}]},
        {"revoked": "everything"},
        {"issued_at": "yesterday"},
    ],
)
def test_malformed_but_signed_bodies_are_refused(body_patch):
    root = generate_private_key()
    body = _sample_list().to_body(NOW)
    body.update(body_patch)
    with pytest.raises(TrustListError):
        TrustList.from_document(sign_document(body, root), root.public_key())


def test_unknown_key_usage_is_refused():
    root = generate_private_key()
    body = _sample_list().to_body(NOW)
    body["keys"][0]["may_sign"] = ["HP1", "everything"]
    with pytest.raises(TrustListError, match="usages"):
        TrustList.from_document(sign_document(body, root), root.public_key())


def test_unreadable_or_non_json_list_files(tmp_path):
    root = generate_private_key()
    with pytest.raises(TrustListError):
        TrustList.load(tmp_path / "missing.json", root.public_key())
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TrustListError):
        TrustList.load(tmp_path / "bad.json", root.public_key())
    _sample_list().save(tmp_path / "ok.json", root)
    (tmp_path / "junk-root.pem").write_text("junk")
    with pytest.raises(TrustListError):
        TrustList.load(tmp_path / "ok.json", tmp_path / "junk-root.pem")


def test_trusted_key_from_public_key_computes_kid():
    key = generate_private_key("EdDSA")
    trusted = TrustedKey.from_public_key(key.public_key(), "CN-VENUE")
    assert trusted.kid == key_id(key) and trusted.may_sign == frozenset({"HP1"})


def test_naive_key_validity_times_are_taken_as_utc():
    _, key = make_issuer(not_after=dt.datetime(2030, 1, 1))
    assert key.not_after == dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert key.valid_at(NOW)
