"""OpenCV VideoCapture camera: a USB camera index, a video file, or an RTSP/HTTP URL.

A named grabber thread drains the capture continuously (RTSP buffers otherwise serve old
frames); a video file is paced at its own frame rate, so it behaves like a camera.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.grabber import GrabberCamera


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


class OpenCVCamera(GrabberCamera):
    """Frames from cv2.VideoCapture, newest first."""

    def __init__(self, config: OpenCVCameraConfig, name: str = "camera"):
        super().__init__(name)
        self.config = config
        self.open_attempts = config.open_attempts
        self.retry_delay_s = config.retry_delay_s

    @property
    def is_file(self) -> bool:
        """Whether the source is a video file (paced at its own rate) rather than a live camera."""
        return isinstance(self.config.source, str) and Path(self.config.source).is_file()

    def _describe(self) -> str:
        return f"{self.name} {self.config.source!r}"

    def _acquire(self):
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

    def _grab_loop(self) -> None:
        import cv2

        period = 0.0
        if self.is_file:
            period = 1.0 / (self._device.get(cv2.CAP_PROP_FPS) or 25.0)
        due = time.monotonic()
        while not self._stop.is_set():
            ok, frame = self._device.read()
            if not ok:
                if self.is_file and self.config.loop:
                    self._device.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                self.log.warning("%s: no more frames from %r", self.name, self.config.source)
                self._latest.gone("camera stream ended or camera unplugged")
                return
            self._latest.put(frame)
            if period:
                due += period
                self._stop.wait(max(0.0, due - time.monotonic()))

    def _release(self, device) -> None:
        device.release()
