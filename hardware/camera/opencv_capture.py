"""OpenCV VideoCapture camera: a USB camera index, a video file, or an RTSP/HTTP URL.

A named grabber thread drains the capture continuously (RTSP buffers otherwise serve old
frames); a video file is paced at its own frame rate, so it behaves like a camera.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.base import Camera
from hardware.camera.latest_frame import LatestFrame
from hardware.retry import retry_open


class OpenCVCameraConfig(BaseModel):
    """A camera opened with cv2.VideoCapture."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["opencv"] = "opencv"
    source: int | str = 0  # USB index, video file path, or rtsp:// URL
    width: int | None = Field(None, gt=0)
    height: int | None = Field(None, gt=0)
    fps: float | None = Field(None, gt=0)
    loop: bool = False  # a video file starts again at its end instead of ending the stream
    open_attempts: int = Field(3, ge=1)
    retry_delay_s: float = Field(0.5, gt=0)


class OpenCVCamera(Camera):
    """Frames from cv2.VideoCapture, newest first."""

    def __init__(self, config: OpenCVCameraConfig, name: str = "camera"):
        super().__init__(name)
        self.config = config
        self._cap = None
        self._latest = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_file(self) -> bool:
        """Whether the source is a video file (paced at its own rate) rather than a live camera."""
        return isinstance(self.config.source, str) and Path(self.config.source).is_file()

    def _capture(self):
        import cv2  # imported here: the module imports on machines without OpenCV

        cap = cv2.VideoCapture(self.config.source)
        if not cap.isOpened():
            cap.release()
            raise OSError(f"VideoCapture could not open {self.config.source!r}")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.config.width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, self.config.height), (cv2.CAP_PROP_FPS, self.config.fps)):
            if value is not None:
                cap.set(prop, value)
        return cap

    def open(self) -> None:
        """Open the capture (bounded retry) and start the grabber thread."""
        if self._thread is not None:
            return
        self._cap = retry_open(self._capture, what=f"{self.name} {self.config.source!r}",
                               attempts=self.config.open_attempts, delay_s=self.config.retry_delay_s, log=self.log)
        self._latest = LatestFrame()
        self._stop.clear()
        self._thread = threading.Thread(target=self._grab, name=f"{self.name}-grabber", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        import cv2

        period = 0.0
        if self.is_file:
            period = 1.0 / (self._cap.get(cv2.CAP_PROP_FPS) or 25.0)
        due = time.monotonic()
        while not self._stop.is_set():
            ok, frame = self._cap.read()
            if not ok:
                if self.is_file and self.config.loop:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                self.log.warning("%s: no more frames from %r", self.name, self.config.source)
                self._latest.gone("camera stream ended or camera unplugged")
                return
            self._latest.put(frame)
            if period:
                due += period
                self._stop.wait(max(0.0, due - time.monotonic()))

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The newest frame not yet returned; None if none yet; DeviceError when the source is gone."""
        return self._latest.take(timeout_s, self.name)

    def close(self) -> None:
        """Stop the grabber and release the capture; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._latest.gone("camera closed")
