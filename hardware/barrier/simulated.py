"""A simulated barrier relay that records every state change with a timestamp."""

from __future__ import annotations

import time
from typing import Literal

from hardware.barrier.base import Barrier, BarrierSettings, BarrierState


class SimulatedBarrierConfig(BarrierSettings):
    """A simulated relay (for development and tests)."""

    type: Literal["simulated"] = "simulated"


class SimulatedBarrier(Barrier):
    """Records (monotonic time, state, reason) for every state change; `energised` mirrors the coil."""

    def __init__(self, config: SimulatedBarrierConfig | None = None, name: str = "barrier"):
        super().__init__(config or SimulatedBarrierConfig(), name)
        self.changes: list[tuple[float, BarrierState, str]] = []
        self.energised = False

    def _drive(self, energised: bool, state: BarrierState, reason: str) -> None:
        self.energised = energised
        if state != self.state:  # a change of state, not every command (a lock while locked is none)
            self.changes.append((time.monotonic(), state, reason))

    def _open_device(self) -> None:
        self.energised = False

    def _release_device(self) -> None:
        pass  # nothing to release: the simulated coil stays as safe_state() left it

    def set_fire_alarm(self, active: bool) -> None:
        """Simulate the fire-alarm contact closing (True) or opening (False)."""
        self.fire_alarm(active)

    def states(self) -> list[BarrierState]:
        """The sequence of states so far (without times and reasons)."""
        return [state for _, state, _ in self.changes]
