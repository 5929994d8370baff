"""Anti-passback across a venue's gates, end to end: the hub under gunicorn, two entry gates and an exit gate.

Each gate is built the way `checkpoint agent run` builds it (simulated devices, its own store, its
own device credential and sync client); all share the venue's subject key. A person's code admitted
at gate-1 is refused at gate-2 once gate-2 has synced (the code was passed back to a friend); after
the person leaves by the exit gate and gate-2 has heard it, the same code enters again.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.presentation import passback_since
from agent.simulation import SHOW_CODE_S, Simulation
from protocols.keys import generate_private_key
from server.store import HubStore
from tests.conftest import wait_until
from demo.processes import Processes, free_port, wait_for_port

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
VENUE = "campus-2"
GATES = {"gate-1": "in", "gate-2": "in", "exit-1": "out"}
SUBJECT_KEY = "00112233445566778899aabbccddeeff"  # one key for every gate of the venue: their hashes agree
WINDOW_S = 300
DEDUPE_S = 0.5


def prepare_hub(db: str) -> dict[str, tuple[str, str]]:
    """The venue (no cap), its three gates and one enrolled device each."""
    store = HubStore(db)
    store.migrate()
    store.create_venue(VENUE, {"name": "二号校区"})
    devices = {}
    for gate in GATES:
        store.create_gate(VENUE, gate)
        device, secret = store.redeem_token(store.create_enroll_token(VENUE, gate))  # type: ignore[misc]
        devices[gate] = (device.id, secret)
    store.close()
    return devices


def gate_config(work: Path, gate: str, hub_url: str, device: tuple[str, str], sync_every_s: float = 0.2,
                **sections: dict[str, Any]) -> Any:
    """A gate with simulated devices and fast timings that syncs to the hub every 0.2 s (or sync_every_s); `sections`
    are added to its config."""
    data: dict[str, Any] = {
        "gate": {"venue": VENUE, "gate": gate, "direction": GATES[gate], "open_s": 0.3},
        "store": {"path": str(work / gate / "agent.sqlite")},
        "camera": {"type": "simulated", "fps": 30, "seed": 7},
        "thermometer": {"type": "simulated", "interval_s": 0.05},
        "barrier": {"type": "simulated", "journal": str(work / gate / "relay.jsonl")},
        "speaker": {"type": "recording"},
        "kiosk": {"port": 0, "countdown_s": 0.3, "journal": str(work / gate / "screens.jsonl")},
        "measure": {"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0},
        "presentation": {"dedupe_s": DEDUPE_S, "anti_passback_s": WINDOW_S},
        "sync": {"hub_url": hub_url, "device_id": device[0], "documents_dir": str(work / gate / "documents"),
                 "interval_s": sync_every_s},
        **sections,
    }
    return parse_config(data, {"CHECKPOINT_SUBJECT_KEY": SUBJECT_KEY, "CHECKPOINT_DEVICE_SECRET": device[1]})


def failed(event) -> set[str]:
    return {r.rule for r in event.reasons if r.outcome == "FAIL"}


def test_a_code_admitted_at_one_gate_is_refused_at_another_until_its_holder_left(tmp_path: Path, hub_database: str,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.loop")  # a refused code's log line tells a misread from a wrong code
    db = hub_database
    devices = prepare_hub(db)
    procs = Processes()
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    sims: dict[str, Simulation] = {}
    issuer = generate_private_key("ES256")  # every gate trusts the same issuer, as the hub's trust list says
    try:
        procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port)], quiet=True)
        wait_for_port(port, 30)
        for gate in GATES:
            sims[gate] = Simulation(gate_config(tmp_path, gate, hub_url, devices[gate]), seed=1, issuer_key=issuer)
        for gate in ("gate-1", "gate-2"):  # an unanswered lease admits nobody: wait for the hub's first answer
            wait_until(lambda g=gate: sims[g].gate.sync.lease.known, 15, f"{gate}'s lease")
        gate2 = sims["gate-2"].gate.store

        def inside_for_gate2(subject: str) -> bool:
            return gate2.inside(subject, passback_since(dt.datetime.now(dt.timezone.utc), WINDOW_S))

        person = sims["gate-1"].factory.person("green")
        entered = sims["gate-1"].present(person)
        assert entered is not None and entered.decision == "admit", entered
        wait_until(lambda: inside_for_gate2(entered.subject), 15, "gate-2 to hear of the entry at gate-1")
        shown_at = time.monotonic()
        passed_back = sims["gate-2"].present(person)
        assert passed_back is not None and passed_back.decision == "deny"
        assert failed(passed_back) == {"GATE-APB-01"}, passed_back.reasons
        assert sims["gate-2"].gate.devices.barrier.states() == ["locked"]

        left = sims["exit-1"].present(person)
        assert left is not None and (left.kind, left.decision, left.subject) == ("exit", "admit", entered.subject)
        wait_until(lambda: not inside_for_gate2(entered.subject), 15, "gate-2 to hear of the exit")
        # The person comes back later: the phone held up at gate-2 before is gone and out of its dedupe window.
        time.sleep(max(0.0, shown_at + SHOW_CODE_S + DEDUPE_S + 0.2 - time.monotonic()))
        again = sims["gate-2"].present(person)
        assert again is not None and again.decision == "admit", again.reasons
    finally:
        for sim in sims.values():
            sim.close()
        procs.stop_all()

    # Every gate handed its records to the hub before stopping: two entries, one exit, one refusal.
    hub = HubStore(db)
    occupancy = hub.occupancy(VENUE)
    decisions = sorted((e["gate"], e["decision"]) for e in hub.access_log(venue=VENUE))
    hub.close()
    assert occupancy is not None and (occupancy["entries"], occupancy["exits"], occupancy["inside"]) == (2, 1, 1)
    assert decisions == [("exit-1", "admit"), ("gate-1", "admit"), ("gate-2", "admit"), ("gate-2", "deny")]
