"""A voice (espeak-ng) and a buzzer together: say() speaks, beep() buzzes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.speaker.base import BeepKind, Speaker
from hardware.speaker.buzzer import BuzzerSpeaker, BuzzerSpeakerConfig
from hardware.speaker.espeak import EspeakSpeaker, EspeakSpeakerConfig


class VoiceAndBuzzerConfig(BaseModel):
    """An espeak-ng voice plus a GPIO buzzer."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["voice_and_buzzer"] = "voice_and_buzzer"
    voice: EspeakSpeakerConfig = EspeakSpeakerConfig()
    buzzer: BuzzerSpeakerConfig


class VoiceAndBuzzer(Speaker):
    """Delegates say() to the voice and beep() to the buzzer."""

    def __init__(self, config: VoiceAndBuzzerConfig, name: str = "speaker"):
        super().__init__(name)
        self.config = config
        self.voice = EspeakSpeaker(config.voice, f"{name}-voice")
        self.buzzer = BuzzerSpeaker(config.buzzer, f"{name}-buzzer")

    def open(self) -> None:
        """Open both."""
        self.voice.open()
        self.buzzer.open()

    def say(self, text_zh: str, text_en: str) -> None:
        """Speak through the voice."""
        self.voice.say(text_zh, text_en)

    def beep(self, kind: BeepKind) -> None:
        """Beep through the buzzer."""
        self.buzzer.beep(kind)

    def close(self) -> None:
        """Close both; safe to call twice."""
        self.voice.close()
        self.buzzer.close()
