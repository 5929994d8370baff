"""Speakers (espeak-ng for real, a gpiozero buzzer on MockFactory pins, the recorder), the Screen
model and the recording display, and building every device from its config by `type`."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import pytest
from gpiozero import Device
from pydantic import TypeAdapter, ValidationError

from hardware.barrier.simulated import SimulatedBarrier, SimulatedBarrierConfig
from hardware.camera.simulated import SimulatedCamera
from hardware.display.base import Screen
from hardware.display.simulated import RecordingDisplay, RecordingDisplayConfig
from hardware.registry import (
    BarrierConfig,
    CameraConfig,
    SpeakerConfig,
    ThermometerConfig,
    build_device,
    driver_for,
)
from hardware.speaker.buzzer import BuzzerSpeaker, BuzzerSpeakerConfig
from hardware.speaker.espeak import EspeakSpeaker, EspeakSpeakerConfig
from hardware.speaker.simulated import RecordingSpeaker
from hardware.thermometer.mqtt_topic import MqttThermometer
from hardware.thermometer.serial_line import SerialThermometer
from protocols.errors import ConfigError
from tests.conftest import wait_until

DENY = Screen(state="deny", title_zh="禁止通行", title_en="Entry refused",
              reasons=[("健康码为黄码", "Health code is yellow"), ("体温异常", "Temperature too high")], countdown_s=5)


@pytest.mark.parametrize("voice, text", [("cmn", "请出示健康码"), ("en", "Please show your health code")])
def test_espeak_renders_chinese_and_english_to_a_real_wav(tmp_path: Path, voice, text):
    wav = tmp_path / f"{voice}.wav"
    EspeakSpeaker().render_wav(text, voice, wav)
    with wave.open(str(wav)) as w:
        assert w.getnframes() > w.getframerate() // 2  # more than half a second of speech


def test_espeak_say_returns_at_once_and_speaks_on_its_thread():
    speaker = EspeakSpeaker(EspeakSpeakerConfig(words_per_minute=300))
    speaker.open()
    try:
        speaker.say("体温正常，请通行", "Temperature normal, please enter")
        assert wait_until(lambda: speaker.spoken == 1)
    finally:
        speaker.close()
        speaker.close()


def test_missing_espeak_logs_once_and_stays_silent(caplog):
    speaker = EspeakSpeaker(EspeakSpeakerConfig(executable="no-such-espeak-ng"))
    with caplog.at_level(logging.WARNING):
        speaker.open()
        speaker.say("你好", "Hello")
        speaker.say("你好", "Hello")
    assert len([r for r in caplog.records if "not found" in r.getMessage()]) == 1
    assert speaker.spoken == 0
    speaker.close()


def test_buzzer_beeps_the_pattern_on_the_pin(pins):
    buzzer = BuzzerSpeaker(BuzzerSpeakerConfig(pin=18))
    buzzer.open()
    pin = Device.pin_factory.pin(18)
    pin.clear_states()
    buzzer.beep("deny")  # two short beeps
    assert wait_until(lambda: [s.state for s in pin.states] == [False, True, False, True, False], timeout=3)
    buzzer.close()
    buzzer.close()


def test_recording_speaker_keeps_messages_and_refuses_unknown_beeps():
    speaker = RecordingSpeaker()
    speaker.say("请测温", "Please measure your temperature")
    speaker.beep("remeasure")
    assert [(zh, en) for _, zh, en in speaker.said] == [("请测温", "Please measure your temperature")]
    assert [k for _, k in speaker.beeps] == ["remeasure"]
    with pytest.raises(ValueError):
        speaker.beep("fanfare")


def test_recording_display_keeps_every_screen_in_order():
    display = RecordingDisplay()
    assert display.current is None
    display.show(Screen(state="scanning", title_zh="请出示健康码", title_en="Show your health code"))
    display.show(DENY)
    assert display.states() == ["scanning", "deny"]
    assert display.current.reasons[1] == ("体温异常", "Temperature too high")


@pytest.mark.parametrize("bad", [{"state": "maybe"}, {"colour": "red"}, {"countdown_s": -1}])
def test_screen_refuses_unknown_states_keys_and_negative_countdowns(bad):
    with pytest.raises(ValidationError):
        Screen(**{"state": "admit", "title_zh": "请通行", "title_en": "Please enter", **bad})


def test_every_device_is_built_from_its_config_by_type():
    cases = [
        (CameraConfig, {"type": "simulated", "fps": 5}, SimulatedCamera),
        (ThermometerConfig, {"type": "serial", "port": "/dev/ttyUSB0", "wire_format": "binary"}, SerialThermometer),
        (ThermometerConfig, {"type": "mqtt", "topic": "checkpoint/v1/v/g/thermometer"}, MqttThermometer),
        (BarrierConfig, {"type": "simulated", "fail_mode": "safe"}, SimulatedBarrier),
        (SpeakerConfig, {"type": "espeak", "voice_zh": "cmn"}, EspeakSpeaker),
        (SpeakerConfig, {"type": "recording"}, RecordingSpeaker),
    ]
    for union, data, cls in cases:
        device = build_device(TypeAdapter(union).validate_python(data), name="dev")
        assert type(device) is cls and device.name == "dev"
    assert isinstance(build_device(RecordingDisplayConfig()), RecordingDisplay)


def test_config_errors_name_the_key_and_unknown_types_are_refused():
    with pytest.raises(ValidationError) as err:
        TypeAdapter(CameraConfig).validate_python({"type": "webcam"})
    assert "type" in str(err.value)
    with pytest.raises(ValidationError) as err:
        TypeAdapter(BarrierConfig).validate_python({"type": "gpio", "relay_pin": 17, "failmode": "safe"})
    assert "failmode" in str(err.value)


def test_a_subclassed_config_builds_the_same_driver_and_a_foreign_one_is_refused():
    class JournalledBarrier(SimulatedBarrierConfig):
        journal: str | None = None

    assert driver_for(JournalledBarrier()) is SimulatedBarrier
    with pytest.raises(ConfigError):
        build_device(Screen(state="idle", title_zh="空闲", title_en="Idle"))


def test_wait_idle_returns_once_everything_queued_was_spoken():
    speaker = EspeakSpeaker(EspeakSpeakerConfig(words_per_minute=400))
    speaker.open()
    try:
        speaker.say("请测温", "Please measure")
        assert speaker.wait_idle(timeout_s=30)
        assert speaker.spoken == 1
    finally:
        speaker.close()
