"""`checkpoint codes`: keygen, mint and inspect through click, one real subprocess, real QR images."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from checkpoint.cli import main
from protocols.trustlist import TrustList
from tests.corpora import corpus_dir
from tests.helpers_codes import make_issuer, mint_pass, write_keydir

CORPUS = corpus_dir("dgc-testdata")
CHECKPOINT = Path(sys.executable).parent / "checkpoint"
CLAIM_KEYS = {"iss", "sub", "iat", "nbf", "exp", "name", "class", "colour", "colourSince", "test", "doses", "stays"}


def run(*args: str):
    """Invoke `checkpoint ARGS` in-process and return the click result."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def inspect_json(*args: str) -> tuple[int, dict]:
    result = run("codes", "inspect", *args)
    return result.exit_code, json.loads(result.output)


@pytest.fixture()
def keydir(tmp_path: Path) -> Path:
    result = run("codes", "keygen", "--out", str(tmp_path / "keys"))
    assert result.exit_code == 0, result.output
    return tmp_path / "keys"


def test_keygen_writes_keys_root_anchor_and_a_signed_trust_list(keydir):
    for name in ("issuer-key.pem", "root-key.pem", "root-pub.pem", "trust-list.json"):
        assert (keydir / name).is_file()
    assert stat.S_IMODE(os.stat(keydir / "issuer-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keydir / "root-key.pem").st_mode) == 0o600
    trust = TrustList.load(keydir / "trust-list.json")
    assert [sorted(k.may_sign) for k in trust.keys] == [["HP1"]]


def test_keygen_refuses_to_overwrite_without_force(keydir):
    before = (keydir / "root-key.pem").read_bytes()
    assert run("codes", "keygen", "--out", str(keydir)).exit_code == 2
    assert (keydir / "root-key.pem").read_bytes() == before
    assert run("codes", "keygen", "--out", str(keydir), "--force", "--alg", "EdDSA").exit_code == 0
    assert (keydir / "root-key.pem").read_bytes() != before


def test_mint_with_key_alone_is_a_valid_green_staff_pass(keydir):
    minted = run("codes", "mint", "--key", str(keydir / "issuer-key.pem"))
    assert minted.exit_code == 0
    code = minted.output.strip()
    assert code.startswith("HP1:")
    status, report = inspect_json(code, "--trust", str(keydir / "trust-list.json"))
    assert status == 0 and report["verification"]["ok"] is True
    claims = report["claims"]
    assert claims["class"] == "staff" and claims["colour"] == "green" and claims["stays"] == []
    assert claims["test"]["result"] == "negative"
    iat = dt.datetime.fromisoformat(claims["iat"])
    assert iat - dt.datetime.fromisoformat(claims["test"]["at"]) == dt.timedelta(hours=12)
    assert set(claims) <= CLAIM_KEYS and set(report) == {"format", "claims", "verification"}


def test_mint_options_appear_in_the_inspected_claims(keydir):
    code = run(
        "codes", "mint", "--key", str(keydir / "issuer-key.pem"),
        "--class", "courier", "--colour", "yellow", "--colour-since", "2026-11-20T00:00:00Z",
        "--test-at", "2026-11-28T06:00:00+08:00", "--test-result", "positive", "--doses", "2",
        "--stay", "420106:2026-11-10:2026-11-12", "--stay", "110101:2026-11-20:2026-11-21",
        "--name", "李*", "--subject", "p-42", "--issued-at", "2026-11-29T08:00:00Z", "--valid-minutes", "30",
    ).output.strip()
    status, report = inspect_json(code, "--trust", str(keydir / "trust-list.json"), "--at", "2026-11-29T08:10:00Z")
    assert status == 0
    assert report["claims"] == {
        "iss": "CN-VENUE", "sub": "p-42", "iat": "2026-11-29T08:00:00Z", "exp": "2026-11-29T08:30:00Z",
        "name": "李*", "class": "courier", "colour": "yellow", "colourSince": "2026-11-20T00:00:00Z",
        "test": {"at": "2026-11-27T22:00:00Z", "result": "positive"}, "doses": 2,
        "stays": [
            {"region": "420106", "start": "2026-11-10", "end": "2026-11-12"},
            {"region": "110101", "start": "2026-11-20", "end": "2026-11-21"},
        ],
    }


def test_inspect_refuses_expired_and_old_codes_with_exit_1(keydir):
    code = run("codes", "mint", "--key", str(keydir / "issuer-key.pem"), "--issued-at", "2026-11-29T08:00:00Z").output.strip()
    trust = str(keydir / "trust-list.json")
    status, report = inspect_json(code, "--trust", trust, "--at", "2026-11-29T09:00:00Z")
    assert status == 1 and report["verification"]["reason"] == "expired"
    assert report["verification"]["steps"]["expiry"] is False
    status, report = inspect_json(code, "--trust", trust, "--at", "2026-11-29T08:20:00Z", "--max-age", "15")
    assert status == 1 and report["verification"]["reason"] == "issued_too_long_ago"
    status, _ = inspect_json(code, "--trust", trust, "--at", "2026-11-29T08:20:00Z", "--max-age", "30")
    assert status == 0


def test_inspect_refuses_a_code_from_a_key_not_on_the_list(keydir, tmp_path):
    write_keydir(tmp_path / "other")
    code = run("codes", "mint", "--key", str(tmp_path / "other" / "issuer-key.pem")).output.strip()
    status, report = inspect_json(code, "--trust", str(keydir / "trust-list.json"))
    assert status == 1 and report["verification"]["reason"] == "unknown_key" and report["format"] == "HP1"


@pytest.mark.parametrize("code,reason", [("hello world", "bad_prefix"), ("HP1:~~~", "bad_base45"), ("HP1:", "bad_zlib")])
def test_inspect_reports_garbage_as_a_refusal_not_a_crash(keydir, code, reason):
    status, report = inspect_json(code, "--trust", str(keydir / "trust-list.json"))
    assert status == 1 and report["verification"]["reason"] == reason and report["claims"] is None


def test_inspect_usage_errors_exit_2(keydir, tmp_path):
    trust = str(keydir / "trust-list.json")
    code = mint_pass(make_issuer()[0])
    assert run("codes", "inspect", code).exit_code == 2  # no trust
    assert run("codes", "inspect", "--trust", trust).exit_code == 2  # no code
    assert run("codes", "inspect", code, "--trust", trust, "--at", "noon").exit_code == 2
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "trust-list.json").write_bytes((keydir / "trust-list.json").read_bytes())
    unanchored = run("codes", "inspect", code, "--trust", str(lonely / "trust-list.json"))
    assert unanchored.exit_code == 2 and "anchor" in unanchored.output
    assert run("codes", "inspect", code, "--trust", trust, "--root", str(keydir / "issuer-key.pem")).exit_code == 2


def test_mint_usage_errors_exit_2(keydir, tmp_path):
    key = str(keydir / "issuer-key.pem")
    assert run("codes", "mint", "--key", key, "--stay", "beijing").exit_code == 2
    assert run("codes", "mint", "--key", key, "--stay", "110101:2026-11-05:2026-11-01").exit_code == 2
    assert run("codes", "mint", "--key", key, "--colour", "blue").exit_code == 2
    assert run("codes", "mint", "--key", key, "--no-test", "--test-hours-ago", "3").exit_code == 2
    (tmp_path / "junk.pem").write_text("junk")
    assert run("codes", "mint", "--key", str(tmp_path / "junk.pem")).exit_code == 2


def test_mint_png_is_a_readable_qr_of_the_same_text(keydir, tmp_path):
    import zxingcpp
    from PIL import Image

    png = tmp_path / "pass.png"
    code = run("codes", "mint", "--key", str(keydir / "issuer-key.pem"), "--png", str(png)).output.strip()
    image = Image.open(png)
    assert image.width >= 400
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [code]


def test_inspect_image_reads_the_code_through_the_agent_decoder(keydir, tmp_path):
    png = tmp_path / "pass.png"
    run("codes", "mint", "--key", str(keydir / "issuer-key.pem"), "--png", str(png))
    status, report = inspect_json("--image", str(png), "--trust", str(keydir / "trust-list.json"))
    assert status == 0 and report["verification"]["ok"] is True


def _dgc_case(path: Path) -> dict:
    return json.loads(path.read_text())


def test_inspect_with_a_dsc_verifies_an_eu_test_certificate(tmp_path):
    case = _dgc_case(CORPUS / "DE" / "2DCode" / "raw" / "1.json")
    dsc = tmp_path / "dsc.b64"
    dsc.write_text(case["TESTCTX"]["CERTIFICATE"])
    clock = case["TESTCTX"]["VALIDATIONCLOCK"]
    status, report = inspect_json(case["PREFIX"], "--dsc", str(dsc), "--at", clock)
    assert report["format"] == "HC1"
    assert status == 0, report
    assert run("codes", "inspect", case["PREFIX"], "--dsc", str(dsc), "--trust", str(dsc)).exit_code == 2
    status, report = inspect_json(case["PREFIX"], "--dsc", str(dsc), "--at", "2035-01-01T00:00:00Z")
    assert status == 1 and report["verification"]["ok"] is False


@pytest.mark.slow
def test_a_real_checkpoint_process_mints_and_inspects(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def checkpoint(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CHECKPOINT), "codes", *args], capture_output=True, text=True, env=env, timeout=60)

    assert checkpoint("keygen", "--out", str(tmp_path), "--alg", "EdDSA").returncode == 0
    minted = checkpoint("mint", "--key", str(tmp_path / "issuer-key.pem"), "--class", "student")
    assert minted.returncode == 0, minted.stderr
    code = minted.stdout.strip()
    good = checkpoint("inspect", code, "--trust", str(tmp_path / "trust-list.json"))
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["claims"]["class"] == "student"
    tampered = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    bad = checkpoint("inspect", tampered, "--trust", str(tmp_path / "trust-list.json"))
    assert bad.returncode == 1 and json.loads(bad.stdout)["verification"]["ok"] is False
    usage = checkpoint("inspect", code)
    assert usage.returncode == 2 and "--trust" in usage.stderr


def test_inspect_reads_base64_kid_as_in_the_trust_list(keydir):
    code = run("codes", "mint", "--key", str(keydir / "issuer-key.pem")).output.strip()
    status, report = inspect_json(code, "--trust", str(keydir / "trust-list.json"))
    assert status == 0
    trust = TrustList.load(keydir / "trust-list.json")
    assert base64.b64encode(trust.keys[0].kid).decode() == json.loads((keydir / "trust-list.json").read_text())["body"]["keys"][0]["kid"]


@pytest.mark.slow
def test_mint_png_scan_inspect_round_trip_through_real_processes(tmp_path):
    write_keydir(tmp_path)
    png = tmp_path / "pass.png"

    def checkpoint(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CHECKPOINT), *args], capture_output=True, text=True, timeout=60)

    minted = checkpoint("codes", "mint", "--key", str(tmp_path / "issuer-key.pem"), "--colour", "yellow", "--png", str(png))
    assert minted.returncode == 0, minted.stderr
    scanned = checkpoint("scan", str(png))
    assert scanned.returncode == 0, scanned.stderr
    codes = json.loads(scanned.stdout.splitlines()[0])["codes"]
    assert codes == [minted.stdout.strip()]
    inspected = checkpoint("codes", "inspect", codes[0], "--trust", str(tmp_path / "trust-list.json"))
    assert inspected.returncode == 0, inspected.stdout
    assert json.loads(inspected.stdout)["claims"]["colour"] == "yellow"


def test_inspect_image_without_a_code_is_refused_as_unreadable(keydir, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (320, 240), 255).save(blank)
    status, report = inspect_json("--image", str(blank), "--trust", str(keydir / "trust-list.json"))
    assert status == 1 and report["verification"]["reason"] == "unreadable"
    assert run("codes", "inspect", "--image", str(blank), "HP1:X", "--trust", str(keydir / "trust-list.json")).exit_code == 2


def test_revoke_a_subject_then_a_key_through_the_cli(keydir):
    trust, root = str(keydir / "trust-list.json"), str(keydir / "root-key.pem")
    key = str(keydir / "issuer-key.pem")
    alice = run("codes", "mint", "--key", key, "--subject", "alice").output.strip()
    bob = run("codes", "mint", "--key", key, "--subject", "bob").output.strip()
    assert run("codes", "revoke", "--trust", trust, "--root-key", root, "--subject", "alice").exit_code == 0
    status, report = inspect_json(alice, "--trust", trust)
    assert status == 1 and report["verification"]["reason"] == "revoked"
    assert inspect_json(bob, "--trust", trust)[0] == 0
    kid = TrustList.load(trust).keys[0].kid
    assert run("codes", "revoke", "--trust", trust, "--root-key", root, "--kid", kid.hex()).exit_code == 0
    status, report = inspect_json(bob, "--trust", trust)
    assert status == 1 and report["verification"]["reason"] == "revoked"
    assert TrustList.load(trust).is_subject_revoked("alice")  # earlier revocations are kept


def test_revoke_refuses_bad_input_and_a_foreign_root(keydir, tmp_path):
    trust, root = str(keydir / "trust-list.json"), str(keydir / "root-key.pem")
    before = (keydir / "trust-list.json").read_bytes()
    assert run("codes", "revoke", "--trust", trust, "--root-key", root).exit_code == 2
    assert run("codes", "revoke", "--trust", trust, "--root-key", root, "--kid", "short").exit_code == 2
    write_keydir(tmp_path / "other")
    foreign = run("codes", "revoke", "--trust", trust, "--root-key", str(tmp_path / "other" / "root-key.pem"), "--subject", "x")
    assert foreign.exit_code == 2
    assert (keydir / "trust-list.json").read_bytes() == before


def test_add_key_trusts_a_second_issuer(keydir, tmp_path):
    from protocols.keys import save_public_key

    trust, root = str(keydir / "trust-list.json"), str(keydir / "root-key.pem")
    other_key, _ = make_issuer("EdDSA", issuer="CN-DISTRICT")
    save_public_key(other_key, tmp_path / "district.pem")
    code = mint_pass(other_key, issuer="CN-DISTRICT", issued_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    assert inspect_json(code, "--trust", trust)[1]["verification"]["reason"] == "unknown_key"
    added = run("codes", "add-key", "--trust", trust, "--root-key", root, "--public-key", str(tmp_path / "district.pem"), "--issuer", "CN-DISTRICT")
    assert added.exit_code == 0, added.output
    assert inspect_json(code, "--trust", trust)[0] == 0
    again = run("codes", "add-key", "--trust", trust, "--root-key", root, "--public-key", str(tmp_path / "district.pem"))
    assert again.exit_code == 2


def test_add_key_from_an_eu_dsc_takes_its_dcc_usages(keydir, tmp_path):
    case = _dgc_case(CORPUS / "DE" / "2DCode" / "raw" / "1.json")
    (tmp_path / "dsc.b64").write_text(case["TESTCTX"]["CERTIFICATE"])
    trust, root = str(keydir / "trust-list.json"), str(keydir / "root-key.pem")
    assert run("codes", "add-key", "--trust", trust, "--root-key", root, "--dsc", str(tmp_path / "dsc.b64")).exit_code == 0
    added = TrustList.load(trust).keys[-1]
    assert added.may_sign and "HP1" not in added.may_sign
    status, report = inspect_json(case["PREFIX"], "--trust", trust, "--at", case["TESTCTX"]["VALIDATIONCLOCK"])
    assert status == 0, report


def test_mint_refuses_times_outside_what_a_pass_can_carry(keydir):
    key = str(keydir / "issuer-key.pem")
    assert run("codes", "mint", "--key", key, "--issued-at", "0001-01-01T00:00:00Z").exit_code == 2
    assert run("codes", "mint", "--key", key, "--issued-at", "1969-12-31T00:00:00Z").exit_code == 2
    assert run("codes", "mint", "--key", key, "--test-hours-ago", "1e30").exit_code == 2
