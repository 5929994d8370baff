"""Cameras: the simulator's frames are real QR images zxing-cpp reads; the OpenCV driver reads a
real video file; disconnects raise DeviceError."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
import zxingcpp

from hardware.camera.opencv_capture import OpenCVCamera, OpenCVCameraConfig
from hardware.camera.simulated import SimulatedCamera, SimulatedCameraConfig
from protocols.errors import DeviceError

# Base45 alphabet, as a real HC1/HP1 code: 300 characters.
CODE = "HC1:" + ("6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE$VK G2EP4J0B3KLAS" * 5)[:296]


def decoded(frame: np.ndarray) -> list[str]:
    """The texts zxing-cpp reads in a frame (QR only, as the agent's decoder does)."""
    return [r.text for r in zxingcpp.read_barcodes(frame, formats=zxingcpp.BarcodeFormat.QRCode)]


def frames_for(cam, seconds: float) -> list[np.ndarray]:
    """Every frame the camera serves during `seconds` of real time."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = cam.read(timeout_s=0.2)
        if frame is not None:
            out.append(frame)
    return out


@pytest.fixture
def cam():
    """An open simulated camera at 20 fps, closed after the test."""
    camera = SimulatedCamera(SimulatedCameraConfig(fps=20, seed=11))
    camera.open()
    yield camera
    camera.close()


def test_simulated_frames_are_640x480_bgr_and_empty_until_a_code_is_shown(cam):
    frames = frames_for(cam, 0.3)
    assert frames and all(f.shape == (480, 640, 3) and f.dtype == np.uint8 for f in frames)
    assert not any(decoded(f) for f in frames)
    assert len({f.tobytes() for f in frames}) == len(frames)  # sensor noise: no two frames alike


@pytest.mark.slow
def test_a_presented_code_is_decodable_by_zxing_then_goes_away(cam):
    cam.present(CODE, seconds=0.5)
    shown = frames_for(cam, 0.5)
    texts = [decoded(f) for f in shown]
    assert sum(t == [CODE] for t in texts) >= len(shown) // 2
    after = frames_for(cam, 0.3)
    assert after and not any(decoded(f) for f in after)


def test_frames_are_paced_not_queued(cam):
    assert cam.read(timeout_s=1.0) is not None
    assert cam.read(timeout_s=0.0) is None  # the next frame is 50 ms away: none yet


@pytest.mark.slow
def test_an_image_file_held_up_is_served(cam, tmp_path: Path):
    png = tmp_path / "code.png"
    segno.make_qr("HP1:IMAGE-FILE-CODE").save(png, scale=6, border=4)
    cam.present_image(png, seconds=0.4)
    assert any(decoded(f) == ["HP1:IMAGE-FILE-CODE"] for f in frames_for(cam, 0.4))


@pytest.mark.slow
def test_scripted_codes_from_config_come_round_in_turn():
    camera = SimulatedCamera(SimulatedCameraConfig(fps=20, codes=["HP1:FIRST", "HP1:SECOND"],
                                                   present_every_s=0.4, present_for_s=0.3, seed=1))
    with camera:
        seen = {t for f in frames_for(camera, 1.0) for t in decoded(f)}
    assert seen == {"HP1:FIRST", "HP1:SECOND"}


def test_scripted_image_files_from_config_are_served(tmp_path: Path):
    png = tmp_path / "pass.png"
    segno.make_qr("HP1:FROM-A-FILE").save(png, scale=5, border=4)
    camera = SimulatedCamera(SimulatedCameraConfig(fps=20, images=[png], present_every_s=0.5, present_for_s=0.3))
    with camera:
        assert any(decoded(f) == ["HP1:FROM-A-FILE"] for f in frames_for(camera, 0.3))


def test_an_unreadable_image_file_is_a_device_error(tmp_path: Path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DeviceError, match="cannot read image"):
        SimulatedCamera(SimulatedCameraConfig(images=[bad]))


def test_disconnect_raises_device_error_until_reconnected_and_reopened(cam):
    cam.disconnect()
    with pytest.raises(DeviceError):
        cam.read()
    with pytest.raises(DeviceError, match="could not open"):
        cam.open()
    cam.reconnect()
    with pytest.raises(DeviceError, match="not open"):
        cam.read()
    cam.open()
    assert cam.read(timeout_s=1.0) is not None


@pytest.mark.slow
def test_opencv_driver_reads_a_video_file_written_with_videowriter(tmp_path: Path):
    path = tmp_path / "gate.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    assert writer.isOpened()
    source = SimulatedCamera(SimulatedCameraConfig(fps=60, seed=5))
    source.open()
    source.present(CODE, seconds=60)
    written = 12
    for _ in range(written):
        writer.write(source.read(timeout_s=1.0))
    writer.release()

    camera = OpenCVCamera(OpenCVCameraConfig(source=str(path)))
    camera.open()
    assert any(t.name == "camera-grabber" for t in threading.enumerate())
    got = []
    with pytest.raises(DeviceError, match="ended"):
        while True:
            frame = camera.read(timeout_s=1.0)
            if frame is not None:
                got.append(frame)
    camera.close()
    camera.close()
    assert 1 <= len(got) <= written
    assert got[0].shape == (480, 640, 3)
    assert sum(decoded(f) == [CODE] for f in got) >= len(got) // 2


@pytest.mark.slow
def test_opencv_driver_loops_a_video_file_when_asked(tmp_path: Path):
    path = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (320, 240))
    for i in range(5):
        writer.write(np.full((240, 320, 3), i * 40, dtype=np.uint8))
    writer.release()
    camera = OpenCVCamera(OpenCVCameraConfig(source=str(path), loop=True))
    with camera:
        frames = frames_for(camera, 0.5)
    assert len(frames) > 5  # more frames than the file holds: it started again


def test_opencv_driver_gives_device_error_for_a_missing_source(tmp_path: Path):
    camera = OpenCVCamera(OpenCVCameraConfig(source=str(tmp_path / "none.avi"), open_attempts=2, retry_delay_s=0.01))
    with pytest.raises(DeviceError, match="2 attempts"):
        camera.open()


def test_picamera2_off_a_pi_is_a_clear_device_error_not_an_import_crash():
    from hardware.camera.picamera2_capture import PiCamera2Camera, PiCamera2Config
    from protocols.errors import DeviceError

    camera = PiCamera2Camera(PiCamera2Config(open_attempts=1, retry_delay_s=0.01))
    with pytest.raises(DeviceError, match="picamera2 is not installed"):
        camera.open()
    camera.close()  # safe after a failed open
