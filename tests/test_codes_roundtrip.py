"""mint -> QR PNG -> scan -> inspect, for a table of claim combinations, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checkpoint.cli import main

AT = "2026-11-29T08:10:00Z"
ISSUED = "2026-11-29T08:00:00Z"

# Each row varies what a gate decides on; the last ones are the largest codes a pass can carry.
COMBINATIONS = [
    ("staff-green-fresh-test", ["--class", "staff", "--colour", "green", "--test-hours-ago", "12"]),
    ("student-green-no-test", ["--class", "student", "--colour", "green", "--no-test"]),
    ("visitor-yellow", ["--class", "visitor", "--colour", "yellow", "--colour-since", "2026-11-28T00:00:00Z"]),
    ("courier-red-positive", ["--class", "courier", "--colour", "red", "--test-result", "positive"]),
    ("parent-three-doses", ["--class", "parent", "--doses", "3", "--name", "王*明"]),
    ("teacher-one-stay", ["--class", "teacher", "--stay", "420106:2026-11-10:2026-11-12"]),
    ("vendor-defaults", ["--class", "vendor"]),
    ("customer-fourteen-stays", ["--class", "customer"]
     + [arg for day in range(1, 15) for arg in ("--stay", f"{110101 + day}:2026-11-{day:02d}:2026-11-{day:02d}")]),
]


def run(*args: str):
    """Invoke `checkpoint ARGS` in-process."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module", params=["ES256", "EdDSA"])
def keydir(request, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(f"keys-{request.param}")
    assert run("codes", "keygen", "--out", str(out), "--alg", request.param).exit_code == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("name", "options"), COMBINATIONS, ids=[c[0] for c in COMBINATIONS])
def test_minted_png_scans_back_to_the_same_code_and_verifies_with_the_same_claims(keydir, tmp_path, name, options):
    png = tmp_path / "pass.png"
    minted = run("codes", "mint", "--key", str(keydir / "issuer-key.pem"), "--issued-at", ISSUED,
                 "--valid-minutes", "30", "--subject", f"p-{name}", *options, "--png", str(png))
    assert minted.exit_code == 0, minted.output
    code = minted.output.strip()

    scanned = json.loads(run("scan", str(png)).output.splitlines()[0])
    assert scanned["codes"] == [code]

    direct = run("codes", "inspect", code, "--trust", str(keydir / "trust-list.json"), "--at", AT)
    from_image = run("codes", "inspect", "--image", str(png), "--trust", str(keydir / "trust-list.json"), "--at", AT)
    assert direct.exit_code == 0 and from_image.exit_code == 0, direct.output
    report = json.loads(direct.output)
    assert json.loads(from_image.output) == report
    assert report["verification"] == {"ok": True, "reason": None, "steps": {s: True for s in report["verification"]["steps"]}}
    claims = report["claims"]
    assert claims["sub"] == f"p-{name}" and claims["iat"] == ISSUED
    values = [o for o in options if o != "--no-test"]  # the one flag without a value
    option = dict(zip(values[::2], values[1::2]))
    assert claims["class"] == option["--class"]
    assert claims["colour"] == option.get("--colour", "green")
    assert len(claims["stays"]) == options.count("--stay")
    if "--no-test" in options:
        assert "test" not in claims  # absent, not null: the pass carries no test at all
    else:
        assert claims["test"]["result"] == option.get("--test-result", "negative")
