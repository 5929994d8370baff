"""Mask detection: the vendored model decoded right, `checkpoint mask`, and a gate deciding on what it sees."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from checkpoint.cli import main
from hardware.vision.face_mask import (ANCHORS, BORDER, GREY, INPUT_SIZE, MaskDetector, decode_boxes, faces_from_outputs,
                                       letterbox, wears_mask)
from tests.agent_gate_helpers import start_simulation

DEV = Path(__file__).parent / "data" / "face-mask"


def photos(label: str) -> list[Path]:
    return sorted(p for p in (DEV / label).iterdir() if p.suffix.lower() in (".jpg", ".png"))


def test_anchors_and_zero_offsets_decode_to_the_anchors():
    assert ANCHORS.shape == (5972, 4)  # 33², 17², 9², 5², 3² cells x 4 anchors, the model's output length
    np.testing.assert_allclose(decode_boxes(np.zeros((5972, 4), np.float32)), ANCHORS, atol=1e-6)


def test_offsets_decode_with_the_variances_and_overlaps_are_one_face_in_frame_pixels():
    scores = np.zeros((5972, 2), np.float32)
    scores[600] = (0.1, 0.9)  # one face, seen by anchor 600 (shifted, resized) ...
    scores[601] = (0.2, 0.8)  # ... and, less sure, by anchor 601 of the same cell: suppressed
    offsets = np.zeros((5972, 4), np.float32)
    offsets[600] = (1.0, -0.5, 0.5, -0.5)
    faces = faces_from_outputs(offsets, scores, 640, 480)
    assert len(faces) == 1 and faces[0].mask is False and faces[0].score == pytest.approx(0.9)
    # By hand: centre moves by variance 0.1 x offset x anchor size, size scales by exp(0.2 x offset).
    (ax0, ay0, ax1, ay1), (aw, ah) = ANCHORS[600], ANCHORS[600, 2:] - ANCHORS[600, :2]
    cx, cy = (ax0 + ax1) / 2 + 0.1 * 1.0 * aw, (ay0 + ay1) / 2 + 0.1 * -0.5 * ah
    w, h = aw * np.exp(0.2 * 0.5), ah * np.exp(0.2 * -0.5)
    expected = ((cx - w / 2) * 640, (cy - h / 2) * 480, w * 640, h * 480)
    assert faces[0].box == pytest.approx(expected, abs=1)
    assert faces_from_outputs(offsets, np.full((5972, 2), 0.2, np.float32), 640, 480) == []


def test_a_frame_is_letterboxed_with_a_border_and_faces_come_back_in_frame_pixels():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:200, 300:400] = 255  # a white square where a face would be
    canvas, side, left, top = letterbox(frame)
    assert canvas.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert side == round(640 * (1 + 2 * BORDER)) and (left, top) == (pytest.approx(160, abs=2), pytest.approx(240, abs=2))  # centred in 960 px (to a pixel of the input)
    assert (canvas[0, 0] == GREY).all() and (canvas[INPUT_SIZE // 2, 5] == GREY).all()  # the border, not the frame
    # The square's pixels map back: the white square sits where the frame has it.
    scale = INPUT_SIZE / side
    y, x = round((240 + 150) * scale), round((160 + 350) * scale)
    assert (canvas[y, x] == 255).all()
    # A face found in the square is returned in the frame's pixels, clipped to the frame.
    det = MaskDetector()
    faces = det.look(cv2.imread(str(photos("without_mask")[0])))
    assert faces and all(f.box[0] >= 0 and f.box[1] >= 0 and f.box[2] > 0 and f.box[3] > 0 for f in faces)


@pytest.mark.slow
def test_detector_on_the_dev_photos_is_far_above_chance():
    det = MaskDetector()
    unmasked = [wears_mask(det.look(cv2.imread(str(p)))) is False for p in photos("without_mask")]
    masked_flagged = [wears_mask(det.look(cv2.imread(str(p)))) is False for p in photos("with_mask")]
    recall = sum(unmasked) / len(unmasked)
    precision = sum(unmasked) / max(1, sum(unmasked) + sum(masked_flagged))
    assert recall >= 0.95 and precision >= 0.85, (recall, precision)


def test_checkpoint_mask_prints_one_json_line_per_image(tmp_path):
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("no pixels here")
    files = [photos("without_mask")[0], bad]
    result = CliRunner().invoke(main, ["mask", *map(str, files)])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert result.exit_code == 1
    assert lines[0]["file"] == str(files[0]) and lines[0]["ms"] > 0
    assert lines[0]["faces"] and lines[0]["faces"][0]["mask"] is False and 0.5 <= lines[0]["faces"][0]["score"] <= 1
    x, y, w, h = lines[0]["faces"][0]["box"]
    height, width = cv2.imread(str(files[0])).shape[:2]
    assert 0 <= x < width and 0 <= y < height and 0 < w <= width and 0 < h <= height
    assert lines[1] == {"file": str(bad), "error": f"not a readable image: {bad}"}


def present(sim, person, face):
    """One person: a reading, then the code held up beside `face` (None: no face in view)."""
    sim.gate.devices.thermometer_simulator.set_temperature(36.5)
    time.sleep(0.2)
    sim.gate.devices.camera.present(person.code, 1.0, face=face)
    return sim.events.get(timeout=10)


@pytest.mark.slow
def test_gate_denies_an_unmasked_face_admits_a_masked_one_and_refers_no_face(tmp_path):
    sim = start_simulation(tmp_path, gate={"venue": "factory-1", "gate": "north-1", "open_s": 0.3,
                                           "venue_kind": "factory"}, mask={"detector": "litert"})
    try:
        assert sim.gate.loop.mask_watch is not None
        faces = sim.faces
        unmasked = present(sim, sim.factory.person("green"), faces[False][0])
        assert unmasked.decision == "deny"
        assert any(r.rule == "GATE-MASK-01" and r.outcome == "FAIL" and r.message_zh == "请佩戴口罩" for r in unmasked.reasons)
        time.sleep(1.2)
        masked = present(sim, sim.factory.person("green"), faces[True][0])
        assert masked.decision == "admit", masked.reasons
        time.sleep(1.2)
        nobody = present(sim, sim.factory.person("green"), None)
        assert nobody.decision == "refer"
        assert any(r.rule == "gate.mask_no_face" and r.outcome == "OPEN" for r in nobody.reasons)
    finally:
        sim.close()


def test_mask_detector_key_is_checked():
    from agent.config import parse_config
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="mask.detector"):
        parse_config({"gate": {"venue": "v", "gate": "g"}, "mask": {"detector": "camera"}},
                     {"CHECKPOINT_SUBJECT_KEY": "00" * 16})


@pytest.mark.slow
def test_simulated_people_are_judged_by_the_model_from_before_the_code_and_an_empty_gate_is_not_looked_at(tmp_path):
    sim = start_simulation(tmp_path, mask={"detector": "litert"})
    try:
        watch = sim.gate.loop.mask_watch
        time.sleep(1.0)  # an empty gate: frames read, none looked at
        assert sim.gate.loop.frames > 10 and watch.looks == 0
        unmasked = sim.present(sim.factory.person("no_mask"))
        assert unmasked is not None and unmasked.decision == "deny"
        assert any(r.rule == "GATE-MASK-01" and r.outcome == "FAIL" for r in unmasked.reasons)
        time.sleep(1.5)
        masked = sim.present(sim.factory.person("green"))
        assert masked is not None and masked.decision == "admit", masked.reasons
        assert watch.looks >= 2 and watch.answered_early >= 1  # the face was looked at before the phone came up
    finally:
        sim.close()
