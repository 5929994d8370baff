"""`checkpoint scan` through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from click.testing import CliRunner

from checkpoint.cli import main

CHECKPOINT = Path(sys.executable).parent / "checkpoint"


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """A QR code PNG, a JPEG without a code, a text file and a path that does not exist."""
    code = tmp_path / "code.png"
    segno.make_qr("HP1:SCAN-ME", error="m").save(str(code), scale=5)
    blank = tmp_path / "blank.jpg"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    return {"code": code, "blank": blank, "text": text, "missing": tmp_path / "gone.png"}


def lines(output: str) -> list[dict]:
    """Every stdout line parsed as JSON (each must parse)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_scan_prints_codes_and_time_per_file_and_exits_0(images: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["scan", str(images["code"]), str(images["blank"])])
    assert result.exit_code == 0, result.output
    code, blank = lines(result.output)
    assert code["file"] == str(images["code"]) and code["codes"] == ["HP1:SCAN-ME"]
    assert isinstance(code["ms"], float) and code["ms"] >= 0
    assert blank["codes"] == [] and "error" not in blank


def test_scan_reports_each_unreadable_file_and_exits_1(images: dict[str, Path]) -> None:
    args = ["scan", str(images["missing"]), str(images["code"]), str(images["text"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    missing, code, text = lines(result.output)
    assert missing["reason"] == "unreadable" and "no such file" in missing["error"]
    assert "codes" not in missing
    assert code["codes"] == ["HP1:SCAN-ME"]
    assert text["reason"] == "unreadable" and "not an image" in text["error"]


def test_scan_with_chosen_stages_and_rejects_unknown_ones(images: dict[str, Path]) -> None:
    ok = CliRunner().invoke(main, ["scan", "--stages", "pyzbar", str(images["code"])])
    assert ok.exit_code == 0 and lines(ok.output)[0]["codes"] == ["HP1:SCAN-ME"]
    bad = CliRunner().invoke(main, ["scan", "--stages", "zxing,tesseract", str(images["code"])])
    assert bad.exit_code == 2 and "unknown decoder stage 'tesseract'" in bad.output


def test_scan_without_images_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["scan"])
    assert result.exit_code == 2 and "IMAGES" in result.output


@pytest.mark.slow
def test_checkpoint_scan_runs_as_a_real_process(images: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(CHECKPOINT), "scan", str(images["code"]), str(images["missing"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    code, missing = lines(proc.stdout)
    assert code["codes"] == ["HP1:SCAN-ME"]
    assert missing["file"] == str(images["missing"]) and "error" in missing
    assert proc.stderr == ""
