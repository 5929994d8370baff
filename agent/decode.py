"""Read QR codes from camera frames and image files with a chain of decoders.

The default chain is zxing-cpp, then (only when zxing-cpp read nothing) zxing-cpp again on
upscaled, sharpened crops of where a code probably is: where zxing-cpp saw a symbol, or where the
texture is a code's and not printed text's. Measured in docs/benchmarks.md.

    >>> from agent.decode import decode_image_file
    >>> decode_image_file("code.png")
    ['HC1:6BF...']
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable

import cv2
import numpy as np

from agent.decode_stages import DEFAULT_STAGES, STAGES, FrameContext, Stage
from protocols.errors import BadFrame, DecoderUnavailable, Unreadable

log = logging.getLogger(__name__)

_reported_unavailable: set[str] = set()
_report_lock = threading.Lock()


def _report_once(name: str, exc: DecoderUnavailable) -> None:
    """Log a missing decoder once per process, not once per chain or frame."""
    with _report_lock:
        if name in _reported_unavailable:
            return
        _reported_unavailable.add(name)
    log.warning("QR decoder %s unavailable, the chain runs without it: %s", name, exc)


def as_gray(frame: object) -> np.ndarray:
    """A contiguous uint8 grayscale view of a BGR, BGRA or grayscale frame, or BadFrame."""
    if not isinstance(frame, np.ndarray):
        raise BadFrame(f"a frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise BadFrame(f"a frame must be uint8, not {frame.dtype}")
    if frame.size == 0:
        raise BadFrame(f"the frame is empty (shape {frame.shape})")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGRA2GRAY)
    raise BadFrame(f"a frame must be HxW, HxWx1, HxWx3 or HxWx4, not shape {frame.shape}")


def build_stages(stages: Iterable[str | Stage]) -> list[Stage]:
    """Stage objects for names or instances; unavailable decoders are left out and logged once."""
    built: list[Stage] = []
    for item in stages:
        if isinstance(item, Stage):
            built.append(item)
            continue
        if item not in STAGES:
            raise ValueError(f"unknown decoder stage {item!r}; known: {', '.join(STAGES)}")
        try:
            built.append(STAGES[item]())
        except DecoderUnavailable as exc:
            _report_once(item, exc)
    return built


class DecoderChain:
    """Runs stages in order until one reads something; returns distinct texts, first-found order."""

    def __init__(self, stages: Iterable[str | Stage] = DEFAULT_STAGES):
        self.stages = build_stages(stages)
        if not self.stages:
            raise DecoderUnavailable("no QR decoder of this chain is available")

    @property
    def names(self) -> list[str]:
        """The names of the stages that will run, in order."""
        return [stage.name for stage in self.stages]

    def decode(self, frame: np.ndarray) -> list[str]:
        """The distinct QR texts in `frame` (BGR, BGRA or grayscale uint8); [] when none."""
        return self.run(frame)[0]

    def run(self, frame: np.ndarray) -> tuple[list[str], FrameContext]:
        """The texts as `decode` gives them, and what the stages learnt (suspects, retried crops)."""
        context = FrameContext(as_gray(frame))
        for stage in self.stages:
            texts = stage.decode(context)
            if texts:
                return list(dict.fromkeys(texts)), context
        return [], context


_default_chain: DecoderChain | None = None
_default_lock = threading.Lock()


def default_chain() -> DecoderChain:
    """The process-wide default chain, built on first use."""
    global _default_chain
    with _default_lock:
        if _default_chain is None:
            _default_chain = DecoderChain()
        return _default_chain


def decode_frame(frame: np.ndarray) -> list[str]:
    """The distinct QR texts in a camera frame, read with the default chain."""
    return default_chain().decode(frame)


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """A PNG/JPEG (anything OpenCV reads) as a grayscale array, or Unreadable."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        # Checked first: OpenCV would print its own warning on stderr for a missing file.
        what = "not a file" if os.path.exists(name) else "no such file"
        raise Unreadable(f"cannot read image {name!r}: {what}")
    image = cv2.imread(name, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise Unreadable(f"cannot read image {name!r}: not an image OpenCV can read")
    return image


def decode_image_file(path: str | os.PathLike[str], chain: DecoderChain | None = None) -> list[str]:
    """The distinct QR texts in an image file; a missing or unreadable file raises Unreadable."""
    return (chain or default_chain()).decode(read_image_file(path))
