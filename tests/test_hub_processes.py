"""Several hub processes on one PostgreSQL (issue 13): three `hub serve` processes (gunicorn), 16 gates at
the cap spread across them, four of them cut off from the network for a while (admitting offline on their
leases); one hub killed with -9 while batches are in flight. Nothing overfills the venue, every event is
stored once, none is lost.

The gates here are the fleet client's kind (bench/fleet.py): threads speaking the device API over HTTP
(lease, sync), each keeping an outbox until the hub acknowledges it and failing over to the next hub when
its own does not answer, as a gate behind a load balancer sees it. Real gate processes (`agent simulate`)
would be 16 interpreters on two cores; the hub side, which is what is under test, is all real.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import func, select

from demo.processes import Processes, free_port, wait_for_port
from protocols.contract import API_PREFIX, DEVICE_LEASE, DEVICE_SYNC
from protocols.events import new_event_id
from server.schema import audit, events
from server.store import HubStore
from tests.conftest import run_sql

pytestmark = pytest.mark.slow  # real processes and a PostgreSQL cluster

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
VENUE, CAP, GATES, CUT_OFF, PEOPLE = "arena", 60, 16, 4, 24
ENV = {**os.environ, "CHECKPOINT_LOG": "WARNING"}


@dataclass
class Gate:
    """One gate: its credential, the hubs it may reach (its own first), what it admitted and sent."""

    name: str
    secret: str
    hubs: list[str]
    offline: range = range(0)  # the people it meets while cut off from the network
    allowance: int = 0
    outbox: dict[str, dict] = field(default_factory=dict)  # event id -> event, until acknowledged
    made: set[str] = field(default_factory=set)
    admitted: int = 0
    offline_admitted: int = 0
    denied: int = 0
    failovers: int = 0
    served_by: Counter = field(default_factory=Counter)

    def _post(self, route: str, body: dict) -> dict:
        # Any failure of its hub (refused, reset, killed mid-request) sends the gate to the next hub.
        while True:
            hub = self.hubs[0]
            try:
                r = requests.post(f"{hub}{API_PREFIX}{route}", json=body, timeout=10,
                                  headers={"Authorization": f"Bearer {self.secret}"})
                if r.status_code == 200:
                    self.served_by[hub] += 1
                    return r.json()
                assert r.status_code >= 500, r.text  # a 4xx would be the test's own mistake
            except requests.RequestException:
                pass
            self.failovers += 1
            self.hubs.append(self.hubs.pop(0))
            time.sleep(0.05)

    def _unsynced(self) -> int:
        return sum(1 for e in self.outbox.values() if e["decision"] == "admit")

    def _sync(self) -> None:
        batch = list(self.outbox.values())
        answer = self._post(DEVICE_SYNC, {"events": batch})
        for event_id in answer["acked"]:
            self.outbox.pop(event_id, None)

    def run(self) -> None:
        """Meet PEOPLE people: admit while the lease allows, else ask again, else turn them away; sync as it goes."""
        for n in range(PEOPLE):
            online = n not in self.offline
            if self.allowance == 0 and online:
                self.allowance = self._post(DEVICE_LEASE, {"want": 4, "unsynced": self._unsynced()})["grant"]
            admit = self.allowance > 0
            if admit:
                self.allowance -= 1
                self.admitted += 1
                self.offline_admitted += not online
            else:
                self.denied += 1
            event = {"id": new_event_id(), "kind": "decision", "venue": VENUE, "gate": self.name,
                     "at": dt.datetime.now(dt.timezone.utc).isoformat(), "direction": "in",
                     "decision": "admit" if admit else "deny", "colour": "green" if admit else "red",
                     "subject": os.urandom(16).hex()}
            self.outbox[event["id"]] = event
            self.made.add(event["id"])
            if online and n % 3 == 2:
                self._sync()
            time.sleep(0.05)
        while self.outbox:
            self._sync()


def test_three_hubs_on_one_postgresql_never_overfill_and_store_every_event_once_through_a_kill_9(postgres) -> None:
    run_sql(postgres.url(), "CREATE DATABASE three_hubs", autocommit=True)
    db = postgres.url("three_hubs")
    procs = Processes()
    try:
        store = HubStore(db)
        store.migrate()
        store.create_venue(VENUE, {"cap": CAP})
        secrets = []
        for i in range(GATES):
            store.create_gate(VENUE, f"g{i:02d}")
            secrets.append(store.redeem_token(store.create_enroll_token(VENUE, f"g{i:02d}"))[1])
        store.close()
        ports = [free_port() for _ in range(3)]
        for i, port in enumerate(ports):
            procs.start(f"hub{i}", [*CLI, "hub", "serve", "--database", db, "--port", str(port), "--workers", "2"],
                        quiet=True, env=ENV)
        for port in ports:
            wait_for_port(port, 60)
        hubs = [f"http://127.0.0.1:{port}" for port in ports]
        # Spread over the three hubs; the first four are cut off from the 4th to the 15th person they meet.
        gates = [Gate(f"g{i:02d}", secrets[i], hubs[i % 3:] + hubs[:i % 3], range(3, 15) if i < CUT_OFF else range(0))
                 for i in range(GATES)]
        threads = [threading.Thread(target=g.run, name=g.name) for g in gates]
        for t in threads:
            t.start()
        # Once the first hub has served a good share of the syncs, it dies with requests in flight.
        deadline = time.monotonic() + 30
        while sum(g.served_by[hubs[0]] for g in gates) < 25 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(procs.procs["hub0"].pid, signal.SIGKILL)
        procs.procs["hub0"].wait(timeout=10)
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a gate never got its events acknowledged"

        store = HubStore(db)
        made = set().union(*(g.made for g in gates))
        stored = {r[0] for r in store.conn.execute(select(events.c.id).where(events.c.venue == VENUE))}
        # Every event stored, once (the id is the key), nothing the gates did not make.
        assert stored == made and len(made) == GATES * PEOPLE
        admitted = sum(g.admitted for g in gates)
        rows_admitted = store.conn.execute(select(func.count()).select_from(events).where(
            events.c.venue == VENUE, events.c.effect == 1)).scalar()
        occupancy = store.occupancy(VENUE)
        # 0 overshoot: never more admitted than the cap, no admission beyond a lease, the count kept exact.
        assert admitted == rows_admitted == occupancy["inside"] <= CAP, (admitted, rows_admitted, occupancy)
        assert store.conn.execute(select(func.count()).select_from(audit).where(
            audit.c.action == "device.beyond_lease")).scalar() == 0
        # At the cap: six times more people than places came, the cap was lent out in the first round of
        # leases and used (no exits: no place came free later for a lease to strand).
        assert admitted == CAP, admitted
        # The kill did hit gates mid-run (they failed over) and the cut-off gates admitted while offline.
        assert sum(g.failovers for g in gates) > 0
        assert sum(g.offline_admitted for g in gates[:CUT_OFF]) > 0
        assert all(g.served_by[hubs[1]] + g.served_by[hubs[2]] > 0 for g in gates)
        store.close()
    finally:
        procs.stop_all()
        run_sql(postgres.url(), "DROP DATABASE three_hubs WITH (FORCE)", autocommit=True)
