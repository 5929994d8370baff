"""The mask look beside the code check: one worker thread runs the detector on a presentation's frames.

The loop hands it the frame its code was read from (and newer ones while the person measures), never
idle frames, so an empty gate costs no inference. The decision asks for the verdict last and waits at
most `wait_s` for it; most of the look has run meanwhile, beside verify, measure and decide.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hardware.vision.face_mask import Face, MaskDetector, wears_mask

log = logging.getLogger(__name__)


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
        self._thread = threading.Thread(target=self._work, name="mask-look", daemon=True)
        self._thread.start()

    def begin(self, frame: Any) -> None:
        """A new code was read from this frame: forget the last person's looks and look at this one."""
        with self._cond:
            self._round += 1
            self._faces = None
            self._frame = frame.copy()
            self._cond.notify_all()

    def offer(self, frame: Any) -> None:
        """A newer frame of the same presentation: looked at when the worker is free and no face was found yet."""
        with self._cond:
            if self._busy or self._frame is not None or (self._faces is not None and self._faces):
                return
            self._frame = frame.copy()
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
                frame, looking_for, self._frame, self._busy = self._frame, self._round, None, True
            try:
                faces = self.detector.look(frame)
            except Exception:  # a broken look must not stop the gate: the decision sees "no face", a guard decides
                log.exception("mask look failed")
                faces = []
            with self._cond:
                self._busy = False
                # A look of an earlier person never answers for the next one.
                if looking_for == self._round and (not self._faces or faces):
                    self._faces = faces
                self._cond.notify_all()
