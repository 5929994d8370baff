"""What every device shares: a name, a logger under its driver's module, open/close, and `with`."""

from __future__ import annotations

import logging
from abc import ABC
from typing import Self


class Device(ABC):
    """A device the gate opens, uses and closes; every kind's interface extends this."""

    def __init__(self, name: str):
        self.name = name
        self.log = logging.getLogger(f"{type(self).__module__}.{name}")

    def open(self) -> None:
        """Prepare the device (the default: nothing to prepare)."""

    def close(self) -> None:
        """Release the device (the default: nothing to release); safe to call twice."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
