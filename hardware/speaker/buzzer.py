"""A piezo buzzer on a GPIO pin (gpiozero Buzzer, imported inside open()); it beeps, it cannot talk."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hardware.speaker.base import BEEP_PATTERNS, BeepKind, Speaker


class BuzzerSpeakerConfig(BaseModel):
    """An active buzzer on a GPIO pin (BCM number or a name like "GPIO18")."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["buzzer"] = "buzzer"
    pin: int | str
    active_high: bool = True


class BuzzerSpeaker(Speaker):
    """Beeps patterns on a buzzer in gpiozero's background thread; say() is silent."""

    def __init__(self, config: BuzzerSpeakerConfig, name: str = "buzzer"):
        super().__init__(name)
        self.config = config
        self._buzzer = None

    def open(self) -> None:
        """Acquire the pin, buzzer off."""
        if self._buzzer is None:
            from gpiozero import Buzzer  # only where gpiozero is installed

            self._buzzer = Buzzer(self.config.pin, active_high=self.config.active_high, initial_value=False)

    def say(self, text_zh: str, text_en: str) -> None:
        """A buzzer cannot talk: nothing sounds."""
        self.log.debug("%s: cannot say %r", self.name, text_en)

    def beep(self, kind: BeepKind) -> None:
        """Start the pattern for `kind`, replacing one still sounding."""
        if self._buzzer is None:
            return
        on_s, off_s, count = BEEP_PATTERNS[kind]
        self._buzzer.beep(on_time=on_s, off_time=off_s or 0.01, n=count, background=True)

    def close(self) -> None:
        """Silence the buzzer and release the pin; safe to call twice."""
        if self._buzzer is not None:
            self._buzzer.off()
            self._buzzer.close()
            self._buzzer = None
