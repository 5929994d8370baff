"""Raspberry Pi camera through picamera2 (only on a Pi: picamera2 is imported inside open())."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.grabber import GrabberCamera
from protocols.errors import DeviceError


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


class PiCamera2Camera(GrabberCamera):
    """Frames from picamera2's main stream; "RGB888" is B,G,R in memory, as OpenCV expects."""

    def __init__(self, config: PiCamera2Config, name: str = "camera"):
        super().__init__(name)
        self.config = config
        self.open_attempts = config.open_attempts
        self.retry_delay_s = config.retry_delay_s

    def _describe(self) -> str:
        return f"{self.name} picamera2 #{self.config.camera_num}"

    def _acquire(self):
        try:
            from picamera2 import Picamera2  # only on a Pi
        except ImportError as exc:
            raise DeviceError("picamera2 is not installed: this driver runs on a Raspberry Pi "
                              "(sudo apt-get install python3-picamera2)") from exc

        try:
            cam = Picamera2(self.config.camera_num)
        except (IndexError, RuntimeError) as exc:  # no such camera / libcamera could not acquire it
            raise OSError(str(exc)) from exc
        cam.configure(cam.create_video_configuration(
            main={"size": (self.config.width, self.config.height), "format": "RGB888"},
            controls={"FrameRate": self.config.fps}))
        cam.start()
        return cam

    def _grab_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._device.capture_array("main")
            except RuntimeError as exc:
                self.log.warning("%s: capture failed: %s", self.name, exc)
                self._latest.gone(f"picamera2 capture failed: {exc}")
                return
            self._latest.put(frame)

    def _release(self, device) -> None:
        device.stop()
        device.close()
