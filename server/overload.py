"""Load shedding of the device sync: past a bound of syncs in flight in a hub process, a sync is answered
at once with 503 and a Retry-After, rather than queued until the gate's own timeout (issue 14 item 2).

After a power or network cut every gate of a site comes back at the same instant. Queued, a burst of
1,000 syncs took up to 6 s to answer on a 2-worker hub, beyond the gates' 5 s timeout: the gates
retried on top of the queue. Shed, the syncs over the bound cost ~a millisecond each, the ones admitted
are answered in well under a second, and each gate comes back after the Retry-After the hub chose
(jittered over a range, so the retries spread out) with the events still in its outbox.

Settings (app config, or the environment for `checkpoint hub serve`): SYNC_MAX_IN_FLIGHT (syncs one
process runs at once; 0: no bound), SYNC_MAX_WAITING (syncs that may wait for a slot; one more is shed
at once), SYNC_QUEUE_WAIT_S (how long a waiting sync waits for a slot before it is shed), SYNC_RETRY_AFTER_S ("low-high" seconds, the range the Retry-After is drawn from).
"""

from __future__ import annotations

import functools
import os
import random
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from server.http_errors import ApiError

# Per process: a sync spends most of its time in the write transaction, which every writer of the hub
# queues for (server/store.py `write`), so more than two at once per process only wait for the lock.
DEFAULT_MAX_IN_FLIGHT = 2
# How many may wait a moment for a slot (SYNC_QUEUE_WAIT_S) before one more is shed at once. 0 by default:
# measured with 1,000 gates coming back at once (docs/benchmarks.md), 4 waiters of 0.25 s held threads
# the shed answers needed, the accepted connections queued behind them, and 441 syncs passed the gates'
# 5 s timeout; with none waiting, none did and the p99 of answered syncs was 0.85 s.
DEFAULT_MAX_WAITING = 0
DEFAULT_QUEUE_WAIT_S = 0.05
DEFAULT_RETRY_AFTER_S = (1, 5)
ENV = {"SYNC_MAX_IN_FLIGHT": "CHECKPOINT_SYNC_MAX_IN_FLIGHT", "SYNC_MAX_WAITING": "CHECKPOINT_SYNC_MAX_WAITING",
       "SYNC_QUEUE_WAIT_S": "CHECKPOINT_SYNC_QUEUE_WAIT_S",
       "SYNC_RETRY_AFTER_S": "CHECKPOINT_SYNC_RETRY_AFTER_S"}


class OverloadSettingError(ValueError):
    """A shedding setting that is not a number (or range) it can use."""


def _retry_range(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = value
    else:
        low, _, high = str(value).partition("-")
        high = high or low
    try:
        low, high = int(low), int(high)
    except ValueError as exc:
        raise OverloadSettingError(f"SYNC_RETRY_AFTER_S: {value!r} is not whole seconds, e.g. 1-5") from exc
    if not 0 <= low <= high <= 3600:
        raise OverloadSettingError(f"SYNC_RETRY_AFTER_S: {value!r} must be 0 <= low <= high <= 3600")
    return low, high


class SyncSlots:
    """The syncs one hub process runs at once, and the answer to one more."""

    def __init__(self, max_in_flight: int, max_waiting: int, queue_wait_s: float, retry_after_s: tuple[int, int]):
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        self.queue_wait_s = queue_wait_s
        self.retry_after_s = retry_after_s
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight > 0 else None
        self._lock = threading.Lock()
        self.in_flight = 0  # read by tests and metrics
        self.admitted = 0  # in flight or waiting for a slot
        self.shed = 0

    def retry_after(self) -> int:
        """Seconds the gate is told to wait, drawn over the range so that shed gates come back apart."""
        return random.randint(*self.retry_after_s)

    def run(self, view: Callable[[], Any]) -> Any:
        """Run the view in a slot, or raise the 503 when none frees within the queue wait."""
        if self._slots is None:
            return view()
        with self._lock:
            room = self.admitted < self.max_in_flight + self.max_waiting
            if room:
                self.admitted += 1
        if not room:
            self._shed()
        if not self._slots.acquire(timeout=self.queue_wait_s):
            with self._lock:
                self.admitted -= 1
            self._shed()
        with self._lock:
            self.in_flight += 1
        try:
            return view()
        finally:
            with self._lock:
                self.in_flight -= 1
                self.admitted -= 1
            self._slots.release()

    def _shed(self) -> None:
        from server import metrics  # imported late: see HubStore.ingest

        with self._lock:
            self.shed += 1
        metrics.SYNCS_SHED.inc()
        raise ApiError(503, "hub_busy", "中心繁忙，请稍后重试（数据保留在闸机上）/ the hub is busy: try again later "
                       "(the gate keeps its events)", headers={"Retry-After": str(self.retry_after())})


def init_app(app: Flask) -> None:
    """Read the settings (config first, then the environment) and keep this process's slots on the app."""
    def setting(name: str, default: Any) -> Any:
        return app.config.get(name, os.environ.get(ENV[name], default))

    try:
        slots = SyncSlots(int(setting("SYNC_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)),
                          int(setting("SYNC_MAX_WAITING", DEFAULT_MAX_WAITING)),
                          float(setting("SYNC_QUEUE_WAIT_S", DEFAULT_QUEUE_WAIT_S)),
                          _retry_range(setting("SYNC_RETRY_AFTER_S", DEFAULT_RETRY_AFTER_S)))
    except (TypeError, ValueError) as exc:
        raise OverloadSettingError(f"load shedding settings: {exc}") from exc
    app.extensions["sync_slots"] = slots


def slots() -> SyncSlots:
    """This process's sync slots."""
    return current_app.extensions["sync_slots"]


def shed_when_busy(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run a view in one of the process's sync slots; past the bound, answer 503 with Retry-After at once."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return slots().run(lambda: view(*args, **kwargs))

    return wrapped
