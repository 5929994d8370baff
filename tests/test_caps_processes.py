"""Honest caps with real parts: the hub under gunicorn (`hub serve`), gates as `agent simulate` processes.

Each test runs on both engines (`hub_database`: a SQLite file, or a PostgreSQL database the hub serves
by URL). A gate killed with -9 keeps the places lent to it; a supervisor gets them back only by an audited
reclaim, refused until the gate has been silent for the venue's time, and then a new gate in the
empty venue admits. A gate stopped with SIGTERM returns its places itself; an exit gate holds none.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import requests

from demo.processes import Processes, free_port, wait_for_port
from server.store import HubStore
from tests.conftest import wait_until

pytestmark = pytest.mark.slow  # real processes: outside the fast loop

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
VENUE, ADMIN = "hall", ("admin", "admin-password-for-tests")
ENV = {**os.environ, "CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_LOG": "WARNING"}


def start_hub(procs: Processes, db: str, **settings) -> tuple[str, str]:
    """The hub database `db` (a SQLite path or a PostgreSQL URL) with an admin and one venue, served by
    `hub serve` on a free port."""
    store = HubStore(db)
    store.migrate()
    store.create_user(*ADMIN, "admin")
    store.create_venue(VENUE, settings)
    store.close()
    port = free_port()
    procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port)], quiet=True)
    wait_for_port(port, 30)
    return db, f"http://127.0.0.1:{port}"


def add_gate(db: str, gate: str, direction: str = "in") -> tuple[str, str]:
    """A gate of the venue with an enrolled device: (device id, secret)."""
    store = HubStore(db)
    store.create_gate(VENUE, gate, direction=direction)
    device, secret = store.redeem_token(store.create_enroll_token(VENUE, gate))
    store.close()
    return device.id, secret


def start_gate(procs: Processes, work: Path, hub_url: str, gate: str, device: tuple[str, str], *args: str) -> None:
    """`agent simulate` for one gate, syncing every 0.3 s, screens journalled under work/gate."""
    cmd = [*CLI, "agent", "simulate", "--hub", hub_url, "--venue", VENUE, "--gate", gate, "--device-id", device[0],
           "--store", str(work / gate / "agent.sqlite"), "--journal-dir", str(work / gate), "--sync-interval", "0.3",
           *args]
    procs.start(gate, cmd, env={**ENV, "CHECKPOINT_DEVICE_SECRET": device[1]})


def held(db: str) -> dict[str, int]:
    """Places lent per gate, as the hub's store has them."""
    store = HubStore(db)
    try:
        return {g["id"]: g["lease"] for g in store.gates(VENUE)}
    finally:
        store.close()


def summary(procs: Processes, gate: str) -> str:
    """The simulation's summary line."""
    return next(line for line in procs.lines[gate] if "summary" in line)


def test_a_gate_killed_with_places_lent_gets_them_reclaimed_after_the_time_not_before(tmp_path: Path, hub_database: str) -> None:
    procs = Processes()
    admin = requests.Session()
    admin.auth = ADMIN
    try:
        db, hub_url = start_hub(procs, hub_database, cap=3, lease_reclaim_after_s=4)
        # The only gate asks for places and gets the whole cap; it refuses everyone (red codes), so the
        # venue stays empty, then it dies without a word.
        start_gate(procs, tmp_path, hub_url, "east", add_gate(db, "east"), "--people", "0", "--kinds", "red")
        assert wait_until(lambda: held(db).get("east") == 3, 30, "east holds the cap")
        procs.procs["east"].send_signal(signal.SIGKILL)
        procs.procs["east"].wait(timeout=10)

        reclaim = f"{hub_url}/api/v1/venues/{VENUE}/gates/east/lease/reclaim"
        early = admin.post(reclaim, timeout=10)
        assert early.status_code == 409 and early.json()["error"]["reason"] == "gate_not_silent", early.text
        lent = {r["gate"]: r for r in admin.get(f"{hub_url}/api/v1/venues/{VENUE}/leases", timeout=10).json()}
        assert lent["east"]["held"] == 3 and lent["east"]["last_contact"] and not lent["east"]["reclaimable"]

        # A new gate in the empty venue: every place is still lent to the dead one, so it can only ask to wait.
        west = add_gate(db, "west")
        start_gate(procs, tmp_path, hub_url, "west", west, "--people", "2", "--kinds", "green", "--pace", "0.1")
        assert procs.procs["west"].wait(timeout=60) == 0, "".join(procs.lines["west"])[-2000:]
        assert "admit" not in summary(procs, "west") and "deny 2" in summary(procs, "west")
        screens = [json.loads(line) for line in (tmp_path / "west" / "screens.jsonl").read_text().splitlines()]
        assert "wait" in {s["state"] for s in screens} and "deny" not in {s["state"] for s in screens}

        assert wait_until(lambda: admin.get(f"{hub_url}/api/v1/venues/{VENUE}/leases", timeout=10).json()[0]["reclaimable"],
                          15, "east silent for the venue's time")
        late = admin.post(reclaim, timeout=10)
        assert late.status_code == 200 and late.json()["reclaimed"] == 3, late.text
        audit = HubStore(db).audit_log()
        assert ("admin", "lease.reclaim", "east: 3") in [(a["username"], a["action"], a["target"]) for a in audit]

        procs.lines["west"].clear()
        start_gate(procs, tmp_path, hub_url, "west", west, "--people", "2", "--kinds", "green", "--pace", "0.1")
        assert procs.procs["west"].wait(timeout=60) == 0, "".join(procs.lines["west"])[-2000:]
        assert "admit 2" in summary(procs, "west")
    finally:
        procs.stop_all()


def test_an_exit_gate_holds_no_places_and_leaves_the_cap_to_the_entry_gate(tmp_path: Path, hub_database: str) -> None:
    procs = Processes()
    try:
        db, hub_url = start_hub(procs, hub_database, cap=6)
        start_gate(procs, tmp_path, hub_url, "east", add_gate(db, "east"), "--people", "0", "--kinds", "red")
        start_gate(procs, tmp_path, hub_url, "exit", add_gate(db, "exit", "out"), "--people", "0", "--kinds", "red",
                   "--direction", "out")
        store = HubStore(db)
        assert wait_until(lambda: store.gates(VENUE, "exit")[0]["last_seen"] is not None, 30, "the exit gate synced")
        store.close()
        # The whole cap goes to the one entry gate, none of it to the exit gate.
        assert wait_until(lambda: held(db) == {"east": 6, "exit": 0}, 30, "east holds the cap, the exit gate nothing")
    finally:
        procs.stop_all()


def test_a_gate_stopped_with_sigterm_returns_its_places(tmp_path: Path, hub_database: str) -> None:
    procs = Processes()
    try:
        db, hub_url = start_hub(procs, hub_database, cap=6)
        start_gate(procs, tmp_path, hub_url, "east", add_gate(db, "east"), "--people", "0", "--kinds", "red")
        assert wait_until(lambda: held(db).get("east") == 6, 30, "east holds the cap")
        procs.procs["east"].send_signal(signal.SIGTERM)
        assert procs.procs["east"].wait(timeout=30) == 0, "".join(procs.lines["east"])[-2000:]
        assert held(db)["east"] == 0
    finally:
        procs.stop_all()
