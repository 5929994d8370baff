"""Build a device from its config model: each config class names its driver (frigate-style).

The agent's config picks a driver per device with a `type` discriminator; these unions are its
device sections' field types (declared here only). A subclass of a config here builds the same
driver.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, Field

from hardware.barrier.gpio_relay import GpioBarrier, GpioBarrierConfig
from hardware.barrier.simulated import SimulatedBarrier, SimulatedBarrierConfig
from hardware.camera.off import NoCamera, NoCameraConfig
from hardware.camera.opencv_capture import OpenCVCamera, OpenCVCameraConfig
from hardware.camera.picamera2_capture import PiCamera2Camera, PiCamera2Config
from hardware.camera.simulated import SimulatedCamera, SimulatedCameraConfig
from hardware.device import Device
from hardware.display.simulated import RecordingDisplay, RecordingDisplayConfig
from hardware.scanner.evdev_hid import EvdevScanner, EvdevScannerConfig
from hardware.scanner.serial_uart import SerialScanner, SerialScannerConfig
from hardware.scanner.simulated import (SimulatedHidScanner, SimulatedHidScannerConfig, SimulatedScanner,
                                        SimulatedScannerConfig)
from hardware.speaker.buzzer import BuzzerSpeaker, BuzzerSpeakerConfig
from hardware.speaker.espeak import EspeakSpeaker, EspeakSpeakerConfig
from hardware.speaker.silent import SilentSpeaker, SilentSpeakerConfig
from hardware.speaker.simulated import RecordingSpeaker, RecordingSpeakerConfig
from hardware.speaker.voice_and_buzzer import VoiceAndBuzzer, VoiceAndBuzzerConfig
from hardware.thermometer.mqtt_topic import MqttThermometer, MqttThermometerConfig
from hardware.thermometer.serial_line import SerialThermometer, SerialThermometerConfig
from hardware.thermometer.simulated_serial import SimulatedSerialThermometer, SimulatedSerialThermometerConfig
from protocols.errors import ConfigError

CameraConfig = Annotated[
    Union[OpenCVCameraConfig, PiCamera2Config, SimulatedCameraConfig, NoCameraConfig], Field(discriminator="type")
]
ThermometerConfig = Annotated[
    Union[SerialThermometerConfig, MqttThermometerConfig, SimulatedSerialThermometerConfig], Field(discriminator="type")
]
ScannerConfig = Annotated[
    Union[EvdevScannerConfig, SerialScannerConfig, SimulatedScannerConfig, SimulatedHidScannerConfig],
    Field(discriminator="type"),
]
BarrierConfig = Annotated[Union[GpioBarrierConfig, SimulatedBarrierConfig], Field(discriminator="type")]
SpeakerConfig = Annotated[
    Union[EspeakSpeakerConfig, BuzzerSpeakerConfig, VoiceAndBuzzerConfig, RecordingSpeakerConfig, SilentSpeakerConfig],
    Field(discriminator="type"),
]

DRIVERS: dict[type[BaseModel], type[Device]] = {
    OpenCVCameraConfig: OpenCVCamera,
    PiCamera2Config: PiCamera2Camera,
    SimulatedCameraConfig: SimulatedCamera,
    NoCameraConfig: NoCamera,
    SerialThermometerConfig: SerialThermometer,
    MqttThermometerConfig: MqttThermometer,
    SimulatedSerialThermometerConfig: SimulatedSerialThermometer,
    EvdevScannerConfig: EvdevScanner,
    SerialScannerConfig: SerialScanner,
    SimulatedScannerConfig: SimulatedScanner,
    SimulatedHidScannerConfig: SimulatedHidScanner,
    GpioBarrierConfig: GpioBarrier,
    SimulatedBarrierConfig: SimulatedBarrier,
    RecordingDisplayConfig: RecordingDisplay,
    EspeakSpeakerConfig: EspeakSpeaker,
    BuzzerSpeakerConfig: BuzzerSpeaker,
    VoiceAndBuzzerConfig: VoiceAndBuzzer,
    RecordingSpeakerConfig: RecordingSpeaker,
    SilentSpeakerConfig: SilentSpeaker,
}


def driver_for(config: BaseModel) -> type[Device]:
    """The driver class for a config model (or for the nearest registered base of its class)."""
    for cls in type(config).__mro__:
        if cls in DRIVERS:
            return DRIVERS[cls]
    raise ConfigError(f"no hardware driver for config {type(config).__name__}")


def build_device(config: BaseModel, name: str | None = None) -> Device:
    """A new, not yet opened device for `config`; call open() on it, close() when done."""
    driver = driver_for(config)
    return driver(config) if name is None else driver(config, name=name)
