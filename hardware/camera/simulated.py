"""A camera simulator serving real frames of real QR codes at a real frame rate.

Most frames show nobody: an empty, noisy scene. A simulated person holds a code up with
`present(text, seconds)` (rendered with segno) or `present_image(path, seconds)`; the config can
also script presentations that repeat. `disconnect()` makes the camera vanish (read() and
open() raise DeviceError) until `reconnect()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hardware.camera import render
from hardware.camera.base import Camera
from hardware.retry import retry_open
from protocols.errors import DeviceError

NOISE_LAYERS = 4  # pre-drawn noise fields, cycled with random shifts: fresh noise costs ~10 ms/frame


class SimulatedCameraConfig(BaseModel):
    """A simulated camera; `codes`/`images` are shown in turn every `present_every_s` seconds."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["simulated"] = "simulated"
    width: int = Field(640, ge=160)
    height: int = Field(480, ge=120)
    fps: float = Field(10.0, gt=0, le=60)
    noise_sigma: float = Field(6.0, ge=0)
    codes: list[str] = Field(default_factory=list)
    images: list[Path] = Field(default_factory=list)
    present_every_s: float = Field(5.0, gt=0)
    present_for_s: float = Field(1.5, gt=0)
    seed: int | None = None
    open_attempts: int = Field(3, ge=1)
    retry_delay_s: float = Field(0.05, gt=0)


@dataclass
class _Presentation:
    content: np.ndarray
    until: float  # monotonic
    x: int
    y: int


class SimulatedCamera(Camera):
    """Frames paced at `fps`: an empty scene, or a code someone holds up."""

    def __init__(self, config: SimulatedCameraConfig | None = None, name: str = "camera"):
        super().__init__(name)
        self.config = config or SimulatedCameraConfig()
        self.frames_served = 0
        self._rng = np.random.default_rng(self.config.seed)
        self._lock = threading.Lock()
        self._presentation: _Presentation | None = None
        self._scripted = [render.qr_image(t, self.config.height) for t in self.config.codes]
        self._scripted += [render.fit_image(self._load(p), self.config.width, self.config.height)
                           for p in self.config.images]
        self._background: np.ndarray | None = None
        self._noise: list[np.ndarray] = []
        self._opened_at: float | None = None
        self._next_frame = 0.0
        self._present = True  # plugged in

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        image = cv2.imread(str(path))
        if image is None:
            raise DeviceError(f"simulated camera: cannot read image {path}")
        return image

    def open(self) -> None:
        """Start serving frames; DeviceError (after bounded retry) while disconnected."""
        def attempt() -> None:
            if not self._present:
                raise OSError("simulated camera is disconnected")

        retry_open(attempt, what=f"{self.name} (simulated)", attempts=self.config.open_attempts,
                   delay_s=self.config.retry_delay_s, log=self.log)
        if self._background is None:
            w, h = self.config.width, self.config.height
            self._background = render.scene(w, h, self._rng)
            if self.config.noise_sigma > 0:
                self._noise = [self._rng.normal(0, self.config.noise_sigma, (h, w)).astype(np.int16)
                               for _ in range(NOISE_LAYERS)]
        self._opened_at = self._next_frame = time.monotonic()

    def close(self) -> None:
        """Stop serving frames; safe to call twice."""
        self._opened_at = None

    def disconnect(self) -> None:
        """The camera vanishes: read() and open() raise DeviceError."""
        self.log.info("%s: simulated disconnect", self.name)
        self._present = False

    def reconnect(self) -> None:
        """The camera is back; it must be opened again."""
        self.log.info("%s: simulated reconnect", self.name)
        self._present = True
        self._opened_at = None

    def present(self, code_text: str, seconds: float, face: np.ndarray | None = None) -> None:
        """Hold a QR code of `code_text` in front of the camera for `seconds` (beside a face photo, if given)."""
        if face is None:
            self._hold(render.qr_image(code_text, self.config.height), seconds)
        else:
            self._hold(render.face_and_code(face, code_text, self.config.width, self.config.height), seconds)

    def present_image(self, image: Path | np.ndarray, seconds: float) -> None:
        """Hold an image (a file or a BGR/gray array) in front of the camera for `seconds`."""
        pixels = self._load(image) if isinstance(image, Path | str) else image
        self._hold(render.fit_image(pixels, self.config.width, self.config.height), seconds)

    def _hold(self, content: np.ndarray, seconds: float) -> None:
        with self._lock:
            self._presentation = _Presentation(content, time.monotonic() + seconds, *self._place(content))

    def _place(self, content: np.ndarray) -> tuple[int, int]:
        x_room = max(0, self.config.width - content.shape[1])
        y_room = max(0, self.config.height - content.shape[0])
        return int(self._rng.integers(0, x_room + 1)), int(self._rng.integers(0, y_room + 1))

    def _content(self, now: float) -> tuple[np.ndarray, int, int] | None:
        with self._lock:
            p = self._presentation
            if p is not None and now < p.until:
                # A hand is never still: a few pixels of jitter from frame to frame.
                jx, jy = self._rng.integers(-3, 4, size=2)
                return p.content, int(np.clip(p.x + jx, 0, self.config.width - 1)), \
                    int(np.clip(p.y + jy, 0, self.config.height - 1))
        if self._scripted and self._opened_at is not None:
            elapsed = now - self._opened_at
            slot = int(elapsed // self.config.present_every_s)
            if elapsed - slot * self.config.present_every_s < self.config.present_for_s:
                content = self._scripted[slot % len(self._scripted)]
                return content, (self.config.width - content.shape[1]) // 2, (self.config.height - content.shape[0]) // 2
        return None

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The next frame once it is due (waiting up to timeout_s), else None; DeviceError if gone."""
        if not self._present:
            raise DeviceError(f"{self.name}: camera disconnected")
        if self._opened_at is None:
            raise DeviceError(f"{self.name}: camera is not open")
        now = time.monotonic()
        wait = self._next_frame - now
        if wait > timeout_s:
            return None
        if wait > 0:
            time.sleep(wait)
            now = time.monotonic()
        period = 1.0 / self.config.fps
        # A live camera does not queue frames for a slow reader: skip what was missed.
        self._next_frame = max(self._next_frame + period, now)
        return self._frame(now)

    def _frame(self, now: float) -> np.ndarray:
        content = self._content(now)
        noise = None
        if self._noise:
            layer = self._noise[self.frames_served % len(self._noise)]
            noise = np.roll(layer, int(self._rng.integers(0, layer.shape[1])), axis=1)
        self.frames_served += 1
        if content is None:
            return render.compose(self._background, None, 0, 0, noise)
        return render.compose(self._background, content[0], content[1], content[2], noise)
