"""Surplus exits and the cap (issue 9, item 3; item 8): the hub under gunicorn, gates syncing as devices do.

An exit frees a place only when its subject is counted inside, so a device posting exits of people
who never entered cannot lend extra places; an entry gate cannot post exits at all; and a lease
call claiming huge `unsynced` admissions cannot hold more places than the gate was lent.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agent.config import SyncSection
from agent.store import AgentStore
from agent.sync import SyncClient
from demo.processes import Processes, free_port, wait_for_port
from protocols import contract
from protocols.events import GateEvent, new_event_id
from server.store import HubStore

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
VENUE = "mall"
CAP = 5


def _event(gate: str, subject: str, *, exit_: bool = False, ago_s: float = 1.0) -> GateEvent:
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=ago_s)
    if exit_:
        return GateEvent(id=new_event_id(), kind="exit", venue=VENUE, gate=gate, at=at, direction="out",
                         decision="admit", subject=subject)
    return GateEvent(id=new_event_id(), kind="decision", venue=VENUE, gate=gate, at=at, decision="admit",
                     subject=subject)


@pytest.fixture
def served(tmp_path: Path, hub_database: str):
    """`checkpoint hub add-venue` with an entry and an exit gate, then `checkpoint hub serve` (gunicorn)."""
    db = hub_database
    subprocess.run([*CLI, "hub", "init", "--database", db, "--admin", "admin"], check=True, capture_output=True,
                   env={"CHECKPOINT_ADMIN_PASSWORD": "a-long-admin-password", "PATH": "/usr/bin:/bin"})
    subprocess.run([*CLI, "hub", "add-venue", "--database", db, "--venue", VENUE, "--cap", str(CAP),
                    "--gate", "in-1", "--exit-gate", "out-1"], check=True, capture_output=True)
    store = HubStore(db)
    secrets = {g: store.redeem_token(store.create_enroll_token(VENUE, g))[1] for g in ("in-1", "out-1")}  # type: ignore[index]
    procs = Processes()
    port = free_port()
    procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port)], quiet=True)
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}", store, secrets, tmp_path
    finally:
        procs.stop_all()
        store.close()


def _client(url: str, gate: str, secret: str, work: Path) -> tuple[AgentStore, SyncClient]:
    local = AgentStore(work / f"{gate}.sqlite", b"k" * 32)
    return local, SyncClient(local, SyncSection(hub_url=url, device_id=gate, documents_dir=work / f"{gate}-docs"),
                             venue=VENUE, gate=gate, secret=secret)


@pytest.mark.slow
def test_surplus_exits_free_no_place_and_an_entry_gate_cannot_post_exits(served) -> None:
    url, store, secrets, work = served
    entry_store, entry = _client(url, "in-1", secrets["in-1"], work)
    exit_store, exit_gate = _client(url, "out-1", secrets["out-1"], work)
    # Ten exits of people who never entered: stored, but the number inside stays 0, not -10.
    for i in range(10):
        exit_store.record(_event("out-1", f"ghost-{i}", exit_=True, ago_s=5))
    assert exit_gate.sync_http() == 10
    occ = store.occupancy(VENUE)
    assert occ is not None and (occ["inside"], occ["exits"], occ["free"]) == (0, 0, CAP)
    # So the cap lends 5 places, not 15.
    assert entry.renew_lease(want=100)["grant"] <= CAP
    admitted = [f"p{i}" for i in range(CAP)]
    for subject in admitted:
        entry_store.record(_event("in-1", subject))
    assert entry.sync_http() == CAP
    assert store.occupancy(VENUE)["inside"] == CAP  # type: ignore[index]
    assert entry.renew_lease(want=100)["grant"] == 0
    # The entry gate's device posts exits of the people inside: refused, named with its reason, not resent.
    forged = [_event("in-1", s, exit_=True) for s in admitted]
    for e in forged:
        entry_store.record(e)
    assert entry.sync_http() == 0
    assert entry_store.outbox_pending() == []
    assert store.occupancy(VENUE)["inside"] == CAP  # type: ignore[index]
    answer = requests.post(url + contract.path(contract.DEVICE_SYNC), timeout=10,
                           headers={"Authorization": f"Bearer {secrets['in-1']}"},
                           json=contract.wire(contract.SyncRequest(events=[_event("in-1", "p0", exit_=True)])))
    assert answer.status_code == 200
    refused = answer.json()["refused"]
    assert [r["reason"] for r in refused] == ["wrong_direction"] and answer.json()["acked"] == []
    # A real exit of someone inside frees exactly one place; leaving twice frees no second one.
    exit_store.record(_event("out-1", "p0", exit_=True))
    exit_store.record(_event("out-1", "p0", exit_=True, ago_s=0.5))
    assert exit_gate.sync_http() == 2
    occ = store.occupancy(VENUE)
    assert occ is not None and (occ["inside"], occ["exits"]) == (CAP - 1, 1)
    # The exit gate cannot post entries either.
    exit_store.record(_event("out-1", "intruder"))
    assert exit_gate.sync_http() == 0 and store.occupancy(VENUE)["entries"] == CAP  # type: ignore[index]


@pytest.mark.slow
def test_one_gate_claiming_huge_unsynced_cannot_starve_the_cap(served) -> None:
    url, store, secrets, work = served
    greedy = requests.post(url + contract.path(contract.DEVICE_LEASE), timeout=10,
                           headers={"Authorization": f"Bearer {secrets['in-1']}"},
                           json={"want": 0, "unsynced": 100_000})
    assert greedy.status_code == 200 and greedy.json()["held"] == 0, greedy.text
    occ = store.occupancy(VENUE)
    assert occ is not None and (occ["leased"], occ["free"]) == (0, CAP)
    # With places lent, unsynced counts at most up to them.
    lent = requests.post(url + contract.path(contract.DEVICE_LEASE), timeout=10,
                         headers={"Authorization": f"Bearer {secrets['in-1']}"}, json={"want": 2}).json()
    again = requests.post(url + contract.path(contract.DEVICE_LEASE), timeout=10,
                          headers={"Authorization": f"Bearer {secrets['in-1']}"},
                          json={"want": 0, "unsynced": 100_000}).json()
    assert again["held"] == lent["held"] == 2
    assert store.occupancy(VENUE)["free"] == CAP - 2  # type: ignore[index]
