"""A `limits` storage backend on the hub's database (SQLite or PostgreSQL), so Flask-Limiter's counts
hold across gunicorn workers and hub processes.

Why our own: `limits` ships memory (per process: two workers would each allow the full count),
Redis, Memcached, MongoDB and Valkey storages, none of which the hub runs; the hub's one shared
state is its database. The counters are a fixed window per key in the `rate_limits` table
(SQL in server/store_console.py), written under the store's write lock.
"""

from __future__ import annotations

import threading

from limits.storage import Storage
from sqlalchemy.exc import SQLAlchemyError

from protocols.clock import utc_now
from server.store import HubStore

SCHEME = "hubdb"


class HubDatabaseStorage(Storage):
    """Fixed-window counters in the hub database: `hubdb://` + the hub's database path or URL."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        """Open nothing yet: each thread opens its own connection on first use (a store's connection stays in its thread)."""
        super().__init__(uri, wrap_exceptions, **options)
        self.path = (uri or "").removeprefix(f"{SCHEME}://")
        self._local = threading.local()

    def _store(self) -> HubStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = HubStore(self.path)
        return store

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What a failing database raises."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` more in the key's window (started now when none runs)."""
        return self._store().limit_incr(key, expiry, amount, utc_now().timestamp())

    def get(self, key: str) -> int:
        """The count in the key's running window."""
        return self._store().limit_get(key, utc_now().timestamp())[0]

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (epoch seconds)."""
        return self._store().limit_get(key, utc_now().timestamp())[1]

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            self._store().limit_get("-", 0.0)
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter."""
        return self._store().limit_clear()

    def clear(self, key: str) -> None:
        """Forget one counter."""
        self._store().limit_clear(key)
