"""The documents a gate runs (bundle, trust list, risk areas, roster...), switched atomically.

Each kind is one file `{kind}` in the documents folder; `running.json` lists the version of each.
A new version is written to a temporary file, checked by the caller's `verify` (signature, schema),
then renamed over the old one: a reader sees the old document or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from protocols.errors import CheckpointError

log = logging.getLogger(__name__)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DocumentCache:
    """The folder of documents a gate runs, with their versions and ETags."""

    def __init__(self, folder: Path, verify: Callable[[str, bytes], None] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.verify = verify
        self._lock = threading.Lock()

    def _index(self) -> dict[str, dict[str, str]]:
        path = self.folder / "running.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("running.json unreadable, fetching everything again: %s", exc)
            return {}

    def running(self) -> dict[str, str]:
        """The version of each document the gate runs now (reported to the hub)."""
        return {kind: meta["version"] for kind, meta in self._index().items()}

    def conditional_headers(self, kind: str) -> dict[str, str]:
        """`If-None-Match` for the version held, so an unchanged document costs a 304."""
        etag = self._index().get(kind, {}).get("etag")
        return {"If-None-Match": etag} if etag else {}

    def path(self, kind: str) -> Path:
        """Where the running version of a document is."""
        return self.folder / kind

    def install(self, kind: str, version: str, etag: str, body: bytes) -> bool:
        """Check and switch to a new version; False (and the old one kept) when it does not verify."""
        if self.verify is not None:
            try:
                self.verify(kind, body)
            except (CheckpointError, ValueError) as exc:  # a bad document keeps the old one running
                log.warning("refused %s version %s: %s", kind, version, exc)
                return False
        with self._lock:
            _atomic_write(self.path(kind), body)
            index = self._index()
            index[kind] = {"version": version, "etag": etag}
            _atomic_write(self.folder / "running.json", json.dumps(index, sort_keys=True).encode())
        log.info("now running %s version %s", kind, version)
        return True
