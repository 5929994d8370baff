"""Daily controls: closed management on or off, a few rule parameters within allowed ranges, and the
risk-area list with the days each area is in force.

The root key that signs rule bundles stays offline, so what a supervisor changes day to day cannot be
signed into a bundle at the hub. It travels inside the venue's signed schedule (protocols/schedule.py,
the hub's schedule key) as `controls`, and the gate lays it over the bundle it runs (`apply_controls`).
The ranges below bind both sides: the hub refuses a value outside them naming the field, and a gate
refuses a schedule whose controls leave them, so a hub taken over can move the fever threshold or a test
window only within them, and can add risk areas but never remove one the signed bundle names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocols.bundle import Bundle, DatedRiskArea
from protocols.errors import CheckpointError

MAX_AREAS = 20000  # the national list has never named more than a few thousand areas at once


@dataclass(frozen=True)
class ParamRange:
    """What a daily control may be set to: whole numbers from low to high, and how the console names it."""

    low: int
    high: int
    zh: str
    en: str
    unit: str


# Only these parameters are daily controls; every other parameter changes with a new signed bundle.
CONTROL_RANGES: dict[str, ParamRange] = {
    # POLICY.md: 37.3 C is abnormal; a venue may be stricter or, for a hot kitchen, a little looser.
    "feverDeci": ParamRange(370, 380, "发热阈值", "fever threshold", "0.1 ℃"),
    # POLICY.md names 48 h, 72 h and 7 days for a nucleic-acid test; never less than a day.
    "testMaxHours": ParamRange(24, 168, "核酸检测有效时长", "test window", "h"),
    "dccTestMaxHours": ParamRange(24, 168, "欧盟证书检测有效时长", "EU DCC test window", "h"),
}
MODES = ("open", "closed")


class ControlError(CheckpointError):
    """A daily control outside its allowed range, or a controls document not in the documented shape."""

    reason = "bad_controls"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def check_param(name: str, value: Any) -> int:
    """The value if `name` is a daily control and the value is a whole number in its range; ControlError naming it."""
    allowed = CONTROL_RANGES.get(name)
    if allowed is None:
        raise ControlError(f"{name} is not a daily control (known: {', '.join(CONTROL_RANGES)})", name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"{name} must be a whole number", name)
    if not allowed.low <= value <= allowed.high:
        raise ControlError(f"{name} {value} is outside {allowed.low}-{allowed.high} {allowed.unit}", name)
    return value


class Controls(BaseModel):
    """A venue's daily controls as the schedule carries them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["open", "closed"] | None = Field(default=None, description="closed management; None: the bundle's")
    params: dict[str, int] = Field(default_factory=dict, description="daily controls laid over the bundle's")
    risk_areas: list[DatedRiskArea] = Field(default_factory=list, max_length=MAX_AREAS)

    @field_validator("params")
    @classmethod
    def _ranges(cls, value: dict[str, int]) -> dict[str, int]:
        for name, number in value.items():
            try:
                check_param(name, number)
            except ControlError as exc:
                raise ValueError(str(exc)) from None
        return value


def parse_controls(data: Any) -> Controls:
    """Controls read from JSON; ControlError naming the first bad field."""
    try:
        return Controls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "controls"
        raise ControlError(f"controls {where}: {first['msg']}", where) from None


def apply_controls(bundle: Bundle, controls: Controls | None) -> Bundle:
    """The bundle a gate decides with: its parameters overlaid with the daily ones (those its pack has), its mode
    with closed management, its risk areas joined by the daily list's; the bundle itself when there are none."""
    if controls is None or (controls.mode is None and not controls.params and not controls.risk_areas):
        return bundle
    params: dict[str, Any] = dict(bundle.params)
    params.update({k: v for k, v in controls.params.items() if k in bundle.pack.params})
    if controls.mode is not None and "mode" in bundle.pack.params:
        params["mode"] = controls.mode
    # A new instance: its compiled rules (a cached property) are compiled again with these parameters.
    return dataclasses.replace(bundle, params=params, dated_areas=tuple(controls.risk_areas))


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What moved between two sets of controls, as the audit trail words it: "feverDeci 373→375"."""
    moved = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            moved.append(f"{name} {before.get(name, '-')}→{after.get(name, '-')}")
    return moved
