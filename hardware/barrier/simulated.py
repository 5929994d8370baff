"""A simulated barrier relay that records every state change with a timestamp, and journals it if asked."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from hardware.barrier.base import Barrier, BarrierSettings, BarrierState


class SimulatedBarrierConfig(BarrierSettings):
    """A simulated relay (for development and tests), optionally journalling every change to a file."""

    type: Literal["simulated"] = "simulated"
    journal: Path | None = Field(default=None, description="append every relay change to this file")


class SimulatedBarrier(Barrier):
    """Records (monotonic time, state, reason) for every state change; `energised` mirrors the coil.

    With a journal, each change is also appended to it as one JSON line (wall time, state, reason)
    as it happens, so a test can compare what the relay did with what the gate recorded.
    """

    def __init__(self, config: SimulatedBarrierConfig | None = None, name: str = "barrier"):
        config = config or SimulatedBarrierConfig()
        super().__init__(config, name)
        self.changes: list[tuple[float, BarrierState, str]] = []
        self.energised = False
        self._journal = None
        if config.journal is not None:
            config.journal.parent.mkdir(parents=True, exist_ok=True)
            self._journal = open(config.journal, "a", encoding="utf-8")
        self._journal_lock = threading.Lock()

    def _drive(self, energised: bool, state: BarrierState, reason: str) -> None:
        self.energised = energised
        if state == self.state:
            return  # a change of state, not every command (a lock while locked is none)
        self.changes.append((time.monotonic(), state, reason))
        if self._journal is not None:
            with self._journal_lock:
                # Flushed at once: the line must outlive a kill -9 right after the relay moved.
                self._journal.write(json.dumps({"t": time.time(), "state": state, "reason": reason}) + "\n")
                self._journal.flush()

    def _open_device(self) -> None:
        self.energised = False

    def _release_device(self) -> None:
        # The simulated coil stays as safe_state() left it; only the journal is closed.
        if self._journal is not None:
            with self._journal_lock:
                self._journal.close()
                self._journal = None

    def set_fire_alarm(self, active: bool) -> None:
        """Simulate the fire-alarm contact closing (True) or opening (False)."""
        self.fire_alarm(active)

    def states(self) -> list[BarrierState]:
        """The sequence of states so far (without times and reasons)."""
        return [state for _, state, _ in self.changes]
