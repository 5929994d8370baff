"""A venue end to end: a real broker, the hub under gunicorn, three gate agents at a small cap.

Every gate is a `checkpoint agent simulate --hub ...` process (two on MQTT with their own broker
logins, one enrolled with a token and syncing over HTTP only). The people are all green, so only
the venue's cap can refuse them: the hub must never count more inside than the cap, the gates
must refuse the rest with GATE-CAP-01, and every event must reach the hub exactly once.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import requests

from agent.store import AgentStore
from server.broker_files import write_broker_files
from server.store import HubStore
from demo.processes import Processes, free_port, start_mosquitto, wait_for_port
from tests.conftest import run_sql

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
VENUE, CAP, PEOPLE = "plant-7", 5, 4
GATES = ["east", "west", "south"]


def prepare_hub(db: str) -> tuple[str, dict[str, tuple[str, str]], str]:
    """The hub's database: an admin, the capped venue, three gates, two devices and one enrollment token."""
    store = HubStore(db)
    store.migrate()
    store.create_user("admin", "admin-password-for-tests", "admin")
    store.create_venue(VENUE, {"name": "七号厂区", "cap": CAP})
    devices = {}
    for gate in GATES:
        store.create_gate(VENUE, gate)
    for gate in GATES[:2]:
        device, secret = store.redeem_token(store.create_enroll_token(VENUE, gate))
        devices[gate] = (device.id, secret)
    token = store.create_enroll_token(VENUE, GATES[2])
    store.close()
    return db, devices, token


def test_three_gates_share_the_cap_and_every_event_reaches_the_hub_once(tmp_path: Path, hub_database: str) -> None:
    db, devices, token = prepare_hub(hub_database)
    files = write_broker_files(HubStore(db), tmp_path / "broker")
    # `user root`: started as root, Mosquitto would drop to a user that cannot read pytest's tmp folder.
    broker = start_mosquitto(tmp_path, "allow_anonymous false\nuser root\n" + files.mosquitto_conf())
    procs = Processes()
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    seen_inside: list[int] = []
    polling = threading.Event()
    try:
        procs.start("hub", [*CLI, "hub", "serve", "--database", db, "--port", str(port), "--mqtt-host", broker.host,
                            "--mqtt-port", str(broker.port), "--mqtt-password-file", str(files.hub_secret_file)],
                    quiet=True)
        wait_for_port(port, 30)
        common = ["--people", str(PEOPLE), "--pace", "0.1", "--kinds", "green", "--sync-interval", "0.3"]
        for i, gate in enumerate(GATES):
            cmd = [*CLI, "agent", "simulate", "--hub", hub_url, "--store", str(tmp_path / gate / "agent.sqlite"),
                   "--seed", str(i + 1), *common]
            env = {**os.environ, "CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_LOG": "WARNING"}
            if gate in devices:
                cmd += ["--venue", VENUE, "--gate", gate, "--device-id", devices[gate][0],
                        "--mqtt-host", broker.host, "--mqtt-port", str(broker.port)]
                env["CHECKPOINT_DEVICE_SECRET"] = devices[gate][1]
            else:
                cmd += ["--enroll-token", token]  # HTTP only: its device was not in the broker's files
            procs.start(gate, cmd, env=env)

        def poll() -> None:
            admin = requests.Session()
            admin.auth = ("admin", "admin-password-for-tests")
            while not polling.is_set():
                answer = admin.get(f"{hub_url}/api/v1/venues/{VENUE}/occupancy", timeout=5)
                assert answer.status_code == 200, answer.text
                seen_inside.append(answer.json()["inside"])
                polling.wait(0.1)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        for gate in GATES:
            assert procs.procs[gate].wait(timeout=60) == 0, "".join(procs.lines[gate])[-2000:]
        polling.set()
        poller.join(timeout=10)
    finally:
        polling.set()
        procs.stop_all()
        broker.stop()

    assert seen_inside and max(seen_inside) <= CAP
    at_hub: dict[str, list[str]] = {}
    for event_id, gate in run_sql(db, "SELECT id, gate FROM events WHERE venue = ?", [VENUE]):
        at_hub.setdefault(gate, []).append(event_id)
    entries, exits = run_sql(db, "SELECT entries, exits FROM occupancy WHERE venue = ?", [VENUE])[0]
    admitted, capped = 0, 0
    for gate in GATES:
        store = AgentStore(tmp_path / gate / "agent.sqlite", b"k" * 32)
        events = store.events()
        assert store.outbox_pending() == [], f"{gate} still has events to send"
        store.close()
        assert len(events) == PEOPLE and all(e.venue == VENUE and e.gate == gate for e in events)
        assert sorted(at_hub.get(gate, [])) == sorted(e.id for e in events), f"{gate}: hub and gate differ"
        admitted += sum(e.decision == "admit" for e in events)
        capped += sum(any(r.rule == "GATE-CAP-01" for r in e.reasons) for e in events)
        # Green people are refused for the cap alone.
        assert all(e.decision == "admit" or [r.rule for r in e.reasons] == ["GATE-CAP-01"] for e in events)
    print(f"admitted {admitted}, capped {capped}, most inside {max(seen_inside)} of {CAP}")
    assert admitted <= CAP and capped >= 1
    assert (entries, exits) == (admitted, 0)
