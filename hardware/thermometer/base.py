"""The thermometer interface: the latest reading, whether it is fresh, and the connection state."""

from __future__ import annotations

import datetime as dt
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware.device import Device
from protocols.clock import utc_now
# The device's own flag uses the band the gate decides with (protocols/readings.py), so its log agrees.
from protocols.readings import PLAUSIBLE_MAX_C, PLAUSIBLE_MIN_C

DEFAULT_MAX_AGE_S = 3.0


class ThermometerSettings(BaseModel):
    """Settings every thermometer driver shares."""

    model_config = ConfigDict(extra="forbid")
    # calibrated = measured * calibration_gain + calibration_offset_c (`checkpoint agent calibrate-thermometer`
    # fits the offset against one reference reading, offset and gain against two).
    calibration_offset_c: float = Field(0.0, ge=-5.0, le=5.0)
    calibration_gain: float = Field(1.0, ge=0.8, le=1.2)
    # Ambient compensation, off at 0: body = skin + k * (skin - ambient), the heat-balance form of
    # US patent 6,056,435 (Pompei, Exergen, "Ambient and perfusion normalized temperature detector":
    # a weighted difference of surface and ambient temperature, k about 0.13 there for the armpit).
    # The ambient is the MLX90614's own sensor temperature from its binary frame; fit k per site.
    ambient_compensation_k: float = Field(0.0, ge=0.0, le=0.5,
                                          description="k of body = skin + k (skin - ambient); 0: off")

    @model_validator(mode="after")
    def _ambient_needs_the_binary_frame(self) -> "ThermometerSettings":
        if self.ambient_compensation_k and getattr(self, "wire_format", None) != "binary":
            raise ValueError("thermometer.ambient_compensation_k needs wire_format = \"binary\": only the "
                             "MLX90614 frame carries the ambient temperature")
        return self
    plausible_min_c: float = PLAUSIBLE_MIN_C
    plausible_max_c: float = PLAUSIBLE_MAX_C
    open_attempts: int = Field(3, ge=1)
    retry_delay_s: float = Field(0.2, gt=0)
    max_backoff_s: float = Field(5.0, gt=0)


@dataclass(frozen=True)
class Reading:
    """One calibrated reading: when it arrived (monotonic and wall clock) and the raw message."""

    celsius: float
    at_monotonic: float
    at_wallclock: dt.datetime
    raw: bytes
    plausible: bool = True  # False: outside the plausible range, ask for a re-measure

    @property
    def out_of_range(self) -> bool:
        """True when the agent must ask for a re-measure instead of deciding on this reading."""
        return not self.plausible

    def age_s(self, now_monotonic: float | None = None) -> float:
        """Seconds since the reading arrived."""
        return (time.monotonic() if now_monotonic is None else now_monotonic) - self.at_monotonic


class Thermometer(Device):
    """A thermometer: open it, ask for the latest fresh reading, close it."""

    def __init__(self, settings: ThermometerSettings, name: str):
        super().__init__(name)
        self.settings = settings
        self._lock = threading.Lock()
        self._last: Reading | None = None
        self._connected = False
        self._listeners: list[Callable[[Reading], None]] = []

    @abstractmethod
    def open(self) -> None:
        """Connect to the device (bounded retry) and start receiving readings."""

    @abstractmethod
    def close(self) -> None:
        """Stop receiving and release the device; safe to call twice."""

    @property
    def connected(self) -> bool:
        """Whether the device is connected right now."""
        return self._connected

    def latest(self, max_age_s: float = DEFAULT_MAX_AGE_S) -> Reading | None:
        """The latest reading if it is at most `max_age_s` old, else None (stale or none yet)."""
        with self._lock:
            reading = self._last
        if reading is None or reading.age_s() > max_age_s:
            return None
        return reading

    def add_listener(self, callback: Callable[[Reading], None]) -> None:
        """Call `callback(reading)` for every reading, on the driver's thread (keep it short)."""
        self._listeners.append(callback)

    def last_reading(self) -> Reading | None:
        """The latest reading however old it is (for status pages, not for decisions)."""
        with self._lock:
            return self._last

    def _record(self, measured_c: float, raw: bytes, at_monotonic: float | None = None,
                at_wallclock: dt.datetime | None = None, ambient_c: float | None = None) -> Reading:
        """Compensate for the ambient (when configured and sent), calibrate (gain, then offset), flag
        implausible values, and keep it as the latest."""
        k = self.settings.ambient_compensation_k
        if k and ambient_c is not None:
            measured_c = measured_c + k * (measured_c - ambient_c)
        celsius = round(measured_c * self.settings.calibration_gain + self.settings.calibration_offset_c, 2)
        plausible = self.settings.plausible_min_c <= celsius <= self.settings.plausible_max_c
        reading = Reading(
            celsius=celsius,
            at_monotonic=time.monotonic() if at_monotonic is None else at_monotonic,
            at_wallclock=at_wallclock or utc_now(),
            raw=raw,
            plausible=plausible,
        )
        if not plausible:
            self.log.info("%s: reading %.2f C outside %.1f-%.1f C, flagged", self.name, celsius,
                          self.settings.plausible_min_c, self.settings.plausible_max_c)
        with self._lock:
            self._last = reading
        for callback in self._listeners:
            callback(reading)
        return reading

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self.log.info("%s: %s", self.name, "connected" if connected else "disconnected")
        self._connected = connected
