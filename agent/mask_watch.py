"""The mask look beside the code check: one worker thread runs the detector on a presentation's frames.

Someone stepping up changes the scene before their phone is held up: the loop shows every frame to a
cheap change test (a 32x24 grey thumbnail against the empty scene), and only frames that
differ are looked at, at most every PRELOOK_EVERY_S. When a code is read, a look of the last
PRELOOK_S answers at once; otherwise the code's own frame is looked at (and newer ones while the
person measures). An empty gate costs no inference. The decision asks for the verdict last and
waits at most `wait_s` for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import cv2
import numpy as np

from hardware.vision.face_mask import Face, MaskDetector, wears_mask

log = logging.getLogger(__name__)

# A look of someone in view this recently stands for the person whose code is read now: short, so the
# person before (still in view after their decision) is not taken for the next one in a queue.
PRELOOK_S = 0.5
PRELOOK_EVERY_S = 0.2  # at most five looks a second while someone is in view and no code is read
# "Someone is there": at least CHANGE_CELLS of the thumbnail's 768 cells (20x20 px each at 640x480)
# differ from the empty scene by CHANGE_GREY grey levels; sensor noise averages out within a cell.
CHANGE_GREY = 25.0
CHANGE_CELLS = 12


class MaskWatch:
    """Looks at the frames of one presentation at a time, one look at a time, on its own thread."""

    def __init__(self, detector: MaskDetector, wait_s: float = 1.0):
        self.detector = detector
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._frame: Any = None  # the next frame to look at (newest wins)
        self._round = 0  # which presentation the looks belong to
        self._faces: list[Face] | None = None  # the latest finished look of this presentation
        self._busy = False
        self._closed = False
        self._empty: np.ndarray | None = None  # the empty scene's thumbnail, slowly following the light
        self._prelook: tuple[float, list[Face]] | None = None  # (monotonic time, faces) of the last look in view
        self._prelook_at = float("-inf")
        self.looks = 0  # looks run (the idle gate's stays at zero)
        self.answered_early = 0  # presentations a look from before the code answered
        self._thread = threading.Thread(target=self._work, name="mask-look", daemon=True)
        self._thread.start()

    def glance(self, frame: Any) -> None:
        """An idle frame: when the scene differs from the empty one, look at it (at most every PRELOOK_EVERY_S)."""
        small = cv2.resize(frame, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
        if small.ndim == 3:
            small = small.mean(axis=2)
        if self._empty is None:
            self._empty = small
            return
        if int((np.abs(small - self._empty) > CHANGE_GREY).sum()) < CHANGE_CELLS:
            self._empty += 0.05 * (small - self._empty)  # follow daylight, never a person standing there
            return
        now = time.monotonic()
        with self._cond:
            if self._busy or self._frame is not None or now - self._prelook_at < PRELOOK_EVERY_S:
                return
            self._prelook_at = now
            self._frame = (frame.copy(), None)
            self._cond.notify_all()

    def begin(self, frame: Any | None) -> None:
        """A new code was read from this frame (None: by a scanner module, the camera's next frames are looked
        at): forget the last person's looks; a recent look in view answers."""
        with self._cond:
            self._round += 1
            recent = self._prelook
            if recent is not None and time.monotonic() - recent[0] <= PRELOOK_S and recent[1]:
                self._faces = recent[1]
                self.answered_early += 1
                self._prelook = None  # one look answers for one person
            else:
                self._faces = None
                self._frame = (frame.copy(), self._round) if frame is not None else None
            self._cond.notify_all()

    def offer(self, frame: Any) -> None:
        """A newer frame of the same presentation: looked at when the worker is free and no face was found yet."""
        with self._cond:
            if self._busy or self._frame is not None or (self._faces is not None and self._faces):
                return
            self._frame = (frame.copy(), self._round)
            self._cond.notify_all()

    def verdict(self) -> tuple[bool | None, list[Face]]:
        """(mask worn, faces) of this presentation's look, waiting up to wait_s; (None, []) when no face was found."""
        with self._cond:
            self._cond.wait_for(lambda: self._faces is not None or self._closed, timeout=self.wait_s)
            faces = self._faces or []
        return wears_mask(faces), faces

    def close(self) -> None:
        """Stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._frame is not None or self._closed)
                if self._closed:
                    return
                (frame, looking_for), self._frame, self._busy = self._frame, None, True
            self.looks += 1
            try:
                faces = self.detector.look(frame)
            except Exception:  # a broken look must not stop the gate: the decision sees "no face", a guard decides
                log.exception("mask look failed")
                faces = []
            with self._cond:
                self._busy = False
                if looking_for is None:  # a look before any code: kept for the code that may follow
                    self._prelook = (time.monotonic(), faces)
                # A look of an earlier person never answers for the next one.
                elif looking_for == self._round and (not self._faces or faces):
                    self._faces = faces
                self._cond.notify_all()
