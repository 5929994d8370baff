"""Where a QR code probably is in a frame that gave no read, and how to make it readable.

No library locates "QR-like texture" cheaply (zxing-cpp reports only symbols whose finder
patterns it found, OpenCV's detectors cost 5-12 ms), so the locator here is a small hand-written
one: about 0.1 ms on 640x480 at 2 cores. It runs only after the first decoder failed, and it
is also the gate of the costly retry: a region is offered only when its texture is a code's, not
printed text's (docs/benchmarks.md, "the texture gate").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Locator tuning, measured with bench/frames.py (see docs/benchmarks.md): a QR code has sharp
# edges in both directions in most 16x16 cells; the smooth or one-directional clutter of a
# scene does not. These values found a region on every missed code and on no empty frame.
EDGE_THRESHOLD = 12  # grey-level step between neighbouring pixels at half resolution
CELL_DENSITY = 0.2  # share of a cell's pixels with edges both ways
CELL = 16  # cell side in full-resolution pixels
MIN_CELLS = 16  # a region below 4x4 cells (64x64 px) is too small to hold a readable code
MAX_REGIONS = 2
# The texture gate: a QR code's mask keeps dark and light modules near half and half, and its
# modules give edges both ways in almost every cell; the ink of printed text covers far less of
# its cells. So a region is offered for the costly retry only when its mean edge density plus
# the median share of dark pixels in its cells (below each cell's mid-grey) reaches this. On
# bench/frames.py seeds 2026, 7, 11-16 every code read through texture alone scored >= 0.856,
# every patch of an empty frame (signs full of text, phones without a code) <= 0.738; on seeds
# 17-21, kept aside to check, >= 0.866 and <= 0.732. Codes zxing-cpp saw are retried regardless.
MIN_QR_TEXTURE = 0.79

# Enhancement: a strong unsharp mask, then a 2x bicubic upscale. The unsharp mask restores module
# edges (blur, JPEG); upscaling gives the detector more pixels per module (small codes).
# Sharpening before upscaling reads as many codes as after and costs a quarter.
UPSCALE = 2.0
SHARPEN_SIGMA = 1.0
SHARPEN_AMOUNT = 5.0
MAX_CROP_SIDE = 480  # larger crops are upscaled less, so enhancement stays ~1-2 ms


@dataclass(frozen=True)
class Region:
    """An axis-aligned box in frame pixels that probably holds a QR code."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        """The box's area in pixels."""
        return self.width * self.height

    def overlaps(self, other: Region) -> bool:
        """True when the two boxes share more than half of the smaller one."""
        ix = max(0, min(self.x + self.width, other.x + other.width) - max(self.x, other.x))
        iy = max(0, min(self.y + self.height, other.y + other.height) - max(self.y, other.y))
        return ix * iy > 0.5 * min(self.area, other.area)


def region_from_points(points: list[tuple[float, float]]) -> Region:
    """The bounding box of a symbol's corner points."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = int(min(xs)), int(min(ys))
    return Region(x0, y0, int(max(xs)) - x0 + 1, int(max(ys)) - y0 + 1)


@dataclass(frozen=True)
class Textured:
    """A patch of dense two-directional edges, with the measures the texture gate uses."""

    region: Region
    edge_density: float  # mean share of pixels with edges both ways, over its cells
    dark_share: float  # median share of pixels darker than their cell's mid-grey

    @property
    def qr_texture(self) -> float:
        """The gate's score: MIN_QR_TEXTURE or more looks like a code, less like printed text."""
        return self.edge_density + self.dark_share


def _dark_share(cells: np.ndarray, step: int) -> np.ndarray:
    """Per step x step cell of `cells`, the share (0-255) of pixels darker than its mid-grey."""
    rows, cols = cells.shape[0] // step, cells.shape[1] // step
    block = np.ones((step, step), np.uint8)
    # With the anchor at the kernel's corner, pixel (y, x) of the dilation is the maximum of the
    # block starting there, so every step-th pixel is one cell's maximum: OpenCV's separable
    # filters, ~20x faster than numpy reductions over a blocked view.
    top = cv2.dilate(cells, block, anchor=(0, 0))[::step, ::step]
    bottom = cv2.erode(cells, block, anchor=(0, 0))[::step, ::step]
    middle = cv2.addWeighted(top, 0.5, bottom, 0.5, 0)
    spread = np.repeat(np.repeat(middle, step, axis=0), step, axis=1)
    darker = cv2.compare(cells, spread, cv2.CMP_LT)
    return cv2.resize(darker, (cols, rows), interpolation=cv2.INTER_AREA)


def textured(gray: np.ndarray) -> list[Textured]:
    """Every patch of dense two-directional edges of at least MIN_CELLS cells, unranked."""
    if gray.shape[0] < 2 * CELL or gray.shape[1] < 2 * CELL:
        return []
    # A pyramid step, not 2x2 means: means are cheaper but shift the boxes, and one benchmark code
    # (blur1.5, seed 15, frame 17) was then cropped a module short and lost.
    half = cv2.pyrDown(gray)
    h, w = half.shape
    edges_x = cv2.absdiff(half[:, 1:], half[:, :-1])[: h - 1, :]
    edges_y = cv2.absdiff(half[1:, :], half[:-1, :])[:, : w - 1]
    both = cv2.min(edges_x, edges_y)
    _, mask = cv2.threshold(both, EDGE_THRESHOLD, 255, cv2.THRESH_BINARY)
    step = CELL // 2
    cols, rows = (w - 1) // step, (h - 1) // step
    if cols == 0 or rows == 0:
        return []
    density = cv2.resize(mask[: rows * step, : cols * step], (cols, rows), interpolation=cv2.INTER_AREA)
    busy = (density > 255 * CELL_DENSITY).astype(np.uint8)
    if np.count_nonzero(busy) < MIN_CELLS:
        return []  # a flat or lightly cluttered frame: nothing can pass, skip the labelling
    count, labels, stats, _ = cv2.connectedComponentsWithStats(busy, connectivity=8)
    found = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < MIN_CELLS:
            continue
        x, y = int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP])
        cw, ch = int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT])
        # Only the patch's own box is measured: the dark share is the costly measure here.
        cells = labels[y : y + ch, x : x + cw] == i
        roi = np.ascontiguousarray(half[y * step : (y + ch) * step, x * step : (x + cw) * step])
        dark = _dark_share(roi, step)[cells]
        found.append(Textured(
            Region(x * CELL, y * CELL, cw * CELL, ch * CELL),
            float(density[y : y + ch, x : x + cw][cells].mean()) / 255,
            float(np.median(dark)) / 255,
        ))
    return found


def textured_regions(
    gray: np.ndarray, limit: int = MAX_REGIONS, min_texture: float = MIN_QR_TEXTURE
) -> list[Region]:
    """Patches whose texture is a QR code's (score >= min_texture), densest first."""
    # Densest first: a code is denser than printed text (0.33-0.53 vs 0.24-0.36 on the benchmark
    # frames), so when both pass the code is tried first.
    passing = [t for t in textured(gray) if t.qr_texture >= min_texture]
    passing.sort(key=lambda t: -t.edge_density)
    return [t.region for t in passing[:limit]]


def merge_regions(regions: list[Region], limit: int = MAX_REGIONS) -> list[Region]:
    """Drop boxes that overlap an earlier one; keep at most `limit`."""
    kept: list[Region] = []
    for region in regions:
        if region.area > 0 and not any(region.overlaps(k) for k in kept):
            kept.append(region)
        if len(kept) == limit:
            break
    return kept


def crop(gray: np.ndarray, region: Region, margin: float = 0.15) -> np.ndarray:
    """The region plus a margin (the code's quiet zone), clipped to the frame."""
    height, width = gray.shape[:2]
    mx = int(region.width * margin) + 8
    my = int(region.height * margin) + 8
    x0, y0 = max(0, region.x - mx), max(0, region.y - my)
    x1, y1 = min(width, region.x + region.width + mx), min(height, region.y + region.height + my)
    return gray[y0:y1, x0:x1]


def enhance(patch: np.ndarray) -> np.ndarray:
    """Upscale and sharpen a grayscale patch so that a decoder gets crisp, larger modules."""
    blurred = cv2.GaussianBlur(patch, (0, 0), SHARPEN_SIGMA)
    sharp = cv2.addWeighted(patch, 1.0 + SHARPEN_AMOUNT, blurred, -SHARPEN_AMOUNT, 0)
    side = max(patch.shape[:2])
    factor = UPSCALE if side <= MAX_CROP_SIDE else max(1.0, UPSCALE * MAX_CROP_SIDE / side)
    if factor > 1.0:
        sharp = cv2.resize(sharp, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return sharp
