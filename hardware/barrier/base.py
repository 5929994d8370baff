"""The barrier interface and the logic every relay shares: pulses, holds, fire alarm, safe state.

The safe state is always the de-energised relay. What it means depends on the wiring:
fail-secure (the default: an electric strike or motor that stays locked without power) is
locked when de-energised; fail-safe (a maglock on an escape route) is open when de-energised.
A fire alarm forces the barrier open and keeps it open until the alarm clears.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.device import Device
from protocols.errors import DeviceError

BarrierState = Literal["open", "locked"]


class BarrierSettings(BaseModel):
    """Settings every barrier relay shares."""

    model_config = ConfigDict(extra="forbid")
    fail_mode: Literal["secure", "safe"] = "secure"
    max_pulse_s: float = Field(30.0, gt=0)


class Barrier(Device):
    """A barrier relay: pulse_open(), hold_open(), lock(), safe_state(), close()."""

    def __init__(self, settings: BarrierSettings, name: str = "barrier"):
        super().__init__(name)
        self.settings = settings
        self._lock = threading.RLock()
        self._state: BarrierState | None = None
        self._fire_alarm = False
        self._timer: threading.Timer | None = None
        self._closed = True

    @abstractmethod
    def _drive(self, energised: bool, state: BarrierState, reason: str) -> None:
        """Set the relay coil (the one place a driver touches hardware)."""

    @abstractmethod
    def _open_device(self) -> None:
        """Acquire the relay (and the fire-alarm input); the relay starts locked."""

    @abstractmethod
    def _release_device(self) -> None:
        """Release the relay and inputs."""

    def open(self) -> None:
        """Acquire the relay and drive it locked (the explicit start-up state)."""
        with self._lock:
            if not self._closed:
                return
            self._closed = False
            self._open_device()
            # An alarm already sounding (set before or during _open_device) wins over start-up.
            if self._fire_alarm:
                self._set("open", "fire_alarm")
            else:
                self._set("locked", "startup")

    @property
    def state(self) -> BarrierState | None:
        """"open" or "locked" as last driven; None before open()."""
        return self._state

    @property
    def fire_alarm_active(self) -> bool:
        """Whether a fire alarm is holding the barrier open."""
        return self._fire_alarm

    def _energised_for(self, state: BarrierState) -> bool:
        # Fail-secure: power opens. Fail-safe: power locks.
        return (state == "open") == (self.settings.fail_mode == "secure")

    def _set(self, state: BarrierState, reason: str) -> None:
        if state != self._state:
            self.log.info("%s: %s (%s)", self.name, state, reason)
        self._drive(self._energised_for(state), state, reason)
        self._state = state

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"{self.name}: barrier is closed (released)")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pulse_open(self, seconds: float, reason: str = "admit") -> None:
        """Open now and lock again after `seconds` (a later pulse or hold replaces this one)."""
        seconds = min(max(0.0, seconds), self.settings.max_pulse_s)
        with self._lock:
            self._check_open()
            self._cancel_timer()
            self._set("open", reason)
            timer = threading.Timer(seconds, self._pulse_end, args=(reason,))
            timer.name = f"{self.name}-pulse"
            timer.daemon = True
            self._timer = timer
            timer.start()

    def _pulse_end(self, reason: str) -> None:
        with self._lock:
            if self._closed or self._timer is None or self._timer is not threading.current_thread():
                return  # replaced by a newer pulse, a hold, a lock or close()
            self._timer = None
            if not self._fire_alarm:
                self._set("locked", f"{reason} pulse ended")

    def hold_open(self, reason: str = "hold") -> None:
        """Open and stay open until lock() or safe_state()."""
        with self._lock:
            self._check_open()
            self._cancel_timer()
            self._set("open", reason)

    def lock(self, reason: str = "lock") -> None:
        """Lock now (ends a pulse or hold); a fire alarm keeps it open regardless."""
        with self._lock:
            self._check_open()
            self._cancel_timer()
            if self._fire_alarm:
                self.log.warning("%s: lock refused, fire alarm active", self.name)
                return
            self._set("locked", reason)

    def safe_state(self, reason: str = "safe_state") -> None:
        """Drive the relay de-energised: locked if fail-secure, open if fail-safe."""
        with self._lock:
            self._cancel_timer()
            if self._closed:
                return
            de_energised: BarrierState = "locked" if self.settings.fail_mode == "secure" else "open"
            self._set("open" if self._fire_alarm else de_energised, reason)

    def fire_alarm(self, active: bool) -> None:
        """A fire alarm input changed: force open while active, lock when it clears."""
        with self._lock:
            self._fire_alarm = active
            if self._closed:
                return
            self._cancel_timer()
            if active:
                self.log.warning("%s: FIRE ALARM, forcing open", self.name)
                self._set("open", "fire_alarm")
            else:
                self._set("locked", "fire_alarm_cleared")

    def close(self) -> None:
        """Drive to the safe state and release the relay; idempotent (atexit, signals, finally)."""
        with self._lock:
            if self._closed:
                return
            self.safe_state("close")
            self._closed = True
            self._release_device()
