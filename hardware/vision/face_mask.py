"""Faces and masks in one camera frame: the vendored SSD face-mask model (models/) run with LiteRT.

The model (AIZOOTech FaceMaskDetection, MIT, see models/PROVENANCE.txt) takes a 260x260 RGB
frame in [0, 1] and gives, for each of its 5972 anchors, box offsets and (mask, no mask) scores.
This module decodes them (anchors, variances), keeps the confident ones, suppresses overlaps with
OpenCV's NMS and returns faces in the frame's own pixels. Nothing is stored: a look is a verdict.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from protocols.errors import ConfigError

MODEL_PATH = Path(__file__).with_name("models") / "face_mask_detection.tflite"
INPUT_SIZE = 260
FEATURE_MAPS = (33, 17, 9, 5, 3)
ANCHOR_SIZES = ((0.04, 0.056), (0.08, 0.11), (0.16, 0.22), (0.32, 0.45), (0.64, 0.72))
ANCHOR_RATIOS = (1.0, 0.62, 0.42)
VARIANCES = np.array([0.1, 0.1, 0.2, 0.2], dtype=np.float32)
# Chosen on the 80 dev photos (tests/data/face-mask, bench/mask.py --tune): see docs/agent.md "Masks".
FACE_THRESHOLD = 0.5  # a face is an anchor whose best class score reaches this
NO_MASK_THRESHOLD = 0.5  # p(no mask) at or above this: the face wears no mask
NMS_IOU = 0.4
# The frame is letterboxed into the model's square with a grey border: its longest side fills
# 1 / (1 + 2 * BORDER) of the input. The model's largest anchor is 0.72 of the input, so a face that
# fills the frame (a person close to the camera, a tight crop) stays within its anchors, and faces keep
# their shape instead of being stretched. Chosen on a 600-photo tuning set (docs/benchmarks.md, "Mask
# detection"): stretching gave 99.0% / 95.2% no-mask recall / precision there, this border 99.7% / 97.1%.
BORDER = 0.25
GREY = 127


@dataclass(frozen=True)
class Face:
    """One face: does it wear a mask, the model's score for that verdict, its box [x, y, w, h] in frame pixels."""

    mask: bool
    score: float
    box: tuple[int, int, int, int]
    no_mask_p: float  # the model's probability of "no mask", whatever the verdict

    def as_json(self) -> dict[str, Any]:
        """The shape `checkpoint mask` prints."""
        return {"mask": self.mask, "score": round(self.score, 4), "box": list(self.box)}


def make_anchors() -> np.ndarray:
    """The model's 5972 anchors as (xmin, ymin, xmax, ymax) in [0, 1], in its output order."""
    out = []
    for size, scales in zip(FEATURE_MAPS, ANCHOR_SIZES):
        centres = (np.arange(size, dtype=np.float32) + 0.5) / size
        cx, cy = np.meshgrid(centres, centres)
        # Each scale at the first ratio, then the first scale at the other ratios (upstream's order).
        shapes = [(s, ANCHOR_RATIOS[0]) for s in scales] + [(scales[0], r) for r in ANCHOR_RATIOS[1:]]
        halves = []
        for scale, ratio in shapes:
            w, h = scale * np.sqrt(ratio), scale / np.sqrt(ratio)
            halves.append((-w / 2, -h / 2, w / 2, h / 2))
        grid = np.stack([cx, cy, cx, cy], axis=-1)[:, :, None, :]  # (size, size, 1, 4)
        out.append((grid + np.array(halves, dtype=np.float32)[None, None]).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


ANCHORS = make_anchors()


def decode_boxes(offsets: np.ndarray, anchors: np.ndarray = ANCHORS) -> np.ndarray:
    """SSD offsets -> (xmin, ymin, xmax, ymax) in [0, 1] of the input."""
    centre = (anchors[:, :2] + anchors[:, 2:]) / 2
    size = anchors[:, 2:] - anchors[:, :2]
    scaled = offsets * VARIANCES
    c = scaled[:, :2] * size + centre
    wh = np.exp(scaled[:, 2:]) * size
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1)


def faces_from_outputs(offsets: np.ndarray, scores: np.ndarray, width: int, height: int,
                       face_threshold: float = FACE_THRESHOLD, no_mask_threshold: float = NO_MASK_THRESHOLD) -> list[Face]:
    """The model's raw outputs ([5972, 4], [5972, 2]) -> faces in a width x height frame, best first."""
    confidence = scores.max(axis=1)
    keep = np.flatnonzero(confidence >= face_threshold)
    if keep.size == 0:
        return []
    boxes = np.clip(decode_boxes(offsets[keep], ANCHORS[keep]), 0.0, 1.0) * np.array([width, height, width, height], dtype=np.float32)
    xywh = [(float(x0), float(y0), float(x1 - x0), float(y1 - y0)) for x0, y0, x1, y1 in boxes]
    chosen = np.array(cv2.dnn.NMSBoxes(xywh, confidence[keep].tolist(), face_threshold, NMS_IOU)).reshape(-1)
    faces = []
    for i in chosen:
        p_mask, p_no = (float(v) for v in scores[keep[i]])
        unmasked = p_no >= no_mask_threshold
        x, y, w, h = (round(v) for v in xywh[i])
        faces.append(Face(mask=not unmasked, score=p_no if unmasked else p_mask, box=(x, y, w, h), no_mask_p=p_no))
    return sorted(faces, key=lambda f: -max(f.score, 1 - f.score))


class MaskDetector:
    """The model loaded once; look(frame) is thread-safe (one inference at a time)."""

    def __init__(self, model_path: Path = MODEL_PATH, threads: int = 1,
                 face_threshold: float = FACE_THRESHOLD, no_mask_threshold: float = NO_MASK_THRESHOLD):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # the agent extra brings it; say which package is missing
            raise ConfigError("[mask] detector = \"litert\" needs the ai-edge-litert package "
                              "(pip install 'venue-checkpoint[agent]')") from exc
        if not model_path.is_file():
            raise ConfigError(f"mask model not found: {model_path}")
        self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outs = {tuple(o["shape"])[-1]: o["index"] for o in self._interpreter.get_output_details()}
        self._boxes, self._scores = outs[4], outs[2]
        self.face_threshold, self.no_mask_threshold = face_threshold, no_mask_threshold
        self._lock = threading.Lock()
        self.last_ms = 0.0

    def look(self, frame: np.ndarray) -> list[Face]:
        """Faces in a BGR (OpenCV) or grey frame, best first; [] when no face is found."""

        started = time.perf_counter()
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        height, width = frame.shape[:2]
        canvas, side, left, top = letterbox(frame)
        tensor = (cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[None]
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            offsets = self._interpreter.get_tensor(self._boxes)[0].copy()
            scores = self._interpreter.get_tensor(self._scores)[0].copy()
        faces = [_in_frame(f, left, top, width, height)
                 for f in faces_from_outputs(offsets, scores, side, side, self.face_threshold, self.no_mask_threshold)]
        self.last_ms = (time.perf_counter() - started) * 1000
        return faces


def letterbox(frame: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """The model's input square (BGR) and, in frame pixels, the square's side and the frame's left/top offset in it."""
    height, width = frame.shape[:2]
    side = round(max(height, width) * (1 + 2 * BORDER))
    scale = INPUT_SIZE / side
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    # INTER_AREA when shrinking (camera frames are larger than the input): no aliasing of fine texture.
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), GREY, dtype=np.uint8)
    x0, y0 = (INPUT_SIZE - w) // 2, (INPUT_SIZE - h) // 2
    canvas[y0:y0 + h, x0:x0 + w] = small
    return canvas, side, round(x0 / scale), round(y0 / scale)


def _in_frame(face: Face, left: int, top: int, width: int, height: int) -> Face:
    """A face found in the letterboxed square, its box moved back into (and clipped to) the frame."""
    x, y, w, h = face.box
    x0, y0 = min(max(x - left, 0), width), min(max(y - top, 0), height)
    x1, y1 = min(max(x - left + w, 0), width), min(max(y - top + h, 0), height)
    return Face(mask=face.mask, score=face.score, box=(x0, y0, x1 - x0, y1 - y0), no_mask_p=face.no_mask_p)


def wears_mask(faces: list[Face]) -> bool | None:
    """The gate's verdict from one look: None (no face), False if the main (largest) face is unmasked, else True."""
    if not faces:
        return None
    main = max(faces, key=lambda f: f.box[2] * f.box[3])
    return main.mask
