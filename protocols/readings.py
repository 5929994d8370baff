"""Whether a temperature reading may decide: the one plausibility check `checkpoint decide` and the gate share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Below 34.0 C the sensor saw a sleeve, hair, a wall or nothing; above 42.5 C is no living forehead.
PLAUSIBLE_MIN_C = 34.0
PLAUSIBLE_MAX_C = 42.5
# A forehead reads below 35.5 C only when cold from outside or measured too far away: a fever can hide
# under it, so it is measured again rather than admitted (issue 11: 31 and 34 C used to admit).
REMEASURE_BELOW_C = 35.5

RemeasureReason = Literal["reading_implausible", "reading_low"]


class ReadingLimits(BaseModel):
    """The band a reading must fall in to decide; outside it the person measures again."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    plausible_min_c: float = Field(default=PLAUSIBLE_MIN_C, ge=20.0, le=40.0,
                                   description="below this a reading is no person: measure again")
    plausible_max_c: float = Field(default=PLAUSIBLE_MAX_C, ge=38.0, le=50.0,
                                   description="above this a reading is no person: measure again")
    remeasure_below_c: float = Field(default=REMEASURE_BELOW_C, ge=20.0, le=40.0,
                                     description="a plausible reading below this is measured again, never admitted")

    @model_validator(mode="after")
    def _ordered(self) -> "ReadingLimits":
        if not self.plausible_min_c <= self.remeasure_below_c < self.plausible_max_c:
            raise ValueError(
                f"plausible_min_c ({self.plausible_min_c}) <= remeasure_below_c ({self.remeasure_below_c}) "
                f"< plausible_max_c ({self.plausible_max_c}) must hold")
        return self


DEFAULT_LIMITS = ReadingLimits()


def remeasure_reason(celsius: float, limits: ReadingLimits = DEFAULT_LIMITS) -> RemeasureReason | None:
    """Why this reading must be taken again, or None when it may decide."""
    if not limits.plausible_min_c <= celsius <= limits.plausible_max_c:  # NaN lands here too
        return "reading_implausible"
    if celsius < limits.remeasure_below_c:
        return "reading_low"
    return None
