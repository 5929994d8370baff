"""The display interface and the one Screen every display shows (Chinese first, English beside)."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from hardware.device import Device

# "wait": amber, the venue is full for now (no red refusal of a person who did nothing wrong).
ScreenState = Literal["idle", "scanning", "measure", "admit", "deny", "refer", "remeasure", "fever", "error", "wait"]
BilingualText = tuple[str, str]  # (zh, en)


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Screen:
    """What the gate shows a person: a state (its colour), a bilingual title, reasons, who, a countdown, faults."""

    state: ScreenState
    title_zh: str
    title_en: str
    reasons: tuple[BilingualText, ...] = ()
    name: str | None = None  # masked
    celsius: float | None = None
    # int first, so a whole-second countdown stays an int on the page's JSON.
    countdown_s: int | float | None = Field(None, ge=0)
    event_id: str | None = None
    faults: tuple[BilingualText, ...] = ()  # device faults shown under the prompt
    spoken: tuple[BilingualText, ...] = ()  # the reasons as the voice says them, short (empty: the reasons)
    # Whether the supervisors know: "will be reported" until the hub confirms it holds the alert, then "reported".
    report: BilingualText | None = None

    def whole_seconds(self) -> Screen:
        """This screen with its countdown rounded to whole seconds, as a display draws it."""
        if self.countdown_s is None:
            return self
        return dataclasses.replace(self, countdown_s=round(self.countdown_s))

    def to_json(self) -> dict[str, Any]:
        """The JSON the kiosk page renders and the screen journal keeps."""
        return {
            "state": self.state,
            "title": {"zh": self.title_zh, "en": self.title_en},
            "reasons": [{"zh": zh, "en": en} for zh, en in self.reasons],
            "name": self.name,
            "celsius": self.celsius,
            "countdown_s": self.countdown_s,
            "event_id": self.event_id,
            "faults": [{"zh": zh, "en": en} for zh, en in self.faults],
            "report": {"zh": self.report[0], "en": self.report[1]} if self.report else None,
        }


class Display(Device):
    """Something a Screen can be shown on: the kiosk page, a journal file, a recording simulator."""

    def __init__(self, name: str = "display"):
        super().__init__(name)

    @abstractmethod
    def show(self, screen: Screen) -> None:
        """Replace what is shown with `screen`; must not block the gate."""
