"""The display interface and the Screen model every display shows (Chinese first, English beside)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ScreenState = Literal["idle", "scanning", "measure", "admit", "deny", "refer", "remeasure", "fever", "error"]


class Screen(BaseModel):
    """What the gate shows a person: a state (its colour), a bilingual title, reasons, a countdown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    state: ScreenState
    title_zh: str
    title_en: str
    reasons: list[tuple[str, str]] = Field(default_factory=list)  # (zh, en) each
    countdown_s: int | None = Field(None, ge=0)


class Display(ABC):
    """Something a Screen can be shown on: the kiosk page, a recording simulator."""

    def __init__(self, name: str = "display"):
        self.name = name
        self.log = logging.getLogger(f"{__name__}.{name}")

    def open(self) -> None:
        """Prepare the display (most need nothing)."""

    @abstractmethod
    def show(self, screen: Screen) -> None:
        """Replace what is shown with `screen`; must not block the gate."""

    def close(self) -> None:
        """Release the display; safe to call twice."""
