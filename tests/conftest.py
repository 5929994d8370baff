"""Fixtures and helpers shared by every test: a real Mosquitto broker, a hub on a temporary database,
gpiozero's mock pins, and one way to wait for a condition.

The processes themselves (free ports, the Mosquitto launcher) are the demo's: `demo/processes.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from demo.processes import free_port, start_mosquitto


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> bool:
    """Poll until predicate() is true (then True), or fail the test naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    if predicate():
        return True
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def mosquitto(tmp_path: Path):
    """A real Mosquitto broker on a free port, stopped after the test."""
    broker = start_mosquitto(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture
def pins():
    """gpiozero's MockFactory as the pin factory for one test, the previous one restored after."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


@dataclass
class TestHub:
    """A hub on a temporary database: its store, its app, the devices enrolled per gate, and its URL when served."""

    __test__ = False  # not a test class, whatever its name

    db: Path
    store: Any
    app: Any
    devices: dict[str, tuple[Any, str]] = field(default_factory=dict)
    server: Any = None
    url: str = ""


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Callable[..., TestHub]]:
    """Build a hub: venues (id -> settings), gates per venue, devices enrolled at some gates, served over HTTP or not.

    hub_factory(venues={"acme": {"cap": 12}}, gates={"acme": ["g0", "g1"]}, enroll=[("acme", "g0")], serve=True)
    """
    from werkzeug.serving import make_server

    from server.app import create_app
    from server.store import HubStore

    hubs: list[TestHub] = []

    def make(venues: dict[str, dict] | None = None, gates: dict[str, list[str]] | None = None,
             enroll: list[tuple[str, str]] | None = None, serve: bool = False, testing: bool = False,
             folder: Path | None = None) -> TestHub:
        db = (folder or tmp_path) / "hub.db"
        app = create_app({"DATABASE": str(db), **({"TESTING": True} if testing else {})})  # migrates the database
        store = HubStore(db)
        for venue, settings in (venues or {}).items():
            store.create_venue(venue, settings)
        for venue, names in (gates or {}).items():
            for gate in names:
                store.create_gate(venue, gate)
        hub = TestHub(db, store, app)
        for venue, gate in enroll or ():
            hub.devices[gate] = store.redeem_token(store.create_enroll_token(venue, gate))
        if serve:
            hub.server = make_server("127.0.0.1", free_port(), app, threaded=True)
            threading.Thread(target=hub.server.serve_forever, name="hub", daemon=True).start()
            hub.url = f"http://127.0.0.1:{hub.server.server_port}"
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        if hub.server is not None:
            hub.server.shutdown()
