"""The hub's retention process: one beside each `checkpoint hub serve` (server/wsgi_server.py starts it), not a
thread in every gunicorn worker.

It waits before importing the store, so a starting hub's workers have the CPU to themselves, then purges every
`$CHECKPOINT_RETENTION_INTERVAL_S` seconds (server/retention.py: bounded batches, one process of the whole hub
at a time under its lock row, however many `hub serve` machines share the database). It ends when the
`hub serve` that started it is gone (a SIGKILLed master leaves no purger behind).
"""

from __future__ import annotations

import logging
import os
import sys
import time

INTERVAL_ENV = "CHECKPOINT_RETENTION_INTERVAL_S"  # seconds between purges; 0: no background purge
FIRST_ENV = "CHECKPOINT_RETENTION_FIRST_S"  # seconds before the first purge (default server/retention.py's)


def _wait(seconds: float, parent: int) -> bool:
    """Sleep `seconds` in short steps; False as soon as the parent process is gone."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.getppid() != parent:
            return False
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    return os.getppid() == parent


def main() -> None:
    """Purge the hub's database ($CHECKPOINT_DATABASE_URL) on a timer until the parent `hub serve` ends."""
    parent = os.getppid()
    first = float(os.environ.get(FIRST_ENV, "30"))
    if not _wait(first, parent):
        return
    # Imported only now: the store and its libraries cost a second of CPU a starting hub needs.
    from server.retention import DEFAULT_INTERVAL_S, RetentionWorker

    logging.basicConfig(level=os.environ.get("CHECKPOINT_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s retention %(levelname)s %(message)s")
    interval = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    worker = RetentionWorker(os.environ["CHECKPOINT_DATABASE_URL"], interval_s=interval, first_after_s=0)
    while True:
        try:
            worker.run_once()
        except Exception:  # noqa: BLE001 (a failed turn is logged and tried again next time)
            logging.getLogger(__name__).exception("purge failed; retrying in %.0f s", interval)
        if not _wait(interval, parent):
            return


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: `hub serve` stops it anyway
        pass
