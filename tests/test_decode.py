"""The QR decoder chain over real QR images: segno codes, the EU DCC test corpus, synthetic frames."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agent import decode as decode_module
from agent.decode import DecoderChain, as_gray, decode_frame, decode_image_file
from agent.decode_regions import MIN_QR_TEXTURE, Region, textured, textured_regions
from agent.decode_stages import EnhancedCropStage, FrameContext, ZxingStage
from bench.frames import VARIANTS, code_text, generate, synthetic_frame
from tests.corpora import corpus_dir
from protocols.errors import BadFrame, DecoderUnavailable, Unreadable

CORPUS = corpus_dir("dgc-testdata")
TEXT = code_text(600, np.random.default_rng(3), "HC1:")  # as long as a real EU DCC


def code_image(text: str, scale: int, angle: float = 0.0, inverted: bool = False) -> np.ndarray:
    """A grayscale segno rendering of `text`, rotated by `angle` degrees on a white page."""
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    if angle:
        h, w = image.shape
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        side = int(max(h, w) * 1.5)
        matrix[:, 2] += (side - w) / 2, (side - h) / 2
        image = cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=255)
    return 255 - image if inverted else image


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 5, 8])
@pytest.mark.parametrize("angle", [0, 15, 45, 90, 160])
def test_segno_code_reads_back_at_any_size_and_rotation(scale: int, angle: float) -> None:
    assert decode_frame(code_image(TEXT, scale, angle)) == [TEXT]


def test_dark_mode_code_light_on_dark_reads() -> None:
    assert decode_frame(code_image("HP1:ABC123", 4, inverted=True)) == ["HP1:ABC123"]


def test_colour_frames_in_bgr_and_bgra_read_like_grayscale() -> None:
    gray = code_image("HP1:COLOUR", 4, 20)
    assert decode_frame(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)) == ["HP1:COLOUR"]
    assert decode_frame(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)) == ["HP1:COLOUR"]
    assert decode_frame(gray[:, :, None]) == ["HP1:COLOUR"]


def test_non_contiguous_frame_view_reads() -> None:
    image = np.full((400, 800), 255, np.uint8)
    code = code_image("HP1:VIEW", 4)
    image[50 : 50 + code.shape[0], 100 : 100 + code.shape[1]] = code
    view = image[:, 50:700]
    assert not view.flags.c_contiguous
    assert decode_frame(view) == ["HP1:VIEW"]
    assert decode_frame(np.dstack([image] * 3)[:, 50:700]) == ["HP1:VIEW"]


def test_two_codes_give_two_texts_and_a_repeated_code_gives_one() -> None:
    a, b = code_image("HP1:FIRST", 4), code_image("HP1:SECOND", 4)
    height = max(a.shape[0], b.shape[0])
    a, b = (cv2.copyMakeBorder(im, 0, height - im.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=255) for im in (a, b))
    assert sorted(decode_frame(np.hstack([a, b]))) == ["HP1:FIRST", "HP1:SECOND"]
    assert decode_frame(np.hstack([a, a])) == ["HP1:FIRST"]


def _corpus_cases() -> list[tuple[str, str, bool]]:
    cases = []
    for path in sorted(CORPUS.glob("*/2DCode/raw/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        expected = data.get("EXPECTEDRESULTS", {}).get("EXPECTEDPICTUREDECODE")
        if "2DCODE" in data and "PREFIX" in data and expected is not None:
            cases.append((str(path.relative_to(CORPUS)), data["PREFIX"], expected))
    return cases


CORPUS_CASES = _corpus_cases()


@pytest.mark.slow
def test_dgc_testdata_pictures_decode_to_their_prefix_text_as_expected() -> None:
    """EXPECTEDPICTUREDECODE: the base64 PNG in 2DCODE decodes to the PREFIX text (or must not)."""
    assert CORPUS_CASES, f"dgc-testdata corpus missing at {CORPUS}"
    chain = DecoderChain(("zxing",))
    failures = []
    for name, prefix, expected in CORPUS_CASES:
        data = json.loads((CORPUS / name).read_text(encoding="utf-8"))
        png = np.frombuffer(base64.b64decode(data["2DCODE"]), np.uint8)
        image = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)  # common/Q1 is not a PNG at all
        texts = [] if image is None else chain.decode(image)
        if (texts == [prefix]) != expected:
            failures.append((name, expected, [t[:20] for t in texts]))
    assert failures == []
    assert sum(expected for _, _, expected in CORPUS_CASES) > 100


def test_dgc_testdata_png_files_read_as_hc1_text_by_zxing_alone() -> None:
    # png/N.png is not always the picture of raw/N.json (GR/3 differs), so only the prefix is known.
    pngs = sorted(CORPUS.glob("*/2DCode/png/*.png"))
    assert pngs
    zxing_only = DecoderChain(("zxing",))
    for png in pngs:
        texts = decode_image_file(png, zxing_only)
        assert len(texts) == 1 and texts[0].startswith("HC1:") and len(texts[0]) > 100, png


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640), np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.zeros((1, 1), np.uint8),
        np.zeros((3, 5000), np.uint8),
    ],
    ids=["black", "white", "noise", "one-pixel", "sliver"],
)
def test_frames_without_a_code_give_no_texts(frame: np.ndarray) -> None:
    assert decode_frame(frame) == []


def test_synthetic_empty_frames_with_phones_and_signs_give_no_texts() -> None:
    for frame in generate(12, variants=("empty",)):
        assert decode_frame(frame.image) == []


@pytest.mark.slow
def test_textured_region_locator_finds_codes_zxing_could_not_read() -> None:
    zxing_only = DecoderChain(("zxing",))
    missed = [f for f in generate(10, variants=("blur1.5", "small")) if not zxing_only.decode(f.image)]
    assert missed
    for frame in missed:
        assert frame.corners is not None
        cx, cy = frame.corners.mean(axis=0)
        best = textured_regions(as_gray(frame.image))[0]
        assert best.x <= cx <= best.x + best.width and best.y <= cy <= best.y + best.height


def _ungated() -> DecoderChain:
    """The default chain with the texture gate open: every dense patch is retried, as before it."""
    return DecoderChain((ZxingStage(), EnhancedCropStage(min_texture=0.0)))


def test_frames_without_a_code_skip_the_enhanced_retry_even_with_text_in_view() -> None:
    # Count the passes, not the time: half these frames hold a printed notice full of text.
    chain = DecoderChain()
    frames = list(generate(12, variants=("empty",))) + list(generate(3, variants=("flat",)))
    dense = [f for f in frames if textured(as_gray(f.image))]
    assert len(dense) >= 3  # the locator does see texture here: the gate, not the scene, stops it
    assert sum(len(_ungated().run(f.image)[1].retried) for f in dense) >= len(dense)
    for frame in frames:
        texts, context = chain.run(frame.image)
        assert texts == [] and context.retried == [], (frame.variant, frame.index)
    assert all(t.qr_texture < MIN_QR_TEXTURE for f in dense for t in textured(as_gray(f.image)))


@pytest.mark.slow
def test_texture_gate_lets_through_every_code_the_ungated_chain_reads() -> None:
    gated, ungated = DecoderChain(), _ungated()
    frames = list(generate(10, variants=("blur1.5", "small", "perspective")))
    through_texture = 0
    for frame in frames:
        texts, context = ungated.run(frame.image)
        if frame.text in texts:
            assert gated.decode(frame.image) == [frame.text], (frame.variant, frame.index)
            through_texture += any(not any(r.overlaps(s) for s in context.suspects) for r in context.retried)
    assert through_texture >= 3  # codes zxing-cpp saw nothing of, found by their texture alone


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("CHECKPOINT_QR_PHOTOS"),
    reason="CHECKPOINT_QR_PHOTOS (a folder of real QR photos, e.g. zxing's blackbox qrcode-*) is not set",
)
def test_texture_gate_lets_through_every_real_photo_the_ungated_chain_reads() -> None:
    folder = Path(os.environ["CHECKPOINT_QR_PHOTOS"])
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
    assert photos, f"no images under {folder}"
    gated, ungated, zxing_only = DecoderChain(), _ungated(), DecoderChain(("zxing",))
    beyond = 0
    for path in photos:
        image = decode_module.read_image_file(path)
        texts = ungated.decode(image)
        assert gated.decode(image) == texts, path
        beyond += bool(texts) and not zxing_only.decode(image)
    assert beyond >= 1  # the photos the chain reads beyond zxing-cpp are among them


@pytest.mark.parametrize(
    "garbage",
    [
        np.zeros((480, 640), np.float32),
        np.zeros((480, 640), np.uint16),
        np.zeros((480, 640), bool),
        np.zeros((0, 0), np.uint8),
        np.zeros((480, 0, 3), np.uint8),
        np.zeros((640,), np.uint8),
        np.zeros((4, 4, 4, 4), np.uint8),
        np.zeros((48, 64, 2), np.uint8),
        [[0, 255], [255, 0]],
        None,
        b"HC1:not a frame",
    ],
    ids=["float32", "uint16", "bool", "zero-size", "zero-width", "1-d", "4-d", "2-channel"]
    + ["list", "none", "bytes"],
)
def test_garbage_frames_raise_bad_frame(garbage: object) -> None:
    with pytest.raises(BadFrame) as info:
        decode_frame(garbage)  # type: ignore[arg-type]
    assert info.value.reason == "bad_frame"


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.float64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
    )
)
def test_any_array_gives_texts_or_bad_frame_never_a_crash(array: np.ndarray) -> None:
    try:
        assert isinstance(decode_frame(array), list)
    except BadFrame:
        pass


@pytest.mark.slow
def test_enhancement_reads_synthetic_frames_that_zxing_alone_misses_without_wrong_reads() -> None:
    zxing_only, default = DecoderChain(("zxing",)), DecoderChain()
    frames = list(generate(8, variants=("blur1.5", "small")))
    alone = [f.text in zxing_only.decode(f.image) for f in frames]
    chained = [default.decode(f.image) for f in frames]
    assert all(texts in ([], [f.text]) for f, texts in zip(frames, chained))
    assert sum(f.text in texts for f, texts in zip(frames, chained)) > sum(alone)
    assert all(f.text in texts for f, texts, a in zip(frames, chained, alone) if a)


@pytest.mark.parametrize("stage", ["pyzbar", "opencv"])
def test_fallback_decoders_read_a_clean_code_alone(stage: str) -> None:
    assert DecoderChain((stage,)).decode(code_image("HP1:FALLBACK", 5)) == ["HP1:FALLBACK"]


def test_missing_libzbar_leaves_pyzbar_out_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # None in sys.modules makes `import pyzbar` raise ImportError, as a missing libzbar does.
    monkeypatch.setitem(sys.modules, "pyzbar", None)
    monkeypatch.setitem(sys.modules, "pyzbar.pyzbar", None)
    monkeypatch.setattr(decode_module, "_reported_unavailable", set())
    with caplog.at_level(logging.WARNING, logger="agent.decode"):
        first = DecoderChain(("zxing", "pyzbar"))
        second = DecoderChain(("pyzbar", "zxing"))
    assert first.names == second.names == ["zxing"]
    warnings = [r for r in caplog.records if "pyzbar" in r.getMessage()]
    assert len(warnings) == 1 and "libzbar0" in warnings[0].getMessage()
    assert first.decode(code_image("HP1:NOZBAR", 4)) == ["HP1:NOZBAR"]
    with pytest.raises(DecoderUnavailable):
        DecoderChain(("pyzbar",))


def test_unknown_stage_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown decoder stage"):
        DecoderChain(("zxing", "tesseract"))


def test_image_files_png_and_jpeg_read(tmp_path: Path) -> None:
    png, jpg = tmp_path / "code.png", tmp_path / "photo.jpg"
    segno.make_qr("HP1:FILE", error="m").save(str(png), scale=4)
    frame = synthetic_frame("clean", 0)
    cv2.imwrite(str(jpg), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert decode_image_file(png) == ["HP1:FILE"]
    assert decode_image_file(str(jpg)) == [frame.text]


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "truncated-png"])
def test_unreadable_image_files_raise_unreadable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.png"
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("HC1:this is text, not a picture")
    elif kind == "truncated-png":
        segno.make_qr("HP1:CUT").save(str(path), scale=4)
        path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(Unreadable) as info:
        decode_image_file(path)
    assert info.value.reason == "unreadable" and str(path) in str(info.value)


@pytest.mark.slow
def test_synthetic_frames_are_deterministic_and_show_their_text() -> None:
    a, b = synthetic_frame("perspective", 3), synthetic_frame("perspective", 3)
    assert np.array_equal(a.image, b.image) and a.text == b.text
    assert a.image.shape == (480, 640, 3) and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, synthetic_frame("perspective", 4).image)
    assert synthetic_frame("empty", 0).text is None and synthetic_frame("empty", 0).corners is None
    assert a.corners is not None and a.corners.shape == (4, 2)
    assert (a.corners >= 0).all() and (a.corners[:, 0] < 640).all() and (a.corners[:, 1] < 480).all()
    lengths = {len(synthetic_frame("clean", i).text or "") for i in range(2)}
    assert min(lengths) in range(290, 310) and max(lengths) in range(590, 610)
    assert set(VARIANTS) == {"clean", "tilt", "perspective", "blur1.0", "blur1.5"} | {
        "lowcontrast", "jpeg40", "small", "empty", "flat"
    }
    assert synthetic_frame("flat", 0).text is None and synthetic_frame("flat", 0).corners is None
    assert decode_frame(synthetic_frame("clean", 5).image) == [synthetic_frame("clean", 5).text]


def test_enhancement_skips_suspect_boxes_outside_the_frame() -> None:
    gray = np.full((100, 100), 255, np.uint8)
    outside = [Region(-500, -500, 10, 10), Region(400, 400, 50, 50), Region(0, 0, 0, 0)]
    assert EnhancedCropStage().decode(FrameContext(gray, list(outside))) == []


@pytest.mark.parametrize("eci", [False, True])
@pytest.mark.parametrize("stage", ["zxing", "pyzbar"])
def test_utf8_chinese_text_reads_back_with_and_without_eci(stage: str, eci: bool) -> None:
    buffer = io.BytesIO()
    segno.make_qr("绿码 HP1:访客", eci=eci).save(buffer, kind="png", scale=4)
    image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert DecoderChain((stage,)).decode(image) == ["绿码 HP1:访客"]
