"""The per-request store connection, kept in flask.g and closed on teardown."""

from __future__ import annotations

from flask import Flask, current_app, g

from server.store import HubStore


def get_store() -> HubStore:
    """The store for this request (opened on first use)."""
    if "store" not in g:
        g.store = HubStore(current_app.config["DATABASE"])
    return g.store


def close_store(_exc: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened."""
    store = g.pop("store", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    """Create or upgrade the schema now (never lazily) and close connections after each request."""
    store = HubStore(app.config["DATABASE"])
    try:
        store.migrate()
    finally:
        store.close()
    app.teardown_appcontext(close_store)
