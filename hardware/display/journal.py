"""A headless display that appends every screen to a journal file: what a person saw, for audits and tests."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from hardware.display.base import Display, Screen


class ScreenJournal:
    """Appends every screen shown to a file, one JSON line each (the kiosk page's JSON, with the time)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, screen: Screen) -> None:
        """Append one screen; flushed so it outlives a kill -9 of this process."""
        line = json.dumps({"t": time.time(), **screen.to_json()}, ensure_ascii=False)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._fh.close()


class JournalDisplay(Display):
    """The journal alone, for a gate without a kiosk page (simulations, the kill -9 test)."""

    def __init__(self, journal: Path, name: str = "journal"):
        super().__init__(name)
        self._journal = ScreenJournal(journal)

    def show(self, screen: Screen) -> None:
        """Append the screen."""
        self._journal.write(screen)

    def close(self) -> None:
        """Close the journal."""
        self._journal.close()
