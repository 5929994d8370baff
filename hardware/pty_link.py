"""A raw pty behind a stable symlink: how the simulated serial devices (scanner, thermometer) appear to
the real serial drivers, plugged in and pulled out like a USB-serial cable."""

from __future__ import annotations

import os
import tempfile
import threading
import tty
from pathlib import Path


class PtyLink:
    """A pty whose slave side is reached through `link`; `lock` guards writes to `master` against unplug."""

    def __init__(self, link: Path | str, *, blocking: bool = True):
        self.link = Path(link)
        self.lock = threading.Lock()
        self.master: int | None = None
        self._slave: int | None = None
        # A UART nobody reads loses bytes rather than stalling the device: a non-blocking master says so.
        self._blocking = blocking

    @property
    def plugged(self) -> bool:
        """Whether the pty exists now."""
        return self.master is not None

    def plug(self) -> str | None:
        """A new raw pty behind the link (swapped in atomically); its tty name, or None if already plugged."""
        with self.lock:
            if self.master is not None:
                return None
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes arrive as the device sent them
            os.set_blocking(master, self._blocking)
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.ttyname(slave))
            os.replace(tmp, self.link)
            self.master, self._slave = master, slave
            return os.ttyname(slave)

    def unplug(self) -> bool:
        """Close the pty and remove the link; False if it was not plugged (safe to call twice)."""
        with self.lock:
            master, slave = self.master, self._slave
            self.master = self._slave = None
            if master is None:
                return False
            self.link.unlink(missing_ok=True)
            os.close(master)
            os.close(slave)
            return True


def link_path(link: Path | None, prefix: str, name: str) -> tuple[tempfile.TemporaryDirectory[str] | None, Path]:
    """Where a simulator's link goes: `link` as given, or `name` in a new temp dir (returned, to clean up)."""
    if link is not None:
        return None, link
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    return tmp, Path(tmp.name) / name
