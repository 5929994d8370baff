"""Fixtures and helpers shared by every test: a real Mosquitto broker, a hub on a temporary database
(SQLite or PostgreSQL: `hub_engine`), gpiozero's mock pins, and one way to wait for a condition.

The processes themselves (free ports, the Mosquitto and PostgreSQL launchers) are the demo's: `demo/processes.py`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from demo.processes import Postgres, free_port, start_mosquitto, start_postgres


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the test session (initdb + pg_ctl in a temporary folder, a free port)."""
    cluster = start_postgres()
    yield cluster
    cluster.stop()


_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def hub_engine(request: pytest.FixtureRequest) -> str:
    """Which engine the hub's database runs on: every test that uses it runs on both.

    PostgreSQL's half is marked slow: its cluster takes seconds to start, and the fast subset has a minute.
    """
    return request.param


@pytest.fixture
def hub_databases(hub_engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Make fresh hub databases for one test: a SQLite file in the folder given, or a new PostgreSQL database (its URL)."""
    made: list[str] = []

    def fresh(folder: Path) -> str:
        if hub_engine == "sqlite":
            folder.mkdir(parents=True, exist_ok=True)
            return str(folder / "hub.db")
        cluster: Postgres = request.getfixturevalue("postgres")
        name = f"hub_{next(_databases)}"
        run_sql(cluster.url(), f"CREATE DATABASE {name}", autocommit=True)
        made.append(name)
        return cluster.url(name)

    yield fresh
    if made:
        cluster = request.getfixturevalue("postgres")
        for name in made:
            run_sql(cluster.url(), f"DROP DATABASE {name} WITH (FORCE)", autocommit=True)  # ends connections left open


@pytest.fixture
def hub_database(hub_databases: Callable[[Path], str], tmp_path: Path) -> str:
    """The hub's database for one test, fresh: tmp_path/hub.db on SQLite, else a new PostgreSQL database's URL."""
    return hub_databases(tmp_path)


def run_sql(database: str | Path, statement: str, params: dict[str, Any] | list[Any] | None = None,
            autocommit: bool = False) -> list[tuple]:
    """Run one SQL statement on a hub database of either engine (a test's own poke); the rows it returns.

    `params` a dict for :name placeholders, or a list for `?` ones (as sqlite3 takes them).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from server.store_engine import database_url

    if isinstance(params, list):
        pieces = statement.split("?")
        statement = "".join(p + (f":p{i}" if i < len(pieces) - 1 else "") for i, p in enumerate(pieces))
        params = {f"p{i}": value for i, value in enumerate(params)}

    engine = create_engine(database_url(database), poolclass=NullPool,
                           **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))
    try:
        with engine.begin() as c:
            result = c.execute(text(statement), params or {})
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


@dataclass
class TestHub:
    """A hub on a temporary database: its store, its app, the devices enrolled per gate, and its URL when served."""

    __test__ = False  # not a test class, whatever its name

    db: str  # the DATABASE setting: a SQLite path or a PostgreSQL URL (`hub_engine`)
    store: Any
    app: Any
    devices: dict[str, tuple[Any, str]] = field(default_factory=dict)
    server: Any = None
    url: str = ""

    def sql(self, statement: str, params: dict[str, Any] | list[Any] | None = None) -> list[tuple]:
        """Run one SQL statement on this hub's database, outside the store (a test's poke)."""
        return run_sql(self.db, statement, params)


@pytest.fixture
def hub_factory(tmp_path: Path, hub_database: str, hub_databases: Callable[[Path], str]) -> Iterator[Callable[..., TestHub]]:
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
        # A second hub of a test (another folder) gets a database of its own; the first gets the test's.
        db = hub_databases(folder) if folder is not None else hub_database
        app = create_app({"DATABASE": db, **({"TESTING": True} if testing else {})})  # migrates the database
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
        hub.store.close()
