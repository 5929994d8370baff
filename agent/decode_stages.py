"""The stages a decoder chain runs, each restricted to QR codes (all symbologies cost ~10x).

A stage reads a grayscale frame and returns the texts it read. Stages share a `FrameContext`
so that a later stage can use what an earlier one saw: zxing-cpp reports where it found a
symbol it could not decode, and the enhancement stage retries exactly there.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import zxingcpp

from agent.decode_regions import (
    MIN_QR_TEXTURE,
    Region,
    crop,
    enhance,
    merge_regions,
    region_from_points,
    textured_regions,
)
from protocols.errors import DecoderUnavailable

log = logging.getLogger(__name__)

QR_FORMATS = zxingcpp.BarcodeFormat.QRCode
MIN_PATCH_SIDE = 21  # the smallest QR code is 21 modules wide


@dataclass
class FrameContext:
    """One grayscale frame on its way through the chain, with what stages learnt about it."""

    gray: np.ndarray
    suspects: list[Region] = field(default_factory=list)  # symbols seen but not decoded
    retried: list[Region] = field(default_factory=list)  # crops the enhancement stage read again


class Stage(ABC):
    """One decoder pass over a frame."""

    name: str = "stage"

    @abstractmethod
    def decode(self, context: FrameContext) -> list[str]:
        """Texts read from the frame, in the order found (may repeat)."""


def _zxing_read(gray: np.ndarray, context: FrameContext | None = None, downscale: bool = True) -> list[str]:
    """zxing-cpp over `gray`; symbols with errors go to `context.suspects` when given."""
    texts: list[str] = []
    for barcode in zxingcpp.read_barcodes(
        gray,
        formats=QR_FORMATS,
        text_mode=zxingcpp.TextMode.Plain,
        try_downscale=downscale,
        return_errors=context is not None,
    ):
        if barcode.valid:
            texts.append(barcode.text)
        elif context is not None:
            p = barcode.position
            corners = [(q.x, q.y) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
            context.suspects.append(region_from_points(corners))
    return texts


class ZxingStage(Stage):
    """zxing-cpp on the whole frame: the fastest and most robust first pass (MEASURED.md)."""

    name = "zxing"

    def decode(self, context: FrameContext) -> list[str]:
        """Read every valid QR code; remember where invalid ones were."""
        return _zxing_read(context.gray, context)


class EnhancedCropStage(Stage):
    """zxing-cpp again on upscaled, sharpened crops where a code probably is."""

    name = "enhance"

    def __init__(self, min_texture: float = MIN_QR_TEXTURE) -> None:
        self.min_texture = min_texture  # the texture gate; 0 retries every dense patch (measuring)

    def decode(self, context: FrameContext) -> list[str]:
        """Retry on suspect symbols first, then on regions with a QR code's texture; else nothing."""
        # Only where zxing-cpp saw a symbol or the locator sees a code's texture: on a frame with
        # neither (most frames at an idle gate) the stage costs the locator alone.
        regions = merge_regions(context.suspects + textured_regions(context.gray, min_texture=self.min_texture))
        for region in regions:
            patch = crop(context.gray, region)
            if min(patch.shape[:2]) < MIN_PATCH_SIDE:
                continue  # a box at the frame's edge, clipped to nothing
            context.retried.append(region)
            # No downscaled tries: the crop was just upscaled on purpose.
            texts = _zxing_read(enhance(patch), downscale=False)
            if texts:
                return texts
        return []


class PyzbarStage(Stage):
    """ZBar through pyzbar: better on heavy blur, poor on perspective; ~9 ms per frame."""

    name = "pyzbar"

    def __init__(self) -> None:
        try:
            # Imported here: pyzbar fails at import when the libzbar0 system package is missing.
            from pyzbar import pyzbar
        except ImportError as exc:
            raise DecoderUnavailable(
                f"pyzbar cannot load ZBar ({exc}); install it with "
                "`apt-get install --no-install-recommends libzbar0`"
            ) from exc
        self._pyzbar: Any = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def decode(self, context: FrameContext) -> list[str]:
        """Read QR codes with ZBar."""
        results = self._pyzbar.decode(context.gray, symbols=self._symbols)
        return [r.data.decode("utf-8", errors="replace") for r in results]


class OpenCvStage(Stage):
    """OpenCV's QRCodeDetectorAruco: the weakest and slowest here, kept for measurement."""

    name = "opencv"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetectorAruco()

    def decode(self, context: FrameContext) -> list[str]:
        """Detect and decode every QR code OpenCV finds."""
        try:
            found, texts, _, _ = self._detector.detectAndDecodeMulti(context.gray)
        except cv2.error as exc:
            # OpenCV raises on degenerate geometry it found itself; for us that is "no read".
            log.debug("OpenCV QR detector failed on a frame: %s", exc)
            return []
        return [t for t in texts if t] if found else []


STAGES: dict[str, type[Stage]] = {
    "zxing": ZxingStage,
    "enhance": EnhancedCropStage,
    "pyzbar": PyzbarStage,
    "opencv": OpenCvStage,
}
# pyzbar and OpenCV read nothing that zxing-cpp plus enhancement missed on the benchmark
# variants (docs/benchmarks.md) and cost 5-10x more per frame: not in the default chain.
DEFAULT_STAGES: tuple[str, ...] = ("zxing", "enhance")
