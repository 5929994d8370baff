"""A barrier relay on a GPIO pin (gpiozero OutputDevice), with an optional fire-alarm input.

gpiozero is imported inside open(), so this module imports on a laptop. Tests use gpiozero's
own MockFactory pins (`Device.pin_factory = MockFactory()`), the library's device simulator.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hardware.barrier.base import Barrier, BarrierSettings, BarrierState


class GpioBarrierConfig(BarrierSettings):
    """A relay board on a GPIO pin; pins are BCM numbers or names like "GPIO17" / "BOARD11"."""

    type: Literal["gpio"] = "gpio"
    relay_pin: int | str
    relay_active_high: bool = True  # many relay boards switch on a LOW input: set False for those
    fire_alarm_pin: int | str | None = None
    fire_alarm_pull_up: bool = True  # a dry contact to ground closes on alarm
    fire_alarm_bounce_s: float | None = Field(0.05, gt=0)


class GpioBarrier(Barrier):
    """Drives the relay coil through gpiozero; a fire-alarm Button forces the barrier open."""

    def __init__(self, config: GpioBarrierConfig, name: str = "barrier"):
        super().__init__(config, name)
        self.config = config
        self._relay = None
        self._alarm = None

    def _open_device(self) -> None:
        from gpiozero import Button, OutputDevice  # only where gpiozero is installed

        self._relay = OutputDevice(self.config.relay_pin, active_high=self.config.relay_active_high,
                                   initial_value=self._energised_for("locked"))
        if self.config.fire_alarm_pin is not None:
            self._alarm = Button(self.config.fire_alarm_pin, pull_up=self.config.fire_alarm_pull_up,
                                 bounce_time=self.config.fire_alarm_bounce_s)
            self._alarm.when_pressed = lambda: self.fire_alarm(True)
            self._alarm.when_released = lambda: self.fire_alarm(False)
            if self._alarm.is_pressed:  # an alarm already sounding when the agent starts
                self.fire_alarm(True)

    def _drive(self, energised: bool, state: BarrierState, reason: str) -> None:
        if self._relay is None:
            return
        if energised:
            self._relay.on()
        else:
            self._relay.off()

    @property
    def energised(self) -> bool:
        """Whether the relay coil is powered right now (False when released)."""
        return bool(self._relay is not None and self._relay.value)

    def _release_device(self) -> None:
        for device in (self._alarm, self._relay):
            if device is not None:
                device.close()
        self._alarm = self._relay = None
