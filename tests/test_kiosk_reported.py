"""The kiosk says a red code is reported only once the hub has confirmed it (issue 12, item 1).

A real hub process and a real simulated gate syncing to it over HTTP: a red code shows "将上报 will be
reported" at once, then "已上报 reported" when the sync answer names the event as alerted. With the hub
gone, the same red code says it will be reported once the hub is reachable, and never "reported".
A green admission says nothing about reporting.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import messages
from agent.simulation import Simulation
from protocols.keys import generate_private_key
from server.store import HubStore
from tests.conftest import wait_until
from tests.test_integration_passback import CLI, gate_config, prepare_hub
from demo.processes import Processes, free_port, wait_for_port

pytestmark = pytest.mark.slow  # a hub process and a gate


def screens(work: Path, gate: str, event_id: str) -> list[dict | None]:
    """The report lines the gate's kiosk showed for one event, in order (from its screen journal)."""
    lines = (work / gate / "screens.jsonl").read_text(encoding="utf-8").splitlines()
    return [s["report"] for s in map(json.loads, lines) if s.get("event_id") == event_id]


def line(text: tuple[str, str]) -> dict[str, str]:
    return {"zh": text[0], "en": text[1]}


@contextlib.contextmanager
def hub_and_gate(work: Path, seed: int, **sync: float) -> Iterator[tuple[str, Processes, Simulation]]:
    """A `hub serve` process and one simulated gate syncing to it, once the hub has answered: (db, procs, sim)."""
    db = str(work / "hub.sqlite")
    devices = prepare_hub(db)
    procs = Processes()
    port = free_port()
    sim = None
    try:
        procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port)], quiet=True)
        wait_for_port(port, 30)
        sim = Simulation(gate_config(work, "gate-1", f"http://127.0.0.1:{port}", devices["gate-1"], **sync), seed=seed,
                         issuer_key=generate_private_key("ES256"))
        wait_until(lambda: sim.gate.sync.lease.known and sim.gate.sync.online, 30, "the hub's first answer")
        yield db, procs, sim
    finally:
        if sim is not None:
            sim.close()
        procs.stop_all()


def test_a_red_code_says_reported_only_after_the_hub_confirmed_and_will_be_reported_while_offline(tmp_path: Path) -> None:
    with hub_and_gate(tmp_path, seed=3) as (db, procs, sim):
        green = sim.present(sim.factory.person("green"))
        assert green is not None and green.decision == "admit"
        red = sim.present(sim.factory.person("red"))
        assert red is not None and red.decision == "deny" and red.colour == "red"
        # The decision is on screen before the hub has it: a promise, not a claim.
        wait_until(lambda: line(messages.REPORTED) in screens(tmp_path, "gate-1", red.id), 15, "the hub's confirmation")
        shown = screens(tmp_path, "gate-1", red.id)
        assert shown[0] == line(messages.WILL_REPORT) and shown[-1] == line(messages.REPORTED)
        assert set(map(json.dumps, screens(tmp_path, "gate-1", green.id))) == {"null"}  # an admission reports nothing
        hub = HubStore(db)
        assert [a["event_id"] for a in hub.alerts("campus-2")] == [red.id]  # what the kiosk said is true
        hub.close()

        procs.stop_all()  # the hub goes away: the gate's next sync finds nobody
        wait_until(lambda: not sim.gate.sync.online, 15, "the gate to notice the hub is gone")
        offline = sim.present(sim.factory.person("red"))
        assert offline is not None and offline.decision == "deny"
        shown = screens(tmp_path, "gate-1", offline.id)
        assert shown and shown[0] == line(messages.WILL_REPORT_OFFLINE)
        assert line(messages.REPORTED) not in shown


def test_a_red_code_is_synced_at_once_not_at_the_next_interval(tmp_path: Path) -> None:
    # A sync a minute: only the urgent wake can bring the red code to the hub within seconds.
    with hub_and_gate(tmp_path, seed=4, sync_every_s=60) as (db, _procs, sim):
        green = sim.present(sim.factory.person("green"))
        red = sim.present(sim.factory.person("red"))
        assert green is not None and red is not None and red.colour == "red"
        hub = HubStore(db)
        try:
            wait_until(lambda: [a["event_id"] for a in hub.alerts("campus-2")] == [red.id], 15, "the red code's alert")
        finally:
            hub.close()
        # The admission before it rode along in the same batch (the outbox goes in order), nothing was skipped.
        wait_until(lambda: sim.gate.store.outbox_depth() == 0, 10, "the hub's acknowledgement of both")
