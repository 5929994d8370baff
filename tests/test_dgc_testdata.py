"""The EU dgc-testdata corpus: every EXPECTED* key of every file, run as the step it names.

One test per (file, key): the step's success must equal the file's boolean. The only expected
failures are the rows of upstream's own `known_issues.csv` (tests/data/, copied verbatim; a
known issue that passes here is reported as XPASS, not hidden) and of our `corpus_errata.csv`:
cases where the file itself contradicts its own signed code or expects a value-set check the
corpus cannot support. Errata are strict xfails (fixed upstream -> the test fails, drop the row),
and each row's evidence is proved from the file by test_errata_evidence_holds; docs/conformance.md
gives the counts per key and the reasoning. Where a file lacks the input a
step needs (many omit COMPRESSED, COSE or CBOR), the input is derived from the previous stage the
file does carry (PREFIX -> BASE45 -> COMPRESSED -> COSE -> CBOR), with this project's decoders.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import cbor2
import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
import zxingcpp
from PIL import Image, UnidentifiedImageError
from tests.corpora import corpus_dir

from protocols.cose import loads_cbor
from protocols.dcc import (
    CWT_HCERT,
    check_code_times,
    check_key_usage,
    check_key_validity,
    check_signature,
    cwt_times,
    decode_base45,
    decode_cose,
    decode_cwt,
    hcert_of,
    inflate,
    strip_prefix,
)
from protocols.dcc_dsc import trusted_key_from_dsc
from protocols.dcc_json import jsonable
from protocols.dcc_schema import statement_kind, validate_hcert
from protocols.errors import CheckpointError
from protocols.trustlist import TrustedKey, TrustList

HERE = Path(__file__).resolve()
KNOWN_ISSUES = HERE.parent / "data" / "known_issues.csv"
ERRATA = HERE.parent / "data" / "corpus_errata.csv"
# Upstream's test function names (known_issues.csv column 1) and the keys each one's check covers.
# test_cose_schema is schema validation of the file's DCC; EXPECTEDVALIDOBJECT (which upstream
# never ran) is the same validation of the same DCC in its JSON rendering, so a known schema
# issue covers both. An empty test name means every key of the file.
UPSTREAM_TESTS: dict[str, tuple[str, ...]] = {
    "test_cose_schema": ("EXPECTEDSCHEMAVALIDATION", "EXPECTEDVALIDOBJECT"),
    "test_cose_json": ("EXPECTEDDECODE",),
    "test_cose_cbor": ("EXPECTEDDECODE",),
    "test_cbor_json": ("EXPECTEDVALIDJSON",),
    "test_verification_check": ("EXPECTEDVERIFY",),
    "test_expiration_check": ("EXPECTEDEXPIRATIONCHECK",),
    "test_expected_key_usage": ("EXPECTEDKEYUSAGE",),
    "test_compression": ("EXPECTEDCOMPRESSION",),
    "test_b45decode": ("EXPECTEDB45DECODE",),
    "test_un_prefix": ("EXPECTEDUNPREFIX",),
    "test_picture_decode": ("EXPECTEDPICTUREDECODE",),
}
ANY_KEY = "*"
NO_EXPECTATIONS = "NO_EXPECTEDRESULTS"


def find_corpus() -> Path | None:
    """The vendored dgc-testdata folder (tests/corpora), when it holds the corpus."""
    candidates = [corpus_dir("dgc-testdata")]
    return next((c for c in candidates if (c / "README.md").is_file() and any(c.rglob("*.json"))), None)


CORPUS = find_corpus()


class Case:
    """One corpus file, parsed once, with each stage of the chain from the file or derived."""

    def __init__(self, rel: str):
        self.rel = rel
        self.data: dict[str, Any] = json.loads((CORPUS / rel).read_text(encoding="utf-8"))
        self.expected: dict[str, Any] = dict(self.data.get("EXPECTEDRESULTS") or {})
        self.ctx: dict[str, Any] = dict(self.data.get("TESTCTX") or {})

    def given(self, name: str) -> Any:
        """A field of the file, None when absent or empty."""
        value = self.data.get(name)
        return None if value in (None, "") else value

    @cached_property
    def prefix(self) -> str:
        """The code text as the QR holds it."""
        return self.data["PREFIX"]

    @cached_property
    def base45(self) -> str:
        """BASE45, or PREFIX without its prefix."""
        return self.given("BASE45") or strip_prefix(self.prefix)

    @cached_property
    def compressed(self) -> bytes:
        """COMPRESSED, or BASE45 decoded."""
        return bytes.fromhex(self.given("COMPRESSED")) if self.given("COMPRESSED") else decode_base45(self.base45)

    @cached_property
    def cose(self) -> bytes:
        """COSE, or COMPRESSED inflated."""
        return bytes.fromhex(self.given("COSE")) if self.given("COSE") else inflate(self.compressed)

    @cached_property
    def cwt(self) -> Mapping[Any, Any]:
        """The CWT claims map inside COSE."""
        return decode_cwt(decode_cose(self.cose).payload)

    @cached_property
    def key(self) -> TrustedKey:
        """The DSC of TESTCTX as a trusted key."""
        return trusted_key_from_dsc(self.ctx["CERTIFICATE"])

    @cached_property
    def clock(self) -> dt.datetime:
        """TESTCTX.VALIDATIONCLOCK as an aware datetime."""
        return parse_clock(self.ctx["VALIDATIONCLOCK"])

    def picture(self) -> bytes | None:
        """The file's QR picture: 2DCODE, LV's _2DCODE, or the same-named PNG in the country's png/."""
        encoded = self.given("2DCODE") or self.given("_2DCODE")
        if encoded:
            return base64.b64decode(encoded)
        png = _country_png(self.rel)
        return png.read_bytes() if png else None


def parse_clock(text: str) -> dt.datetime:
    """VALIDATIONCLOCK as the corpus writes it: 0-9 fractional digits, Z, +hhmm, +hh:mm or no zone (UTC)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())
    t = dt.datetime.fromisoformat(text)
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def _country_png(rel: str) -> Path | None:
    parts = Path(rel).parts
    folder = CORPUS / parts[0] / "png"
    if not folder.is_dir():
        return None
    want = _png_stem(Path(rel).stem)
    return next((p for p in sorted(folder.glob("*.png")) if _png_stem(p.stem) == want), None)


def _png_stem(stem: str) -> str:
    # The corpus names pictures loosely: DGC_QrCode_00001_Raw.json / DGC_QrCode_00001.png,
    # test_pcr_ok.json / test-pcr_ok.png, IE 1.json / 1_qr.png (1_aztec.png is not a QR code).
    stem = stem.lower().replace("-", "_")
    return re.sub(r"_(raw|qr)$", "", stem)


def hcert_level(obj: Any) -> Any:
    """A decoded CBOR field at hcert level: the corpus gives some as the whole CWT."""
    if isinstance(obj, Mapping) and CWT_HCERT in obj:
        return hcert_of(obj)
    return jsonable(obj)


def normalised(obj: Any) -> Any:
    """JSON for comparison: ISO date-times as UTC instants to the second (README note 3)."""
    if isinstance(obj, Mapping):
        return {str(k): normalised(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalised(v) for v in obj]
    if isinstance(obj, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?", obj):
        return parse_clock(obj).astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()
    return obj


def cbor_field(case: Case) -> Any:
    """The file's CBOR field decoded at hcert level, or the hcert of its COSE when it has none."""
    if case.given("CBOR"):
        return hcert_level(loads_cbor(bytes.fromhex(case.given("CBOR"))))
    return hcert_of(case.cwt)


# --- one check per EXPECTED* key: returns whether the step succeeded ---------------------------


def picture_decode(case: Case) -> bool:
    png = case.picture()
    if png is None:
        # B1 expects its picture to decode but carries none: render PREFIX as a real QR image
        # (segno) so the step still runs end to end on pixels, not on the string.
        buffer = io.BytesIO()
        segno.make_qr(case.prefix, error="l").save(buffer, kind="png", scale=4, border=4)
        png = buffer.getvalue()
    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        return False
    texts = [b.text for b in zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)]
    return case.prefix in texts


def unprefix(case: Case) -> bool:
    return strip_prefix(case.prefix) == case.data["BASE45"]


def b45decode(case: Case) -> bool:
    decoded = decode_base45(case.data["BASE45"])
    if case.given("COMPRESSED"):
        return decoded == bytes.fromhex(case.given("COMPRESSED"))
    return inflate(decoded) == case.cose  # no COMPRESSED: the decoded bytes must inflate to COSE


def compression(case: Case) -> bool:
    return inflate(case.compressed) == case.cose


def verify(case: Case) -> bool:
    check_signature(decode_cose(case.cose), TrustList.single(case.key))
    return True


def decode(case: Case) -> bool:
    if case.given("COSE") or not case.given("CBOR"):
        decoded = hcert_of(case.cwt)
        if case.given("CBOR") and normalised(cbor_field(case)) != normalised(decoded):
            return False
    else:
        decoded = cbor_field(case)
    return case.given("JSON") is None or normalised(decoded) == normalised(case.data["JSON"])


def valid_json(case: Case) -> bool:
    decoded = hcert_of(decode_cwt(decode_cose(inflate(decode_base45(strip_prefix(case.prefix)))).payload))
    return normalised(decoded) == normalised(case.data["JSON"])


def schema_validation(case: Case) -> bool:
    hcert = hcert_of(case.cwt) if (case.given("COSE") or not case.given("CBOR")) else cbor_field(case)
    validate_hcert(hcert)
    return True


def valid_object(case: Case) -> bool:
    validate_hcert(case.data["JSON"])
    return True


def encode(case: Case) -> bool:
    # README note 2: encode the JSON with our encoder, decode both sides with the same decoder.
    ours = cbor2.loads(cbor2.dumps(case.data["JSON"]))
    return normalised(jsonable(ours)) == normalised(cbor_field(case))


def expiration_check(case: Case) -> bool:
    issued_at, expires_at = cwt_times(case.cwt)
    check_key_validity(case.key, issued_at, case.clock)
    check_code_times(issued_at, expires_at, case.clock)
    return True


def expired_misspelt(case: Case) -> bool:
    # EXPTECTEDEXPIRED (BG, ES): the code's own iat/exp at VALIDATIONCLOCK, the DSC aside.
    check_code_times(*cwt_times(case.cwt), case.clock)
    return True


def key_usage(case: Case) -> bool:
    check_key_usage(case.key, statement_kind(hcert_of(case.cwt)))
    return True


def all_others(case: Case) -> bool:
    # ES/1001-1003 nest "EXPECTEDRESULTS": true inside EXPECTEDRESULTS: the other results all hold.
    return all(
        run(CHECKS[key], case)[0] == value for key, value in case.expected.items() if key != "EXPECTEDRESULTS"
    )


def no_expectations(case: Case) -> bool:
    # A file that is no test case (the corpus root's 6.json: decoded claims): its hcert, if any,
    # must still be a schema-valid DCC.
    hcert = (case.data.get("hcert") or {}).get("1") if isinstance(case.data.get("hcert"), Mapping) else None
    if hcert is not None:
        validate_hcert(hcert)
    return True


CHECKS: dict[str, Callable[[Case], bool]] = {
    "EXPECTEDPICTUREDECODE": picture_decode,
    "EXPECTEDUNPREFIX": unprefix,
    "EXPECTEDB45DECODE": b45decode,
    "EXPECTEDCOMPRESSION": compression,
    "EXPECTEDVERIFY": verify,
    "EXPECTEDDECODE": decode,
    "EXPECTEDVALIDJSON": valid_json,
    "EXPECTEDSCHEMAVALIDATION": schema_validation,
    "EXPECTEDVALIDOBJECT": valid_object,
    "EXPECTEDENCODE": encode,
    "EXPECTEDEXPIRATIONCHECK": expiration_check,
    "EXPTECTEDEXPIRED": expired_misspelt,
    "EXPECTEDKEYUSAGE": key_usage,
    "EXPECTEDRESULTS": all_others,
    NO_EXPECTATIONS: no_expectations,
}


def run(check: Callable[[Case], bool], case: Case) -> tuple[bool, str | None]:
    """Run one step: (succeeded, why not). A typed refusal or bad hex in the file is failure; anything else raises."""
    try:
        return bool(check(case)), None
    except (CheckpointError, binascii.Error) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # bytes.fromhex on a malformed hex field of the file
        if "hexadecimal" not in str(exc) and "fromhex" not in str(exc):
            raise
        return False, f"bad hex in the file: {exc}"


# --- collection ---------------------------------------------------------------------------------


@cache
def case(rel: str) -> Case:
    """Each file is read and parsed once for all its keys."""
    return Case(rel)


def known_issues() -> dict[tuple[str, str, str], str]:
    """(key or "*", country, file stem or "") -> upstream's issue link."""
    issues: dict[tuple[str, str, str], str] = {}
    with KNOWN_ISSUES.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key in UPSTREAM_TESTS[row["test_name"]] if row["test_name"] else (ANY_KEY,):
                issues[(key, row["country"], row["test_set"])] = row["reason"]
    return issues


def known_issue(issues: dict[tuple[str, str, str], str], key: str, country: str, stem: str) -> str | None:
    """Upstream's issue link for this file and key, most specific row first, else None."""
    for k in (key, ANY_KEY):
        for s in (stem, ""):
            if (k, country, s) in issues:
                return issues[(k, country, s)]
    return None


def errata() -> dict[tuple[str, str], dict[str, str]]:
    """(path, key) -> our corpus_errata.csv row: a file whose expectation no honest decoder can meet."""
    with ERRATA.open(newline="", encoding="utf-8") as fh:
        return {(row["path"], row["key"]): row for row in csv.DictReader(fh)}


def _params() -> list[Any]:
    if CORPUS is None:
        return [pytest.param(None, None, id="corpus-not-found")]
    issues = known_issues()
    ours = errata()
    params = []
    for path in sorted(CORPUS.rglob("*.json")):
        rel = path.relative_to(CORPUS).as_posix()
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = list((data.get("EXPECTEDRESULTS") or {}) if isinstance(data, dict) else {}) or [NO_EXPECTATIONS]
        country, stem = rel.split("/")[0], path.stem
        for key in keys:
            issue = known_issue(issues, key, country, stem)
            marks = [pytest.mark.xfail(reason=f"upstream known issue {issue}", strict=False)] if issue else []
            if (rel, key) in ours:
                # Strict: once upstream fixes the file this fails, and the row must go.
                marks = [pytest.mark.xfail(reason=f"corpus erratum: {ours[(rel, key)]['evidence']}", strict=True)]
            params.append(pytest.param(rel, key, id=f"{rel}::{key}", marks=marks))
    return params


@pytest.mark.parametrize(("rel", "key"), _params())
def test_step_succeeds_as_expected(rel: str | None, key: str | None) -> None:
    """The step a key names succeeds exactly when the file says it should."""
    if rel is None:
        pytest.fail(
            "dgc-testdata corpus not found: expected it vendored in tests/corpora/dgc-testdata"
        )
    this = case(rel)
    assert key in CHECKS, f"{rel}: unknown expectation key {key}"
    expected = True if key == NO_EXPECTATIONS else this.expected[key]
    got, why = run(CHECKS[key], this)
    assert got == expected, f"{rel} {key}: expected {expected}, step gave {got} ({why})"


# --- errata: each row's evidence, proved from the file itself --------------------------------------

JSON_EDITED = re.compile(r"^JSON differs from the signed payload only in (?P<fields>[a-z,]+): ")
VALUE_SET_ONLY = re.compile(r"^schema-valid value (?P<kind>[vtr])\[0\]\.(?P<field>[a-z]+)=(?P<value>\S+): ")
# What each file's own TESTCTX.DESCRIPTION says is wrong, for the fields a value-set erratum names.
DESCRIBED_FAULT = {("t", "ma"): "incorrect device identification number", ("v", "ma"): "incorrect vaccine manufacturer identifier"}


def signed_hcert(this: Case) -> dict[str, Any]:
    """The hcert from PREFIX through our whole chain, after checking its signature with the file's DSC."""
    cose = inflate(decode_base45(strip_prefix(this.prefix)))
    check_signature(decode_cose(cose), TrustList.single(this.key))
    return hcert_of(decode_cwt(decode_cose(cose).payload))


def _errata_rows() -> list[Any]:
    return [pytest.param(row, id=f"{path}::{key}") for (path, key), row in sorted(errata().items())]


def test_errata_name_real_cases_outside_upstreams_known_issues() -> None:
    """Every erratum names an existing file and key with the expectation it states, and no known issue."""
    assert CORPUS is not None, "dgc-testdata corpus not found"
    issues = known_issues()
    for (path, key), row in errata().items():
        this = case(path)
        assert row["country"] == path.split("/")[0]
        assert this.expected.get(key) == {"true": True, "false": False}[row["expected"]], (path, key)
        assert known_issue(issues, key, row["country"], Path(path).stem) is None, (path, key)


@pytest.mark.parametrize("row", _errata_rows())
def test_errata_evidence_holds(row: dict[str, str]) -> None:
    """The row's evidence is true of the file: its step fails for the stated reason, not ours."""
    this = case(row["path"])
    signed = signed_hcert(this)
    assert run(CHECKS[row["key"]], this)[0] != this.expected[row["key"]], "the erratum no longer reproduces"
    if m := JSON_EDITED.match(row["evidence"]):
        # The code, the file's COSE and the file's CBOR all hold one signed payload...
        assert bytes.fromhex(this.data["COSE"]) == inflate(decode_base45(strip_prefix(this.prefix)))
        assert normalised(cbor_field(this)) == normalised(signed)
        # ...and the file's JSON departs from it exactly in the person fields the row names.
        shown = this.data["JSON"]
        differ = {k for k in set(signed) | set(shown) if normalised(signed.get(k)) != normalised(shown.get(k))}
        assert differ == set(m["fields"].split(",")) and "nam" in differ
        assert f'{signed["nam"]["fnt"]} {signed["nam"]["gnt"]} {signed["dob"]}' in row["evidence"]
        validate_hcert(signed)
        # The edited name could not have been issued: its fnt breaks the schema's [A-Z<]* pattern.
        assert f'fnt "{shown["nam"]["fnt"]}"' in row["evidence"]
        with pytest.raises(CheckpointError, match=r"nam\.fnt"):
            validate_hcert(shown)
    elif m := VALUE_SET_ONLY.match(row["evidence"]):
        # The signed entry carries exactly the named value, the JSON agrees, and our schema accepts it.
        assert signed[m["kind"]][0][m["field"]] == m["value"] == this.data["JSON"][m["kind"]][0][m["field"]]
        assert validate_hcert(signed).kind == m["kind"]
        # The file's own description blames that very field.
        assert DESCRIBED_FAULT[(m["kind"], m["field"])] in this.ctx["DESCRIPTION"]
    else:
        pytest.fail(f"erratum evidence of no known form: {row['evidence']}")


def test_unlisted_country_code_is_refused_by_the_schema() -> None:
    """PL/*/8 (co "XY") is refused for the country code alone, so it needs no erratum."""
    for version in ("1.0.0", "1.2.1", "1.3.0"):
        this = case(f"PL/{version}/2DCode/raw/8.json")
        hcert = signed_hcert(this)
        assert hcert["r"][0]["co"] == "XY"
        with pytest.raises(CheckpointError, match=r"r\.0\.co: .*'XY' is not an ISO 3166-1 alpha-2"):
            validate_hcert(hcert)
        hcert["r"][0]["co"] = "PL"
        assert validate_hcert(hcert).kind == "r"


# --- verify_dcc end to end: the corpus' common cases, as BasicDgcTestsList.md describes them ----

# Each case of common/ (BasicDgcTestsList.md: VALID or INVALID, and why) and the reason we give.
BASIC_CASES = {
    "CO1": None, "CO2": None, "CO3": None, "CO12": None, "CO13": None, "CO14": None, "CO15": None,
    "CO18": None, "CO19": None, "CO20": None, "CO21": None, "CO28": None,
    "CO5": "bad_signature", "CO22": "unknown_key", "CO23": "unknown_key",
    "CO6": "key_not_allowed", "CO7": "key_not_allowed", "CO8": "key_not_allowed",
    "CO9": "key_not_allowed", "CO10": "key_not_allowed", "CO11": "key_not_allowed",
    "CO16": "not_yet_valid", "CO17": "expired",
    "H1": "bad_prefix", "H2": "bad_prefix", "H3": "bad_prefix", "B1": "bad_base45",
    "Z1": "bad_zlib", "Z2": "bad_zlib", "CBO2": "bad_cose", "DGC2": "bad_claims",
}


def _verified(name: str) -> tuple[Case, Any]:
    from protocols.dcc import verify_dcc

    this = case(f"common/2DCode/raw/{name}.json")
    return this, verify_dcc(this.prefix, TrustList.single(this.key), this.clock)


@pytest.mark.parametrize(("name", "reason"), sorted(BASIC_CASES.items()))
def test_verify_dcc_admits_the_valid_and_names_why_not(name: str, reason: str | None) -> None:
    """verify_dcc on the whole code gives ok or the stable reason the case's description implies."""
    assert CORPUS is not None, "dgc-testdata corpus not found"
    _, result = _verified(name)
    assert (result.ok, result.reason) == (reason is None, reason), result.steps
    failed = [s for s, v in result.steps.items() if v is False]
    assert len(failed) == (0 if reason is None else 1)
    if reason is None:
        assert all(result.steps.values()) and result.credential is not None


def test_credential_is_pseudonymous_and_carries_what_rules_need() -> None:
    """The credential names nobody: a masked surname, a SHA-256 subject, the doses, the hcert."""
    from protocols.dcc_schema import validate_hcert as schema

    this, result = _verified("CO13")  # a vaccination
    hcert = hcert_of(this.cwt)
    cred = result.credential
    nam = hcert["nam"]
    assert cred.format == "HC1" and cred.person_class is None and cred.colour is None
    assert cred.name == nam["fnt"][0] + "***"
    assert re.fullmatch(r"[0-9a-f]{64}", cred.subject)
    # Outside the hcert (which the rules may read but nothing stores), no name appears.
    assert nam["fnt"].lower() not in json.dumps(cred.model_dump(exclude={"extra"}), default=str).lower()
    assert cred.doses == hcert["v"][0]["dn"] and cred.test is None
    assert cred.extra == {"hcert": hcert} and schema(hcert).kind == "v"
    assert base64.b64decode(cred.kid) == this.key.kid
    json.dumps(cred.rule_payload())  # what the rules read is plain JSON
    # The same person and birth date give the same subject, whatever the certificate.
    again = _verified("CO12")[1].credential
    assert (again.subject == cred.subject) == (
        (hcert_of(case("common/2DCode/raw/CO12.json").cwt)["nam"], hcert_of(case("common/2DCode/raw/CO12.json").cwt)["dob"])
        == (nam, hcert["dob"])
    )


def test_negative_naat_becomes_the_rules_test() -> None:
    """A NAAT test entry "not detected" becomes test.result "negative" at its sample time."""
    from protocols.dcc import verify_dcc

    naat = []
    for path in sorted(CORPUS.rglob("*.json")):
        this = case(path.relative_to(CORPUS).as_posix())
        t = (this.data.get("JSON") or {}).get("t") if isinstance(this.data.get("JSON"), dict) else None
        if t and t[0].get("tt") == "LP6464-4" and this.expected.get("EXPECTEDVERIFY") and "CERTIFICATE" in this.ctx:
            naat.append(this)
    assert naat, "the corpus has NAAT test certificates"
    checked = 0
    for this in naat:
        result = verify_dcc(this.prefix, TrustList.single(this.key), this.clock)
        if not result.ok:
            continue
        entry = hcert_of(this.cwt)["t"][0]
        want = {"260415000": "negative", "260373001": "positive"}[entry["tr"]]
        assert result.credential.test.result == want
        assert result.credential.test.at == parse_clock(entry["sc"])
        checked += 1
    assert checked >= 5


def test_dispatcher_hands_hc1_codes_to_verify_dcc() -> None:
    """protocols.verify.verify_code sends an HC1: code here and returns our verdict."""
    from protocols.verify import verify_code

    this = case("common/2DCode/raw/CO3.json")
    result = verify_code(this.prefix, TrustList.single(this.key), this.clock)
    assert result.ok and result.format == "HC1" and result.credential.format == "HC1"


def test_revoked_signing_key_is_refused() -> None:
    """A DSC the hub revoked signs nothing, even with a valid signature."""
    from protocols.dcc import verify_dcc

    this = case("common/2DCode/raw/CO3.json")
    trust = TrustList([this.key], revoked_kids=[this.key.kid])
    result = verify_dcc(this.prefix, trust, this.clock)
    assert (result.ok, result.reason, result.steps["signature"]) == (False, "revoked", True)


def test_a_revoked_certificate_id_refuses_that_certificate_only() -> None:
    """The hub revokes one certificate by the SHA-256 of its UVCI (`ci`), as the EU revocation lists do."""
    from protocols.dcc import certificate_ids, verify_dcc
    from protocols.trustlist import subject_revocation_hash

    this = case("common/2DCode/raw/CO3.json")
    valid = verify_dcc(this.prefix, TrustList([this.key]), this.clock)
    assert valid.ok
    ids = certificate_ids(valid.credential.extra["hcert"])
    assert ids and all(":" in i for i in ids)  # URN:UVCI:... (some issuers drop the URN: part)
    revoked = TrustList([this.key], revoked_subjects=[subject_revocation_hash(ids[0])])
    result = verify_dcc(this.prefix, revoked, this.clock)
    assert (result.ok, result.reason, result.steps["signature"], result.steps["expiry"]) == (False, "revoked", True, False)
    other = TrustList([this.key], revoked_subjects=[subject_revocation_hash("URN:UVCI:01:XX:SOMEONE-ELSE")])
    assert verify_dcc(this.prefix, other, this.clock).ok


def test_unknown_signer_and_empty_trust_list() -> None:
    """A code whose kid is on no trust list is refused as unknown_key, after the schema passed."""
    from protocols.dcc import verify_dcc

    this = case("common/2DCode/raw/CO3.json")
    result = verify_dcc(this.prefix, TrustList(), this.clock)
    assert (result.reason, result.steps["schema"], result.steps["signature"]) == ("unknown_key", True, False)
    assert result.claims is not None and "1" in result.claims["-260"]


# --- DSC parsing and key usage -------------------------------------------------------------------


def test_dsc_accepted_as_der_pem_and_base64_with_the_eu_kid() -> None:
    """The same certificate in three encodings gives one key whose kid the DCC names."""
    from protocols.dcc_dsc import trusted_key_from_dsc as from_dsc

    this = case("common/2DCode/raw/CO3.json")
    b64 = this.ctx["CERTIFICATE"]
    der = base64.b64decode(b64)
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64)) + "\n-----END CERTIFICATE-----\n"
    kids = {from_dsc(der).kid, from_dsc(pem).kid, from_dsc(b64).kid, from_dsc(pem.encode()).kid}
    assert kids == {decode_cose(this.cose).kid}
    assert from_dsc(b64).not_before <= this.clock <= from_dsc(b64).not_after


@pytest.mark.parametrize("garbage", [b"", b"not a certificate", "bm90IGEgY2VydA==", b"\x30\x03\x02\x01\x01", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"])
def test_dsc_garbage_is_a_config_error(garbage: bytes | str) -> None:
    """Anything but a certificate is a ConfigError, not a crash."""
    from protocols.dcc_dsc import trusted_key_from_dsc as from_dsc
    from protocols.errors import ConfigError

    with pytest.raises(ConfigError):
        from_dsc(garbage)


@pytest.mark.parametrize(
    ("oids", "usages"),
    [
        (None, {"HC1.t", "HC1.v", "HC1.r"}),
        ({"1.3.6.1.4.1.1847.2021.1.1"}, {"HC1.t"}),
        ({"1.3.6.1.4.1.0.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.3"}, {"HC1.v", "HC1.r"}),
        ({"2.23.136.1.1.14.2"}, set()),  # IS/3: a foreign EKU restricts the key to nothing
        (set(), set()),
    ],
)
def test_extended_key_usage_decides_what_a_dsc_may_sign(oids: set[str] | None, usages: set[str]) -> None:
    """EKU OIDs map to HC1.t/.v/.r; no EKU extension allows every kind."""
    from protocols.dcc_dsc import usages_from_eku

    assert usages_from_eku(None if oids is None else frozenset(oids)) == usages


def test_unparseable_extensions_read_as_no_eku() -> None:
    """FI's DSCs carry a DER-invalid BasicConstraints: the key loads, allowed every kind."""
    from protocols.dcc_dsc import ALL_DCC_USAGES

    this = case("FI/2DCode/raw/1.json")
    assert this.key.may_sign == ALL_DCC_USAGES


# --- hostile input ---------------------------------------------------------------------------------

REASONS = {"unreadable", "bad_prefix", "bad_base45", "bad_zlib", "bad_cose", "bad_cbor", "bad_claims", "unknown_key", "oversized"}


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=300).map(lambda s: "HC1:" + s)))
def test_any_text_gives_a_reason_never_an_exception(text: str) -> None:
    """Random text, prefixed or not, is refused with one of the stable reasons."""
    from protocols.dcc import verify_dcc

    result = verify_dcc(text, TrustList(), dt.datetime(2021, 6, 1, tzinfo=dt.timezone.utc))
    assert not result.ok and result.reason in REASONS


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.recursive(st.none() | st.integers() | st.text(max_size=8) | st.binary(max_size=8), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.integers(-300, 10) | st.text(max_size=3), c, max_size=4), max_leaves=20).map(cbor2.dumps))
def test_any_compressed_payload_gives_a_reason(body: bytes) -> None:
    """Well-formed base45 and zlib around arbitrary bytes or CBOR: refused cleanly at a later step."""
    import base45 as b45
    import zlib

    from protocols.dcc import verify_dcc

    text = "HC1:" + b45.b45encode(zlib.compress(body)).decode("ascii")
    result = verify_dcc(text, TrustList(), dt.datetime(2021, 6, 1, tzinfo=dt.timezone.utc))
    assert not result.ok and result.reason in REASONS
    assert result.steps["zlib"] is True


def test_oversized_codes_and_zlib_bombs_are_refused() -> None:
    """Text longer than any QR code, and a small body that inflates past the bound, are oversized."""
    import base45 as b45
    import zlib

    from protocols.dcc import MAX_COSE_BYTES, verify_dcc

    at = dt.datetime(2021, 6, 1, tzinfo=dt.timezone.utc)
    assert verify_dcc("HC1:" + "A" * 5000, TrustList(), at).reason == "oversized"
    bomb = "HC1:" + b45.b45encode(zlib.compress(b"\0" * (MAX_COSE_BYTES * 16), 9)).decode("ascii")
    result = verify_dcc(bomb, TrustList(), at)
    assert (result.reason, result.steps["base45"], result.steps["zlib"]) == ("oversized", True, False)


def test_claims_are_shown_even_when_the_schema_refuses_them() -> None:
    """DGC2 holds v, t and r: refused at the schema step, its claims still readable as JSON."""
    _, result = _verified("DGC2")
    assert (result.reason, result.steps["cbor"], result.steps["schema"]) == ("bad_claims", True, False)
    hcert = result.claims["-260"]["1"]
    assert {"v", "t", "r"} <= set(hcert)
    json.dumps(result.claims)
