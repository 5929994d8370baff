"""Synthetic camera frames of a phone screen showing a QR code, seeded and deterministic.

Used by `bench/decode.py`, by tests, and by anything that needs realistic frames without a
camera (e.g. a camera simulator). Every frame is generated from (seed, variant, index) alone,
so frame 7 of "blur1.5" is the same picture on every machine and in every run.

Variants: clean, tilt, perspective, blur1.0, blur1.5, lowcontrast, jpeg40, small, and two without
a code: empty (the cluttered scene, half with a phone showing no code, half with a printed notice)
and flat (a plain wall or floor: smooth colour, defocus and sensor noise only).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import base45
import cv2
import numpy as np
import segno

VARIANTS: tuple[str, ...] = (
    "clean",
    "tilt",
    "perspective",
    "blur1.0",
    "blur1.5",
    "lowcontrast",
    "jpeg40",
    "small",
    "empty",
    "flat",
)
EMPTY_VARIANTS: tuple[str, ...] = ("empty", "flat")  # the variants that show no code
CODE_LENGTHS: tuple[int, ...] = (300, 600)
PREFIXES: tuple[str, ...] = ("HP1:", "HC1:")


@dataclass(frozen=True)
class SyntheticFrame:
    """One generated frame and the text it shows (None for an empty frame)."""

    variant: str
    index: int
    image: np.ndarray  # BGR uint8, shape (height, width, 3)
    text: str | None
    corners: np.ndarray | None = None  # the code's corners (4x2 float, frame pixels), clockwise


def code_text(length: int, rng: np.random.Generator, prefix: str = "HC1:") -> str:
    """A base45 code text of about `length` characters, like an `HC1:`/`HP1:` health code."""
    # Real codes are zlib-compressed COSE: base45 of near-random bytes. 2 bytes -> 3 characters.
    n_bytes = max(1, (length - len(prefix)) * 2 // 3)
    body = rng.integers(0, 256, size=n_bytes, dtype=np.uint8).tobytes()
    return prefix + base45.b45encode(body).decode("ascii")


def qr_modules(text: str) -> np.ndarray:
    """The QR matrix of `text` as a bool array (True = dark), quiet zone of 4 modules included."""
    # Error level M, as phone apps show (M keeps a 600-character code at version 17).
    qr = segno.make_qr(text, error="m", boost_error=False)
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    return np.pad(matrix, 4, constant_values=False)


def render_code(text: str, side_px: int, dark: int = 20, light: int = 245) -> np.ndarray:
    """`text` as a grayscale QR image `side_px` wide, anti-aliased like a downscaled screen."""
    modules = qr_modules(text)
    scale = max(1, -(-4 * side_px // modules.shape[0]))  # render big, then area-downsample
    big = np.where(np.kron(modules, np.ones((scale, scale), dtype=bool)), dark, light).astype(np.uint8)
    return cv2.resize(big, (side_px, side_px), interpolation=cv2.INTER_AREA)


def _phone_canvas(
    code: np.ndarray | None, side: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A portrait phone screen (bezel, coloured header, text bars, the code) and the code's corners."""
    width = int(side * 1.3)
    height = int(width * 2.0)
    bezel = max(4, side // 30)
    canvas = np.full((height + 2 * bezel, width + 2 * bezel, 3), 25, dtype=np.uint8)
    screen = canvas[bezel : bezel + height, bezel : bezel + width]
    screen[:] = int(rng.integers(225, 250))
    header = (int(rng.integers(40, 90)), int(rng.integers(150, 200)), int(rng.integers(40, 90)))  # green
    screen[: height // 10] = header
    x0 = (width - side) // 2
    y0 = height // 10 + max(6, side // 12)
    if code is not None:
        screen[y0 : y0 + side, x0 : x0 + side] = code[:, :, None]
    # Lines of "text" under the code: what an app shows around it.
    for i in range(4):
        y = y0 + side + side // 10 + i * (side // 9)
        w = int(width * rng.uniform(0.3, 0.8))
        screen[y : y + max(2, side // 30), (width - w) // 2 : (width + w) // 2] = 120
    corners = np.float32(
        [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]]
    ) + np.float32([bezel, bezel])
    return canvas, corners


def _smooth(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour blobs (float32 BGR): a wall, a floor, an out-of-focus background."""
    low = rng.uniform(30, 200, size=(6, 8, 3)).astype(np.float32)
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A cluttered BGR scene: smooth colour blobs, a few hard-edged shapes."""
    image = _smooth(width, height, rng)
    for _ in range(int(rng.integers(3, 8))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
        colour = [float(c) for c in rng.uniform(0, 255, size=3)]
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, thickness=-1)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _sign(image, rng)
    return image


def _sign(image: np.ndarray, rng: np.random.Generator) -> None:
    """A printed notice on the wall: dense text, the clutter most like a code's texture."""
    height, width = image.shape[:2]
    w, h = int(rng.integers(width // 5, width // 2)), int(rng.integers(height // 5, height // 2))
    x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    image[y : y + h, x : x + w] = 235
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:"))
    scale = float(rng.uniform(0.3, 0.6))
    step = int(30 * scale) + 4
    for row in range(y + step, y + h - 2, step):
        words = "".join(rng.choice(alphabet, size=40))
        cv2.putText(image, words, (x + 4, row), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)


def _code_quad(variant: str, side: float, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Where the code's four corners land in the frame for this variant."""
    half = side / 2
    quad = np.float32([[-half, -half], [half, -half], [half, half], [-half, half]])
    if variant == "perspective":
        # The phone tipped back or sideways: one edge shorter than the opposite one.
        k = rng.uniform(0.65, 0.85)
        edge = int(rng.integers(0, 4))
        a, b = edge, (edge + 1) % 4
        mid = (quad[a] + quad[b]) / 2
        quad[a] = mid + (quad[a] - mid) * k
        quad[b] = mid + (quad[b] - mid) * k
        angle = rng.uniform(-8, 8)
    elif variant == "tilt":
        angle = rng.choice([-1, 1]) * rng.uniform(10, 35)
    else:
        angle = rng.uniform(-4, 4)
    theta = np.deg2rad(angle)
    rotation = np.float32([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    quad = quad @ rotation.T
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    margin = 6
    cx = rng.uniform(margin - lo[0], width - margin - hi[0])
    cy = rng.uniform(margin - lo[1], height - margin - hi[1])
    return (quad + np.float32([cx, cy])).astype(np.float32)


def make_frame(
    variant: str,
    text: str | None,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
) -> np.ndarray:
    """One BGR frame of `variant` showing `text` (no code in the EMPTY_VARIANTS)."""
    return render_frame(variant, text, rng, size)[0]


def render_frame(
    variant: str,
    text: str | None,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
) -> tuple[np.ndarray, np.ndarray | None]:
    """A BGR frame of `variant` and the code's four corners in it (None without a code)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    width, height = size
    if variant == "flat":
        frame = np.clip(_smooth(width, height, rng), 0, 255).astype(np.uint8)
        return _camera(variant, frame, rng), None
    frame = _background(width, height, rng)
    short = min(width, height)
    if variant == "small":
        side = 0.25 * width
    else:
        side = rng.uniform(0.35, 0.6) * short
    show_phone = variant != "empty" or rng.random() < 0.5
    quad = None
    if show_phone:
        code = render_code(text, int(round(side))) if variant != "empty" and text else None
        canvas, corners = _phone_canvas(code, int(round(side)), rng)
        quad = _code_quad(variant, side, width, height, rng)
        homography = cv2.getPerspectiveTransform(corners, quad)
        warped = cv2.warpPerspective(canvas, homography, (width, height), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(
            np.full(canvas.shape[:2], 255, np.uint8), homography, (width, height), flags=cv2.INTER_LINEAR
        )
        alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
        frame = (warped * alpha + frame * (1.0 - alpha)).astype(np.uint8)
    return _camera(variant, frame, rng), (quad if variant != "empty" else None)


def _camera(variant: str, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the camera adds to the scene: defocus or blur, glare, sensor noise, JPEG."""
    width = frame.shape[1]
    if variant.startswith("blur"):
        sigma = float(variant[len("blur") :])
    else:
        # A fixed-focus webcam is never perfectly sharp: a little defocus on every frame.
        sigma = rng.uniform(0.5, 0.8)
    frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma)
    if variant == "lowcontrast":
        # A screen in sunlight: everything squeezed into a fifth of the range, under a glare
        # that brightens one side of the frame more than the other.
        ramp = np.linspace(0.0, rng.uniform(30, 60), width, dtype=np.float32)
        if rng.random() < 0.5:
            ramp = ramp[::-1]
        frame = np.clip(90 + frame.astype(np.float32) * 0.2 + ramp[None, :, None], 0, 255).astype(np.uint8)
    # Sensor noise on every frame.
    noisy = frame.astype(np.float32) + rng.normal(0, 3.0, size=frame.shape).astype(np.float32)
    frame = np.clip(noisy, 0, 255).astype(np.uint8)
    if variant == "jpeg40":
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 40])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        frame = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return frame


def frame_rng(seed: int, variant: str, index: int) -> np.random.Generator:
    """The random generator for one (seed, variant, index), independent of generation order."""
    return np.random.default_rng([seed, zlib.crc32(variant.encode()), index])


def synthetic_frame(
    variant: str, index: int, seed: int = 2026, size: tuple[int, int] = (640, 480)
) -> SyntheticFrame:
    """Frame `index` of `variant`: codes alternate 300/600 characters and `HP1:`/`HC1:`."""
    rng = frame_rng(seed, variant, index)
    text = None
    if variant not in EMPTY_VARIANTS:
        length = CODE_LENGTHS[index % len(CODE_LENGTHS)]
        prefix = PREFIXES[(index // len(CODE_LENGTHS)) % len(PREFIXES)]
        text = code_text(length, rng, prefix)
    image, corners = render_frame(variant, text, rng, size)
    return SyntheticFrame(variant, index, image, text, corners)


def generate(
    per_variant: int = 30,
    size: tuple[int, int] = (640, 480),
    seed: int = 2026,
    variants: tuple[str, ...] = VARIANTS,
) -> Iterator[SyntheticFrame]:
    """`per_variant` frames of each variant, in variant order."""
    for variant in variants:
        for index in range(per_variant):
            yield synthetic_frame(variant, index, seed, size)
