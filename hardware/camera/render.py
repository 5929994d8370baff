"""Drawing simulated camera frames: a QR code (segno) or an image on a noisy, unevenly lit scene.

Written here rather than borrowed from bench/frames.py because hardware/ may import only
protocols/; this is the small subset a camera simulator needs.
"""

from __future__ import annotations

import cv2
import numpy as np
import segno


def qr_image(text: str, frame_height: int, fill: float = 0.6) -> np.ndarray:
    """The QR code of `text` as a grayscale image with a 4-module quiet zone, about fill*height tall."""
    qr = segno.make_qr(text, error="m", boost_error=False)
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    matrix = np.pad(matrix, 4, constant_values=False)
    # Whole pixels per module keep the edges sharp; at least 3 px, the readable minimum at 640x480.
    module_px = max(3, int(frame_height * fill) // matrix.shape[0])
    image = np.where(matrix, 30, 235).astype(np.uint8)  # a phone screen is never pure black/white
    return np.kron(image, np.ones((module_px, module_px), dtype=np.uint8))


def face_and_code(face: np.ndarray, text: str, width: int, height: int) -> np.ndarray:
    """A person at the gate: their face photo (grayscale) beside the phone showing the code of `text`."""
    code = qr_image(text, height, fill=0.5)
    gray = face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    # The face as tall as the frame allows beside the code: the camera sees a head and shoulders.
    room_w, room_h = max(1, width - code.shape[1] - 8), int(height * 0.9)
    scale = min(room_w / gray.shape[1], room_h / gray.shape[0])
    gray = cv2.resize(gray, (max(1, int(gray.shape[1] * scale)), max(1, int(gray.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    out = np.full((max(gray.shape[0], code.shape[0]), gray.shape[1] + 8 + code.shape[1]), 120, dtype=np.uint8)
    out[: gray.shape[0], : gray.shape[1]] = gray
    out[: code.shape[0], gray.shape[1] + 8 :] = code
    return out


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A grayscale copy of an image file's pixels, shrunk to fit the frame if needed."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, width / gray.shape[1], height / gray.shape[0])
    if scale < 1.0:
        gray = cv2.resize(gray, (int(gray.shape[1] * scale), int(gray.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return gray


def scene(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """An empty, unevenly lit grayscale scene: a gradient with some blobs (a wall, a coat)."""
    x = np.linspace(0, 1, width, dtype=np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = 70 + 60 * x + 40 * y
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(30, 120)
        shade = rng.uniform(-40, 40)
        yy, xx = np.ogrid[:height, :width]
        base += shade * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    return np.clip(base, 0, 255).astype(np.uint8)


def compose(background: np.ndarray, content: np.ndarray | None, x: int, y: int,
            noise: np.ndarray | None) -> np.ndarray:
    """A BGR frame: content pasted at (x, y) on the background, then sensor noise over everything."""
    frame = background.copy()
    if content is not None:
        h = min(content.shape[0], frame.shape[0] - y)
        w = min(content.shape[1], frame.shape[1] - x)
        frame[y : y + h, x : x + w] = content[:h, :w]
    if noise is not None:
        frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
