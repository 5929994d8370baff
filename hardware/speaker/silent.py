"""No voice and no buzzer: a speaker that stays quiet (`type = "off"`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.speaker.base import BeepKind, Speaker


class SilentSpeakerConfig(BaseModel):
    """No voice and no buzzer."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["off"] = "off"


class SilentSpeaker(Speaker):
    """Says and beeps nothing, so a gate without a speaker drives the same interface."""

    def __init__(self, config: SilentSpeakerConfig | None = None, name: str = "speaker"):
        super().__init__(name)
        self.config = config or SilentSpeakerConfig()

    def say(self, text_zh: str, text_en: str) -> None:
        """Say nothing."""

    def beep(self, kind: BeepKind) -> None:
        """Beep nothing."""
