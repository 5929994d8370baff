"""Raspberry Pi camera through picamera2 (only on a Pi: picamera2 is imported inside open())."""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.base import Camera
from hardware.camera.latest_frame import LatestFrame
from hardware.retry import retry_open


class PiCamera2Config(BaseModel):
    """A Pi camera module (CSI) driven by libcamera through picamera2."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["picamera2"] = "picamera2"
    camera_num: int = Field(0, ge=0)
    width: int = Field(1280, gt=0)  # 720p: enough pixels per QR module (see MEASURED.md)
    height: int = Field(720, gt=0)
    fps: float = Field(15.0, gt=0)
    open_attempts: int = Field(3, ge=1)
    retry_delay_s: float = Field(0.5, gt=0)


class PiCamera2Camera(Camera):
    """Frames from picamera2's main stream; "RGB888" is B,G,R in memory, as OpenCV expects."""

    def __init__(self, config: PiCamera2Config, name: str = "camera"):
        super().__init__(name)
        self.config = config
        self._cam = None
        self._latest = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self):
        from picamera2 import Picamera2  # only on a Pi

        try:
            cam = Picamera2(self.config.camera_num)
        except (IndexError, RuntimeError) as exc:  # no such camera / libcamera could not acquire it
            raise OSError(str(exc)) from exc
        cam.configure(cam.create_video_configuration(
            main={"size": (self.config.width, self.config.height), "format": "RGB888"},
            controls={"FrameRate": self.config.fps}))
        cam.start()
        return cam

    def open(self) -> None:
        """Start the camera (bounded retry) and the grabber thread."""
        if self._thread is not None:
            return
        self._cam = retry_open(self._start, what=f"{self.name} picamera2 #{self.config.camera_num}",
                               attempts=self.config.open_attempts, delay_s=self.config.retry_delay_s, log=self.log)
        self._latest = LatestFrame()
        self._stop.clear()
        self._thread = threading.Thread(target=self._grab, name=f"{self.name}-grabber", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._cam.capture_array("main")
            except RuntimeError as exc:
                self.log.warning("%s: capture failed: %s", self.name, exc)
                self._latest.gone(f"picamera2 capture failed: {exc}")
                return
            self._latest.put(frame)

    def read(self, timeout_s: float = 0.0) -> np.ndarray | None:
        """The newest frame not yet returned; None if none yet; DeviceError when the camera is gone."""
        return self._latest.take(timeout_s, self.name)

    def close(self) -> None:
        """Stop the grabber and the camera; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._cam is not None:
            self._cam.stop()
            self._cam.close()
            self._cam = None
        self._latest.gone("camera closed")
