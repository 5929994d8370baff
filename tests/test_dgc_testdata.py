"""The EU dgc-testdata corpus: every EXPECTED* key of every file, run as the step it names.

One test per (file, key): the step's success must equal the file's boolean. The only expected
failures are the rows of upstream's own `known_issues.csv` (tests/data/, copied verbatim); a
known issue that passes here is reported as XPASS, not hidden. Where a file lacks the input a
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
import os
import re
from collections.abc import Callable, Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import cbor2
import pytest
import segno
import zxingcpp
from PIL import Image, UnidentifiedImageError

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
    """The dgc-testdata folder: beside the repo's parent (here and in CI), else $CHECKPOINT_CORPORA."""
    candidates = [HERE.parents[2] / "shared" / "corpora" / "dgc-testdata", HERE.parents[1].parent / "shared" / "corpora" / "dgc-testdata"]
    env = os.environ.get("CHECKPOINT_CORPORA")
    if env:
        candidates += [Path(env) / "dgc-testdata", Path(env)]
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
        return self.data["PREFIX"]

    @cached_property
    def base45(self) -> str:
        return self.given("BASE45") or strip_prefix(self.prefix)

    @cached_property
    def compressed(self) -> bytes:
        return bytes.fromhex(self.given("COMPRESSED")) if self.given("COMPRESSED") else decode_base45(self.base45)

    @cached_property
    def cose(self) -> bytes:
        return bytes.fromhex(self.given("COSE")) if self.given("COSE") else inflate(self.compressed)

    @cached_property
    def cwt(self) -> Mapping[Any, Any]:
        return decode_cwt(decode_cose(self.cose).payload)

    @cached_property
    def key(self) -> TrustedKey:
        return trusted_key_from_dsc(self.ctx["CERTIFICATE"])

    @cached_property
    def clock(self) -> dt.datetime:
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
        run(CHECKS[key], case) == value for key, value in case.expected.items() if key != "EXPECTEDRESULTS"
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


def run(check: Callable[[Case], bool], case: Case) -> bool:
    """Run one step: a typed refusal (or undecodable hex in the file) is failure, anything else raises."""
    try:
        return bool(check(case))
    except (CheckpointError, binascii.Error) as exc:
        run.last_error = f"{type(exc).__name__}: {exc}"  # type: ignore[attr-defined]
        return False
    except ValueError as exc:  # bytes.fromhex on a malformed hex field of the file
        if "hexadecimal" not in str(exc) and "fromhex" not in str(exc):
            raise
        run.last_error = f"bad hex in the file: {exc}"  # type: ignore[attr-defined]
        return False


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


def _params() -> list[Any]:
    if CORPUS is None:
        return [pytest.param(None, None, id="corpus-not-found")]
    issues = known_issues()
    params = []
    for path in sorted(CORPUS.rglob("*.json")):
        rel = path.relative_to(CORPUS).as_posix()
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = list((data.get("EXPECTEDRESULTS") or {}) if isinstance(data, dict) else {}) or [NO_EXPECTATIONS]
        country, stem = rel.split("/")[0], path.stem
        for key in keys:
            issue = known_issue(issues, key, country, stem)
            marks = [pytest.mark.xfail(reason=f"upstream known issue {issue}", strict=False)] if issue else []
            params.append(pytest.param(rel, key, id=f"{rel}::{key}", marks=marks))
    return params


@pytest.mark.parametrize(("rel", "key"), _params())
def test_step_succeeds_as_expected(rel: str | None, key: str | None) -> None:
    """The step a key names succeeds exactly when the file says it should."""
    if rel is None:
        pytest.fail(
            "dgc-testdata corpus not found: expected shared/corpora/dgc-testdata beside the repository "
            "(the repository's parent directory) or $CHECKPOINT_CORPORA pointing at it"
        )
    this = case(rel)
    assert key in CHECKS, f"{rel}: unknown expectation key {key}"
    expected = True if key == NO_EXPECTATIONS else this.expected[key]
    run.last_error = None  # type: ignore[attr-defined]
    got = run(CHECKS[key], this)
    assert got == expected, f"{rel} {key}: expected {expected}, step gave {got} ({run.last_error})"  # type: ignore[attr-defined]
